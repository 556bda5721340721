"""A small GRPO trainer whose rewards come from raas, overlapped with the rollout.

One step: for each of B prompts, sample G completions and — in ``overlap`` mode — hand the group
to :meth:`RewardClient.submit` at once, which scores it on the client's worker threads while the
next group is generated here; by the time the last group is generated the earlier rewards are
back, so the step waits only for the last group's round trip. Then dynamic sampling: groups
whose rollouts are all right or all wrong (accuracy, not the combined reward) are dropped and
more prompts rolled out — overlapped the same way — for up to ``max_refill_rounds`` rounds until
``prompts_per_step`` groups have signal (:mod:`.refill`); group-normalised advantages, and
``updates_per_step`` optimizer steps of the token-mean clip-higher loss (:mod:`.loss`), each
accumulated over micro-batches. Metrics per ``data_source`` go to JSONL and TensorBoard.

A vision-language policy (:mod:`.vision`) is loaded with its processor; its rows' images are
rendered into the prompt, sampled with (``prompts_per_generate`` prompts a call), sent to raas
as data URIs, and given again to the forward that recomputes log-probabilities.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
    PreTrainedModel,
)

from trainer_client.client import RewardClient, ScoredBatch, ScoredSample
from trainer_client.grpo.config import GRPOConfig, iou_threshold
from trainer_client.grpo.data import (
    PromptSampler,
    load_rows,
    prompt_ids,
    prompt_text,
    reward_samples,
)
from trainer_client.grpo.loss import (
    Batch,
    group_advantages,
    has_signal,
    make_batch,
    policy_loss,
    token_logprobs,
)
from trainer_client.grpo.metrics import MetricsLog, plot_curves, source_metrics, summary_metrics
from trainer_client.grpo.optim import make_optimizer, prepare_model, set_learning_rate
from trainer_client.grpo.refill import Collected, collect
from trainer_client.grpo.rollout import Rollout, make_generator
from trainer_client.grpo.vision import (
    ImageInputError,
    ImageInputs,
    Prompt,
    is_vision_model,
    placeholder_ids,
    render,
    row_images,
)
from trainer_client.summary import BySource, merge

logger = logging.getLogger("raas-train")


@dataclass
class Group:
    row: dict[str, Any]
    prompt: str
    rollouts: list[Rollout]
    results: list[ScoredSample] = field(default_factory=list)
    summary: BySource = field(default_factory=dict)  # raas's per-source summary of its scoring
    image_size: list[int] | None = None  # [W, H] of the first image as the policy saw it

    @property
    def rewards(self) -> list[float | None]:
        return [r.reward for r in self.results]

    @property
    def accuracies(self) -> list[float | None]:
        """What dynamic sampling looks at: a format term must not keep an all-wrong group."""
        return [r.components.get("accuracy", r.reward) if r.ok else None for r in self.results]

    @property
    def has_signal(self) -> bool:
        return has_signal(self.accuracies)


def policy_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 on CUDA (half the memory, the tensor cores' precision), float32 on
    CPU (where bfloat16 matmuls are slow on most processors)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def _chunks(items: list[Any], count: int) -> list[list[Any]]:
    """``items`` in ``count`` nearly equal consecutive parts (fewer if there are fewer items)."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    bounds = [i * size + min(i, extra) for i in range(count + 1)]
    return [items[bounds[i] : bounds[i + 1]] for i in range(count)]


def group_counts(collected: Collected[Group]) -> dict[str, float]:
    """``groups/…``; with dynamic sampling generated = kept + no_signal + surplus (groups with
    signal past ``prompts_per_step``)."""
    no_signal = sum(not group.has_signal for group in collected.generated)
    return {
        "groups/generated": float(len(collected.generated)),
        "groups/kept": float(len(collected.kept)),
        "groups/no_signal": float(no_signal),
        "groups/surplus": float(collected.with_signal - len(collected.kept)),
        "groups/refill_rounds": float(collected.refill_rounds),
    }


