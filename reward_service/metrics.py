"""Prometheus metrics, all named ``raas_*``, on a registry the app owns (tests pass a fresh one)."""

from __future__ import annotations

import bisect
import contextlib
import functools
import math
import time
from collections import Counter as Tally
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

from reward_service.contract.monitoring import IOU_REPORT, IOU_REPORT_KINDS
from reward_service.routing.summary import SourceColumns

if TYPE_CHECKING:
    from reward_service.contract.task import Outcome, Task
    from reward_service.settings import Settings

OTHER_SOURCE = "__other__"
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])
_REWARD_BUCKETS = tuple(i / 10 for i in range(11))
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_BATCH_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536)
_TOKEN_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576)
_EFFICIENCY_BUCKETS = (0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
_CHAR_BUCKETS = (64, 256, 1024, 4096, 8192, 16384, 32768, 65536)
_LENGTH_BUCKETS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384)


_BOOL = ("true", "false")
_CORRECT = ("true", "false", "unscored")  # unscored: not ok, correctness unknown


def flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass(slots=True)
class Monitored:
    """One batch's values for one source: response lengths, the perception values of its
    ``ok`` samples (``reward_service.routing.summary.perception``), the ``truncated`` flags trainers
    sent, the lengths of ``ok`` responses by correctness (``correct`` label: the source's
    reflection mode's bar) and (reflects, correct) of the responses examined for reflection."""

    chars: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    perception: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    truncated: list[bool] = field(default_factory=list)
    chars_by_correct: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    tokens_by_correct: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    reflection: Tally[tuple[str, str]] = field(default_factory=Tally)


class SourceLabels:
    """``data_source`` → its label value; trainers choose sources, so their number is bounded.

    With an allow-list (``RAAS_METRICS_SOURCES``) the listed sources keep their own label and every
    other is ``__other__``. Without one, ``max_sources`` slots are recycled by recency: a new
    source takes the slot of the one seen longest ago, whose series are then dropped (Prometheus
    sees that source's counters end; ``rate()`` over them stays right). A source that finds every
    slot taken by sources of its own batch is counted as ``__other__``.
    """

    def __init__(self, max_sources: int, allowed: Sequence[str] = ()) -> None:
        self.max_sources, self.allowed = max_sources, frozenset(allowed)
        self._recent: OrderedDict[str, None] = OrderedDict()

    def assign(self, sources: Iterable[str]) -> tuple[dict[str, str], list[str]]:
        """Labels for one batch's sources, and the sources whose slots were recycled."""
        wanted = dict.fromkeys(sources)
        if self.allowed:
            return {s: s if s in self.allowed else OTHER_SOURCE for s in wanted}, []
        labels, evicted = {}, []
        for source in wanted:
            if source in self._recent:
                self._recent.move_to_end(source)
            elif len(self._recent) >= self.max_sources:
                oldest = next(iter(self._recent))
                if oldest in wanted:  # every slot is held by this batch
                    labels[source] = OTHER_SOURCE
                    continue
                del self._recent[oldest]
                evicted.append(oldest)
            self._recent[source] = None
            labels[source] = source
        return labels, evicted


