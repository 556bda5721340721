"""Per-step metrics to JSONL and TensorBoard, per ``data_source``, and curve plots.

Each step writes one JSON line ``{"step": n, "reward/<source>": …, "accuracy/<source>": …,
"response_length/<source>": …, "unscored/<source>": …, "loss": …, …}``: reward, accuracy,
response length (tokens) and unscored fraction over the step's rollouts, and from raas's
per-source summary (merged over the step's requests) V-Triune's source-level monitoring: the
format score, the truncation rate (``truncated_ratio/``: raas-train sends each rollout's
``truncated``), reflection ratios and the share correct among reflecting responses, response
lengths (characters) of correct and incorrect responses, and for perception sources ``iou/``,
``map/``, ``map50/``, the IoU ``threshold/`` in effect, the ``parsed/`` share and, for
detection, matched IoU, precision and recall at IoU 0.5/0.75/0.95/0.99 (``precision50/`` …).
The same scalars go to TensorBoard under ``<output_dir>/tensorboard``. :func:`plot_curves` draws
a reward curve per source and a monitoring figure per source.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from trainer_client.summary import scalars

Scores = list[tuple[str, float | None, float | None, int]]  # source, reward, accuracy, length


def source_metrics(scores: Scores) -> dict[str, float]:
    """Means per source over a step's rollouts: reward and accuracy over scored ones,
    response length (tokens) over all, and the unscored fraction."""
    by_source: dict[str, list[tuple[float | None, float | None, int]]] = defaultdict(list)
    for source, reward, accuracy, length in scores:
        by_source[source].append((reward, accuracy, length))
    out: dict[str, float] = {}
    for source, items in sorted(by_source.items()):
        rewards = [r for r, _, _ in items if r is not None]
        accuracies = [a for _, a, _ in items if a is not None]
        if rewards:
            out[f"reward/{source}"] = sum(rewards) / len(rewards)
        if accuracies:
            out[f"accuracy/{source}"] = sum(accuracies) / len(accuracies)
        out[f"response_length/{source}"] = sum(n for _, _, n in items) / len(items)
        out[f"unscored/{source}"] = 1.0 - len(rewards) / len(items)
    every = [r for _, r, _, _ in scores if r is not None]
    if every:
        out["reward/all"] = sum(every) / len(every)
    return out


_LOCAL = ("reward/", "accuracy/", "unscored/", "response_length/")  # from the rollouts above
# the monitoring figure's panels: ratios in [0, 1]; detection at V-Triune's IoU thresholds;
# response lengths by correctness (characters, from raas's summary)
MONITORED = (
    "format",
    "truncated_ratio",
    "reflection_ratio",
    "correct_ratio_reflecting",
    "correct_ratio_not_reflecting",
    "iou",
    "map",
    "map50",
    "threshold",
    "parsed",
)
AT_IOU = tuple(
    f"{kind}{tag}" for kind in ("precision", "recall") for tag in ("50", "75", "95", "99")
)
LENGTHS = ("response_length_correct", "response_length_incorrect")


def summary_metrics(by_source: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """raas's summary scalars that the rollouts' own metrics do not already give."""
    return {k: v for k, v in scalars(by_source).items() if not k.startswith(_LOCAL)}


class MetricsLog:
    def __init__(self, output_dir: Path, tensorboard: bool = True) -> None:
        output_dir.mkdir(parents=True, exist_ok=True)
        self.path = output_dir / "metrics.jsonl"
        self.path.write_text("")
        self._writer: Any = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(output_dir / "tensorboard"))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            rounded = {name: round(value, 6) for name, value in metrics.items()}
            out.write(json.dumps({"step": step, **rounded}) + "\n")
        if self._writer is not None:
            for name, value in metrics.items():
                self._writer.add_scalar(name, value, step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _sources(records: Iterable[dict[str, Any]]) -> list[str]:
    names = {key.split("/", 1)[1] for r in records for key in r if key.startswith("reward/")}
    return sorted(names)


def plot_curves(log_path: Path, out_dir: Path, smooth: int = 10) -> list[Path]:
    """``reward_curve_<source>.png`` per source (and ``all``): the per-step mean reward and its
    moving average over ``smooth`` steps; ``monitoring_<source>.png`` where raas's summary gave
    more for that source (threshold, IoU, mAP, parsed share, reflection ratio, format)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    logged = {key for record in records for key in record}
    written = []
    for source in _sources(records):
        steps, rewards = series(records, f"reward/{source}")
        figure, axis = plt.subplots(figsize=(6, 3.5))
        axis.plot(steps, rewards, alpha=0.35, label="mean reward")
        axis.plot(steps, moving_average(rewards, smooth), label=f"moving average ({smooth})")
        axis.set(xlabel="GRPO step", ylabel="reward", title=f"raas-train · {source}", ylim=(0, 1))
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right")
        figure.tight_layout()
        path = out_dir / f"reward_curve_{source}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
        groups = (("ratios", MONITORED), ("at IoU τ", AT_IOU), ("length (chars)", LENGTHS))
        panels = [
            (title, shown)
            for title, names in groups
            if (shown := tuple(n for n in names if f"{n}/{source}" in logged))
        ]
        if panels:
            path = out_dir / f"monitoring_{source}.png"
            _monitoring_figure(plt, records, source, panels, smooth).savefig(path, dpi=110)
            plt.close("all")
            written.append(path)
    return written


def _monitoring_figure(
    plt: Any,
    records: list[dict[str, Any]],
    source: str,
    panels: list[tuple[str, tuple[str, ...]]],
    smooth: int,
) -> Any:
    """One panel per group of raas's monitoring values for ``source``, side by side."""
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.5), squeeze=False)
    for axis, (title, names) in zip(axes[0], panels, strict=True):
        for name in names:
            steps, values = series(records, f"{name}/{source}")
            shown = values if name == "threshold" else moving_average(values, smooth)
            dashed = name.startswith("recall") or name.endswith("_incorrect")
            axis.plot(steps, shown, label=name, linestyle="--" if dashed else "-")
        axis.set(xlabel="GRPO step", title=f"raas summary · {source} · {title}")
        if title != "length (chars)":
            axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
        axis.legend(loc="best", fontsize=7)
    figure.tight_layout()
    return figure


def series(records: list[dict[str, Any]], name: str) -> tuple[list[int], list[float]]:
    """The steps that logged ``name``, and its values there."""
    points = [(r["step"], r[name]) for r in records if name in r]
    return [step for step, _ in points], [value for _, value in points]


def moving_average(values: list[float], size: int) -> list[float]:
    """Each value's mean with the ``size − 1`` before it (fewer at the start)."""
    windows = [values[max(0, i - size + 1) : i + 1] for i in range(len(values))]
    return [sum(w) / len(w) for w in windows]