class GRPOTrainer:
    def __init__(
        self,
        config: GRPOConfig,
        *,
        model: PreTrainedModel | None = None,
        tokenizer: Any = None,
        rows: list[dict[str, Any]] | None = None,
        client: RewardClient | None = None,
        processor: Any = None,
    ) -> None:
        self.config = config
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        torch.manual_seed(config.seed)
        self.rng = random.Random(config.seed)
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu")
            if config.device == "auto"
            else config.device
        )
        dtype = policy_dtype(config.dtype, self.device)
        if model is None and is_vision_model(AutoConfig.from_pretrained(config.model)):
            processor = AutoProcessor.from_pretrained(config.model)
            model = AutoModelForImageTextToText.from_pretrained(config.model, dtype=dtype)
        self.processor = processor  # None: a text-only policy
        self.tokenizer = tokenizer or (
            processor.tokenizer
            if processor is not None
            else AutoTokenizer.from_pretrained(config.model)
        )
        self.model = model or AutoModelForCausalLM.from_pretrained(config.model, dtype=dtype)
        self.model.to(self.device)  # type: ignore[arg-type]
        vision = processor is not None
        self.placeholders = placeholder_ids(self.model.config) if vision else frozenset()
        # the KL reference: a frozen copy; under LoRA the base model itself, adapters switched off
        self.reference = self._frozen_copy() if config.beta > 0 and not config.lora_rank else None
        self.model = prepare_model(self.model, config)  # LoRA, frozen modules, checkpointing
        self.optimizer = make_optimizer(self.model, config)
        self.sampler = PromptSampler(
            rows if rows is not None else load_rows(config.data), config.seed, config.cot_prompts
        )
        self.iou_threshold = iou_threshold(config.vtriune_iou_threshold)
        if not vision and any(row_images(row) for row in self.sampler.rows):
            logger.warning("a text-only policy: the rows' images go to raas, not to the policy")
        self.generator = make_generator(
            config, self.model, self.tokenizer, self.sampler.rows, vision=vision
        )
        reflection = None if config.reflection == "route" else config.reflection
        self.client = (
            client if client is not None else RewardClient(config.reward_url, reflection=reflection)
        )
        self.output_dir = Path(config.output_dir)
        self.log = MetricsLog(self.output_dir, tensorboard=config.tensorboard)
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else self.tokenizer.eos_token_id)

    def _frozen_copy(self) -> PreTrainedModel:
        reference: PreTrainedModel = copy.deepcopy(self.model).eval()
        reference.requires_grad_(False)
        return reference

    # --- the loop -------------------------------------------------------------------------

    def train(self) -> list[dict[str, float]]:
        history = []
        try:
            for step in range(self.config.steps):
                metrics = self.step(step)
                self.log.log(step, metrics)
                history.append(metrics)
                logger.info("step %d: reward %.3f", step, metrics.get("reward/all", float("nan")))
        finally:
            self.log.close()
        plot_curves(self.log.path, self.output_dir)
        if self.config.save_model:
            self.model.save_pretrained(self.output_dir / "final")
            (self.processor or self.tokenizer).save_pretrained(self.output_dir / "final")
        return history

    def step(self, step: int) -> dict[str, float]:
        start = time.perf_counter()
        collected, timings = self.collect(step)
        update_start = time.perf_counter()
        lr = set_learning_rate(self.optimizer, self.config, step)  # the warm-up
        stats = {"lr": lr, **self.update(collected.kept)}
        self.generator.sync_weights(self.model)
        scores = [
            (
                str(g.row.get("data_source") or "default"),
                s.reward,
                s.components.get("accuracy") if s.ok else None,
                len(r.completion_ids),
            )
            for g in collected.generated
            for r, s in zip(g.rollouts, g.results, strict=True)
        ]
        summary = merge(group.summary for group in collected.generated)
        end = time.perf_counter()
        return {
            **source_metrics(scores),
            **summary_metrics(summary),
            **stats,
            **timings,
            **group_counts(collected),
            "time/update": end - update_start,
            "time/step": end - start,
        }

    def collect(self, step: int) -> tuple[Collected[Group], dict[str, float]]:
        """The step's groups: refilled until ``prompts_per_step`` have signal (dynamic
        sampling), else the first round's as they are."""
        timings = {"time/generate": 0.0, "time/reward_wait": 0.0}

        def roll_out(count: int) -> list[Group]:
            groups, spent = self.rollout(self.sampler.take(count), step)
            for key, value in spent.items():
                timings[key] += value
            return groups

        target = self.config.prompts_per_step
        if not self.config.dynamic_sampling:
            return collect(roll_out, target, 0, lambda group: True), timings
        collected = collect(
            roll_out, target, self.config.max_refill_rounds, lambda group: group.has_signal
        )
        if len(collected.kept) < target:
            logger.info(
                "step %d: %d of %d groups with signal after %d refill rounds; updating on those",
                step,
                len(collected.kept),
                target,
                collected.refill_rounds,
            )
        return collected, timings

    # --- rollout and rewards ---------------------------------------------------------------

    def _samples(self, group: Group) -> list[dict[str, Any]]:
        """The rollouts' raas samples, each saying whether ``max_new_tokens`` cut it (raas's
        per-source truncation rate, V-Triune's ``length_clip_ratio``)."""
        texts = [r.text for r in group.rollouts]
        samples = reward_samples(
            group.row, group.prompt, texts, self.iou_threshold, group.image_size
        )
        for sample, rollout in zip(samples, group.rollouts, strict=True):
            sample["truncated"] = rollout.truncated
        return samples

    def _render(self, row: dict[str, Any]) -> Prompt:
        """A row as the policy reads it: through the processor when it has images."""
        if self.processor is not None and row_images(row):
            try:
                return render(row, self.processor)
            except ImageInputError as exc:
                source = row.get("data_source") or "default"
                raise ImageInputError(f"a row of data source {source!r}: {exc}") from None
        text = prompt_text(row, self.tokenizer)
        return Prompt(prompt_ids(row, text, self.tokenizer), text=text)

    def _generate(self, rows: list[dict[str, Any]]) -> list[Group]:
        """One generate call for ``rows``, ``group_size`` rollouts each."""
        prompts = [self._render(row) for row in rows]
        batches = self.generator.generate_batch(prompts, self.config.group_size)
        return [
            Group(row, prompt.text, rollouts, image_size=prompt.image_size)
            for row, prompt, rollouts in zip(rows, prompts, batches, strict=True)
        ]

    def rollout(
        self, rows: list[dict[str, Any]], step: int
    ) -> tuple[list[Group], dict[str, float]]:
        mode, schedule = self.config.reward_mode, {"step": step, "total_steps": self.config.steps}
        start = time.perf_counter()
        groups: list[Group] = []
        pending: list[Future[ScoredBatch]] = []
        size = self.config.prompts_per_generate
        for first in range(0, len(rows), size):
            made = self._generate(rows[first : first + size])
            groups += made
            if mode == "overlap":  # scored on the client's thread while the next group generates
                for group in made:
                    pending.append(self.client.submit(self._samples(group), **schedule))
        generated = time.perf_counter()
        if mode == "overlap":
            for group, future in zip(groups, pending, strict=True):
                scored = future.result()
                group.results, group.summary = scored.results, scored.summary
        elif mode == "after":
            batch = self.client.score_sync(
                [s for g in groups for s in self._samples(g)], **schedule
            )
            for index, group in enumerate(groups):
                size = len(group.rollouts)
                group.results = batch.results[index * size : (index + 1) * size]
            if groups:
                groups[0].summary = batch.summary  # the whole batch's: merged, the same
        else:  # the no-reward floor: random rewards, same update path
            for group in groups:
                group.results = [self._random_result() for _ in group.rollouts]
        waited = time.perf_counter() - generated
        return groups, {"time/generate": generated - start, "time/reward_wait": waited}

    def _random_result(self) -> ScoredSample:
        reward = float(self.rng.random() < 0.5)
        return ScoredSample(reward, "ok", {"accuracy": reward})

    # --- the update ------------------------------------------------------------------------

    def _plan(self, groups: list[Group]) -> list[list[Batch]]:
        """Shuffled (prompt, completion, advantage) sequences → mini-batches of micro-batches."""
        sequences = []
        images: list[ImageInputs | None] = []
        for group in groups:
            advantages = group_advantages(group.rewards, self.config.advantage_eps)
            for rollout, advantage in zip(group.rollouts, advantages, strict=True):
                if advantage is not None and rollout.completion_ids:
                    sequences.append((rollout.prompt_ids, rollout.completion_ids, advantage))
                    images.append(rollout.images)
        order = list(range(len(sequences)))
        self.rng.shuffle(order)  # a permutation: the same draws as shuffling the list itself
        size = self.config.micro_batch_size
        return [
            [self._batch(part[i : i + size], sequences, images) for i in range(0, len(part), size)]
            for part in _chunks(order, self.config.updates_per_step)
            if part
        ]

    def _batch(
        self,
        indices: list[int],
        sequences: list[tuple[list[int], list[int], float]],
        images: list[ImageInputs | None],
    ) -> Batch:
        return make_batch(
            [sequences[i] for i in indices],
            self.pad_id,
            self.device,
            [images[i] for i in indices],
            self.placeholders,
        )

    @torch.no_grad()
    def _fixed_logprobs(
        self, plan: list[list[Batch]], model: torch.nn.Module
    ) -> list[list[torch.Tensor]]:
        return [[token_logprobs(model, batch) for batch in mini] for mini in plan]

    def _reference_logprobs(self, plan: list[list[Batch]]) -> list[list[torch.Tensor]] | None:
        """π_ref for the KL term: the frozen copy, or — LoRA — the policy with its adapters off
        (peft's ``disable_adapter``): the base weights never train, so no copy is needed."""
        if self.config.beta <= 0:
            return None
        if self.reference is not None:
            return self._fixed_logprobs(plan, self.reference)
        with self.model.disable_adapter():  # type: ignore[operator]
            return self._fixed_logprobs(plan, self.model)

    def update(self, groups: list[Group]) -> dict[str, float]:
        plan = self._plan(groups)
        if not plan:
            return {}
        self.model.train()
        # on-policy with one optimizer step: π_old = π (detached), no extra forward needed
        old = self._fixed_logprobs(plan, self.model) if self.config.updates_per_step > 1 else None
        ref = self._reference_logprobs(plan)
        totals = {"loss": 0.0, "clip_tokens": 0.0, "kl_sum": 0.0, "tokens": 0.0, "grad_norm": 0.0}
        for m, mini in enumerate(plan):
            tokens = float(sum(batch.completion_mask.sum() for batch in mini))
            self.optimizer.zero_grad()
            for b, batch in enumerate(mini):
                logp = token_logprobs(self.model, batch)
                old_logp = logp.detach() if old is None else old[m][b]
                loss, stats = policy_loss(
                    logp,
                    old_logp,
                    batch,
                    self.config.eps_low,
                    self.config.eps_high,
                    tokens,
                    self.config.beta,
                    None if ref is None else ref[m][b],
                )
                loss.backward()  # type: ignore[no-untyped-call]
                totals["loss"] += loss.item() / len(plan)
                for key, value in stats.items():
                    totals[key] += value
            norm = torch.nn.utils.clip_grad_norm_(
                self.model.parameters(), self.config.max_grad_norm
            )
            totals["grad_norm"] += float(norm) / len(plan)
            totals["tokens"] += tokens
            self.optimizer.step()
        out = {
            "loss": totals["loss"],
            "grad_norm": totals["grad_norm"],
            "tokens": totals["tokens"],
            "sequences": float(sum(len(batch.advantages) for mini in plan for batch in mini)),
            "clip_fraction": totals["clip_tokens"] / max(totals["tokens"], 1.0),
        }
        if ref is not None:
            out["kl"] = totals["kl_sum"] / max(totals["tokens"], 1.0)
        if self.processor is not None:  # V-Triune's spurious image tokens, out of the loss
            masked = sum(batch.placeholders_masked for mini in plan for batch in mini)
            out["image_tokens_masked"] = float(masked)
        return out
