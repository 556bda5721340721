"""``bt``: batched scores equal an unbatched transformers forward pass; the reward mapping."""

from __future__ import annotations

import math
import random
from functools import cache
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, PreTrainedModel

from reward_service.contract.errors import InvalidInputError
from reward_service.models.base import Item
from reward_service.models.bt import BTScorer
from tests.models.conftest import Tiny
from tests.models.helpers import reward, rm_task, sentence, spec

TOLERANCE = 1e-5


@cache
def reference_model(path: Path) -> PreTrainedModel:
    """An independent copy of the model, used the plain transformers way."""
    return AutoModelForSequenceClassification.from_pretrained(path).eval()


def reference(path: Path, ids: list[int]) -> float:
    """The score of one unpadded sequence: no batch, no mask, no position ids."""
    with torch.inference_mode():
        return float(reference_model(path)(input_ids=torch.tensor([ids])).logits[0, 0])


def compositions(items: list[Item], seed: int) -> list[list[Item]]:
    """Whole batch, reversed, shortest with longest, singletons and random chunks."""
    by_length = sorted(items, key=lambda i: i.tokens)
    rng = random.Random(seed)
    shuffled = items[:]
    rng.shuffle(shuffled)
    chunks = [shuffled[i : i + 3] for i in range(0, len(shuffled), 3)]
    return [items, items[::-1], [by_length[0], by_length[-1]], *[[i] for i in items[:3]], *chunks]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_scores_equal_the_unbatched_reference(tiny: Tiny, arch: str, side: str) -> None:
    path = getattr(tiny, arch)
    scorer = BTScorer.load(spec(arch, path, padding_side=side))
    tasks = [rm_task(arch, sentence(n, n), prompt=sentence(n % 5 + 1)) for n in (1, 2, 7, 15, 40)]
    items = [scorer.prepare(task) for task in tasks]
    expected = {id(item): reference(path, item.data) for item in items}
    for batch in compositions(items, seed=len(arch)):
        got = scorer.forward(batch)
        for item, score in zip(batch, got, strict=True):
            assert score == pytest.approx(expected[id(item)], abs=TOLERANCE), (side, item.tokens)


def test_scores_differ_between_responses(tiny: Tiny) -> None:
    """Guards the exactness test against a model whose scores are all alike."""
    scorer = BTScorer.load(spec("m", tiny.llama))
    scores = scorer.forward([scorer.prepare(rm_task("m", sentence(n))) for n in (1, 5, 9)])
    assert len({round(s, 4) for s in scores}) == 3


class TestFormatting:
    def test_the_chat_template_frames_prompt_and_response(self, tiny: Tiny) -> None:
        scorer = BTScorer.load(spec("m", tiny.llama))
        item = scorer.prepare(rm_task("m", "the answer is four .", prompt="what is two ?"))
        text = scorer.tokenizer.decode(item.data)
        assert text == "<s> user : what is two ? </s> <s> assistant : the answer is four . </s>"

    def test_without_a_prompt_only_the_reply_is_scored(self, tiny: Tiny) -> None:
        scorer = BTScorer.load(spec("m", tiny.llama))
        item = scorer.prepare(rm_task("m", "four", prompt=None))
        assert scorer.tokenizer.decode(item.data) == "<s> assistant : four </s>"

    def test_without_a_chat_template_prompt_and_response_are_joined(self, tiny: Tiny) -> None:
        scorer = BTScorer.load(spec("m", tiny.plain))
        item = scorer.prepare(rm_task("m", "the answer is four .", prompt="what is two ?"))
        assert scorer.tokenizer.decode(item.data) == "what is two ? the answer is four ."

    def test_more_tokens_than_the_model_accepts_is_invalid_input(self, tiny: Tiny) -> None:
        scorer = BTScorer.load(spec("m", tiny.llama, max_input_tokens=12))
        scorer.prepare(rm_task("m", sentence(2), prompt="a"))
        with pytest.raises(InvalidInputError, match="at most 12"):
            scorer.prepare(rm_task("m", sentence(20), prompt="a"))


class TestReward:
    @pytest.mark.parametrize(
        ("raw", "spec_bias", "param_bias", "expected"),
        [
            (0.0, 0.0, None, 0.5),  # score at the bias → 0.5
            (2.0, 0.0, None, 1 / (1 + math.exp(-2.0))),
            (2.0, 2.0, None, 0.5),  # the model's configured bias
            (2.0, 2.0, 3.0, 1 / (1 + math.exp(1.0))),  # a sample's bias wins
            (1000.0, 0.0, None, 1.0),  # no overflow
            (-1000.0, 0.0, None, 0.0),
        ],
    )
    def test_sigmoid_of_score_minus_bias(
        self, tiny: Tiny, raw: float, spec_bias: float, param_bias: float | None, expected: float
    ) -> None:
        scorer = BTScorer.load(spec("m", tiny.llama, bias=spec_bias))
        score = reward(scorer, rm_task("m", "x", bias=param_bias), raw)
        assert score.accuracy == pytest.approx(expected, abs=1e-12)
        assert score.details["score"] == raw

    def test_a_non_finite_score_is_an_error(self, tiny: Tiny) -> None:
        scorer = BTScorer.load(spec("m", tiny.llama))
        with pytest.raises(ValueError, match="non-finite"):
            reward(scorer, rm_task("m", "x"), math.nan)


def test_a_model_with_more_than_one_label_is_refused(tiny: Tiny) -> None:
    with pytest.raises(ValueError, match="num_labels=1"):
        BTScorer.load(spec("m", tiny.two_labels))