class Metrics:
    """Every metric raas exports. ``data_source`` labels are bounded: trainers choose them."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        max_sources: int = 256,
        sources: Sequence[str] = (),
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.max_sources = max_sources
        self._labels = SourceLabels(max_sources, sources)
        self._series: dict[str, set[tuple[str, str]]] = {}  # label → its (verifier, status)
        r = self.registry
        self.samples = Counter(
            "raas_samples", "Samples scored.", ["data_source", "verifier", "status"], registry=r
        )
        self.reward = Histogram(
            "raas_reward",
            "Rewards of ok samples.",
            ["data_source"],
            buckets=_REWARD_BUCKETS,
            registry=r,
        )
        self.verifier_latency = Histogram(
            "raas_verifier_seconds",
            "Time a verifier spent on one sample (in its pool child or model backend).",
            ["verifier"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.request_latency = Histogram(
            "raas_request_seconds",
            "Wall time of one request.",
            ["endpoint"],
            buckets=_REQUEST_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "raas_batch_samples", "Samples per request.", buckets=_BATCH_BUCKETS, registry=r
        )
        self.deduplicated = Counter(
            "raas_deduplicated_samples",
            "Samples answered by an identical one in their batch.",
            registry=r,
        )
        self.timeouts = Counter(
            "raas_timeouts", "Tasks killed at the deadline.", ["verifier"], registry=r
        )
        self.restarts = Counter(
            "raas_pool_restarts", "Pool children replaced.", ["reason"], registry=r
        )
        self.remote_retries = Counter(
            "raas_remote_retries",
            "Pieces of a batch re-sent to another worker.",
            ["backend"],
            registry=r,
        )
        self.client_disconnects = Counter(
            "raas_client_disconnects",
            "Requests whose client hung up: mid-body (stage=body) or before the answer.",
            ["stage"],
            registry=r,
        )
        self.pool_size = Gauge("raas_pool_size", "Pool children configured.", registry=r)
        self.pool_ready = Gauge("raas_pool_ready", "Pool children alive.", registry=r)
        self.pool_busy = Gauge("raas_pool_busy", "Pool children running a chunk.", registry=r)
        self.pool_queued = Gauge(
            "raas_pool_queued", "Tasks waiting for a pool child, all requests.", registry=r
        )
        self._add_source_metrics(r)
        self._add_model_metrics(r)
        self._add_memory_metrics(r)

    @classmethod
    def for_settings(cls, settings: Settings) -> Metrics:
        return cls(max_sources=settings.metrics_max_sources, sources=settings.metrics_sources)

    def _add_source_metrics(self, r: CollectorRegistry) -> None:
        """Source-level monitoring (V-Triune): response length, and for perception sources the
        IoU, mAP, the IoU threshold in effect and the share of answers that parsed."""
        source = ["data_source"]
        self.response_chars = Histogram(
            "raas_response_chars",
            "Response length in characters.",
            source,
            buckets=_CHAR_BUCKETS,
            registry=r,
        )
        self.response_tokens = Histogram(
            "raas_response_tokens",
            "Response length in tokens (with RAAS_TOKENIZER).",
            source,
            buckets=_LENGTH_BUCKETS,
            registry=r,
        )
        self.perception = {
            name: Histogram(
                f"raas_perception_{name}", text, source, buckets=_REWARD_BUCKETS, registry=r
            )
            for name, text in (
                ("iou", "IoU of ok perception samples (detection: matched IoU per GT box)."),
                ("map", "COCO mAP@[.5:.95] of ok detection samples, where computed."),
                ("map50", "COCO mAP@.5 of ok detection samples, where computed."),
            )
        }
        self.perception_threshold = Gauge(
            "raas_perception_threshold",
            "IoU threshold in effect in the latest batch.",
            source,
            registry=r,
        )
        self.perception_answers = Counter(
            "raas_perception_answers",
            "Perception answers, by whether the verifier could read them.",
            [*source, "parsed"],
            registry=r,
        )
        self.at_iou = Summary(
            "raas_perception_at_iou",
            "Detection, V-Triune's label-first matching at IoU "
            "threshold τ: matched IoU per GT box (kind=iou), precision, recall; per ok sample.",
            [*source, "threshold", "kind"],
            registry=r,
        )
        self.truncated = Counter(
            "raas_truncated",
            "Samples whose trainer said whether it cut them at its maximum length, by that flag.",
            [*source, "truncated"],
            registry=r,
        )
        self.scored_chars = Histogram(
            "raas_scored_response_chars",
            "Response length in characters of ok samples, by "
            "correctness (the source's reflection mode's bar).",
            [*source, "correct"],
            buckets=_CHAR_BUCKETS,
            registry=r,
        )
        self.scored_tokens = Histogram(
            "raas_scored_response_tokens",
            "Response length in tokens of ok samples (with RAAS_TOKENIZER), by correctness.",
            [*source, "correct"],
            buckets=_LENGTH_BUCKETS,
            registry=r,
        )
        self.reflection = Counter(
            "raas_reflection",
            "Responses examined for reflection words (the source's mode), by "
            "whether they reflect and are correct (unscored: not ok).",
            [*source, "reflects", "correct"],
            registry=r,
        )
        self._per_source = [
            self.reward,
            self.response_chars,
            self.response_tokens,
            *self.perception.values(),
            self.perception_threshold,
        ]
        # metrics with labels beyond data_source, and every value those labels take
        self._per_source_labelled: list[tuple[Counter | Histogram | Summary, list[tuple[str, ...]]]]
        self._per_source_labelled = [
            (self.perception_answers, [(v,) for v in _BOOL]),
            (self.at_iou, [(f"{t:g}", k) for t, _ in IOU_REPORT for k in IOU_REPORT_KINDS]),
            (self.truncated, [(v,) for v in _BOOL]),
            (self.scored_chars, [(v,) for v in _BOOL]),
            (self.scored_tokens, [(v,) for v in _BOOL]),
            (self.reflection, [(r, c) for r in _BOOL for c in _CORRECT]),
        ]

    def _add_model_metrics(self, r: CollectorRegistry) -> None:
        """Model workers: queue depth (what GPU autoscaling watches) and how batches are formed."""
        model = ["model"]
        self.model_queue_depth = Gauge(
            "raas_model_queue_depth", "Items waiting in a model's batcher.", model, registry=r
        )
        self.model_rejected = Counter(
            "raas_model_rejected",
            "Items refused because a model's queue was full.",
            model,
            registry=r,
        )
        self.model_loaded = Gauge(
            "raas_model_loaded",
            "1 once a model has loaded; 0 while loading or failed.",
            model,
            registry=r,
        )
        self.model_batch_rows = Histogram(
            "raas_model_batch_rows",
            "Rows per forward pass.",
            model,
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.model_batch_tokens = Histogram(
            "raas_model_batch_padded_tokens",
            "Padded tokens (longest × rows) per forward pass.",
            model,
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.model_padding_efficiency = Histogram(
            "raas_model_padding_efficiency",
            "Real / padded tokens per forward pass.",
            model,
            buckets=_EFFICIENCY_BUCKETS,
            registry=r,
        )
        self.model_forward_seconds = Histogram(
            "raas_model_forward_seconds",
            "Wall time of one forward pass.",
            model,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def _add_memory_metrics(self, r: CollectorRegistry) -> None:
        """The router's memory ceiling (``reward_service.http.memory``)."""
        self.memory_rss = Gauge("raas_memory_rss_bytes", "Resident set size.", registry=r)
        self.memory_ceiling = Gauge(
            "raas_memory_ceiling_bytes", "RSS past which new work is refused (0: off).", registry=r
        )
        self.memory_refused = Counter(
            "raas_memory_refused", "Requests refused (503) above the memory ceiling.", registry=r
        )
        self.memory_collections = Counter(
            "raas_memory_collections",
            "Full garbage collections run because RSS reached the ceiling.",
            registry=r,
        )

    def observe_model_batch(
        self, model: str, rows: int, tokens: int, padded: int, seconds: float
    ) -> None:
        self.model_batch_rows.labels(model).observe(rows)
        self.model_batch_tokens.labels(model).observe(padded)
        self.model_padding_efficiency.labels(model).observe(tokens / padded if padded else 1.0)
        self.model_forward_seconds.labels(model).observe(seconds)

    def source(self, data_source: str) -> str:
        """The label for ``data_source`` (see :class:`SourceLabels`)."""
        return self._assign([data_source])[data_source]

    def _assign(self, sources: Iterable[str]) -> dict[str, str]:
        labels, evicted = self._labels.assign(sources)
        for source in evicted:
            for verifier, status in self._series.pop(source, ()):
                self.samples.remove(source, verifier, status)
            for metric in self._per_source:
                with contextlib.suppress(KeyError):
                    metric.remove(source)
            for labelled, values in self._per_source_labelled:
                for value in values:
                    with contextlib.suppress(KeyError):
                        labelled.remove(source, *value)
        return labels

    def record_samples(
        self, counts: Mapping[tuple[str, str, str], int], rewards: Mapping[str, Sequence[float]]
    ) -> None:
        """Samples per (data_source, verifier, status), and the rewards of ok samples by source
        (a reward that is not a finite number is never recorded)."""
        labels = self._assign([source for source, _, _ in counts])
        for (source, verifier, status), count in counts.items():
            label = labels[source]
            self.samples.labels(label, verifier, status).inc(count)
            self._series.setdefault(label, set()).add((verifier, status))
        for source, values in rewards.items():
            histogram = self.reward.labels(labels.get(source) or self.source(source))
            observe_all(histogram, [value for value in values if math.isfinite(value)])

    def record_sources(self, sources: Mapping[str, SourceColumns]) -> None:
        """A batch's samples by source, from the columns its summary was built from."""
        counts: Tally[tuple[str, str, str]] = Tally()
        for source, columns in sources.items():
            pairs = zip(columns.verifiers, columns.statuses, strict=True)
            for (verifier, status), count in Tally(pairs).items():
                counts[(source, verifier, status)] = count
        self.record_samples(counts, {s: c.rewards for s, c in sources.items() if c.rewards})
        self.record_monitoring({source: monitored(c) for source, c in sources.items()})

    def record_monitoring(self, sources: Mapping[str, Monitored]) -> None:
        """Lengths and perception values per source (labels bounded as for the samples)."""
        labels = self._assign(sources)
        for source, seen in sources.items():
            label = labels[source]
            _observe(self.response_chars, label, seen.chars)
            _observe(self.response_tokens, label, seen.tokens)
            for name, histogram in self.perception.items():
                _observe(histogram, label, seen.perception.get(name, ()))
            if thresholds := seen.perception.get("threshold"):
                self.perception_threshold.labels(label).set(thresholds[-1])
            if parsed := seen.perception.get("parsed"):
                yes = int(sum(parsed))
                self.perception_answers.labels(label, "true").inc(yes)
                self.perception_answers.labels(label, "false").inc(len(parsed) - yes)
            self._record_vtriune(label, seen)

    def _record_vtriune(self, label: str, seen: Monitored) -> None:
        """The rest of V-Triune's curves: IoU/precision/recall at its thresholds, truncation,
        lengths by correctness, reflection by correctness."""
        for tau, tag in IOU_REPORT:
            for kind in IOU_REPORT_KINDS:
                if values := seen.perception.get(f"{kind}{tag}"):
                    observe_all(self.at_iou.labels(label, f"{tau:g}", kind), values)
        if seen.truncated:
            cut = sum(seen.truncated)
            if cut:
                self.truncated.labels(label, "true").inc(cut)
            if len(seen.truncated) > cut:
                self.truncated.labels(label, "false").inc(len(seen.truncated) - cut)
        for histogram, by_correct in (
            (self.scored_chars, seen.chars_by_correct),
            (self.scored_tokens, seen.tokens_by_correct),
        ):
            for right, lengths in by_correct.items():
                observe_all(histogram.labels(label, right), lengths)
        for (reflects, right), count in seen.reflection.items():
            self.reflection.labels(label, reflects, right).inc(count)

    def observe_tasks(self, tasks: Sequence[Task], outcomes: Sequence[Outcome]) -> None:
        """Per unique task: verifier time (where it ran to an answer) and timeouts."""
        seconds: dict[str, list[float]] = {}
        timeouts: Tally[str] = Tally()
        for task, outcome in zip(tasks, outcomes, strict=True):
            if outcome.status in ("ok", "invalid_input"):
                seconds.setdefault(task.verifier, []).append(outcome.seconds)
            elif outcome.status == "timeout":
                timeouts[task.verifier] += 1
        for verifier, values in seconds.items():
            observe_all(self.verifier_latency.labels(verifier), values)
        for verifier, count in timeouts.items():
            self.timeouts.labels(verifier).inc(count)

    def timed(self, endpoint: str) -> Callable[[Handler], Handler]:
        """A decorator for an endpoint's handler: ``raas_request_seconds{endpoint}`` from its call
        to its answer, observed when it answers (a refused request, which raises, is not)."""

        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def timed_handler(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                answer = await handler(*args, **kwargs)
                self.request_latency.labels(endpoint).observe(time.perf_counter() - start)
                return answer

            return cast(Handler, timed_handler)

        return decorate

    def watch_pool(
        self,
        size: int,
        ready: Callable[[], float],
        busy: Callable[[], float],
        queued: Callable[[], float],
    ) -> None:
        self.pool_size.set(size)
        self.pool_ready.set_function(ready)
        self.pool_busy.set_function(busy)
        self.pool_queued.set_function(queued)


def monitored(columns: SourceColumns) -> Monitored:
    """The monitoring values of one source's columns."""
    means = columns.means()
    pairs = Tally(zip(columns.reflecting, columns.right, strict=True))  # counted in C
    reflection = Tally({(flag(r), right): n for (r, right), n in pairs.items() if r is not None})
    return Monitored(
        chars=columns.lengths,
        tokens=means["response_tokens"],
        perception=columns.perception,
        truncated=means["truncated"],
        chars_by_correct=_by_correct(means["length_correct"], means["length_incorrect"]),
        tokens_by_correct=_by_correct(means["tokens_correct"], means["tokens_incorrect"]),
        reflection=reflection,
    )


def _by_correct(right: list[int], wrong: list[int]) -> dict[str, list[int]]:
    return {label: values for label, values in (("true", right), ("false", wrong)) if values}


def _observe(histogram: Histogram, label: str, values: Sequence[float]) -> None:
    """No series for a source until it has a value."""
    if values:
        observe_all(histogram.labels(label), values)


def observe_all(child: Histogram | Summary, values: Iterable[float]) -> None:
    """``child.observe(v)`` for each of ``values``, in one update per bucket: a batch's
    per-sample values otherwise cost the router a lock and a bucket scan each (a third of its
    CPU on cheap verifiers). Reads prometheus_client's histogram and summary internals
    (``_upper_bounds``, ``_buckets``, ``_sum``, ``_count``); where they are not there, one
    ``observe`` per value. The values are sorted and each bound found in them (C-level work: no
    Python call per value). ``tests/test_metrics.py`` holds both ways to the same exposition."""
    values = list(values)
    if not values:
        return
    bounds, buckets = getattr(child, "_upper_bounds", None), getattr(child, "_buckets", None)
    total, count = getattr(child, "_sum", None), getattr(child, "_count", None)
    if bounds is not None and buckets is not None and total is not None:
        ordered = [v for v in values if v == v]  # NaN: in the sum, in no bucket
        ordered.sort()
        below = 0
        for index, bound in enumerate(bounds):  # v goes to the first bound ≥ v, as in observe
            upto = bisect.bisect_right(ordered, bound)
            if upto > below:
                buckets[index].inc(upto - below)
            below = upto
        total.inc(sum(values))
    elif count is not None and total is not None:
        count.inc(len(values))
        total.inc(sum(values))
    else:
        for value in values:
            child.observe(value)
