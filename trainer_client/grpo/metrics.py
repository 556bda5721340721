"""Per-step metrics to JSONL and TensorBoard, per ``data_source``, and curve plots.

Each step writes one JSON line ``{"step": n, "reward/<source>": …, "accuracy/<source>": …,
"response_length/<source>": …, "unscored/<source>": …, "loss": …, …}``: reward, accuracy,
response length (tokens) and unscored fraction over the step's rollouts, and from raas's
per-source summary (merged over the step's requests) the format score, reflection ratios and,
for perception sources, ``iou/``, ``map/``, ``map50/``, the IoU ``threshold/`` in effect and the
``parsed/`` share. The same scalars go to TensorBoard under ``<output_dir>/tensorboard``.
:func:`plot_curves` draws a reward curve per source and a monitoring panel per source.
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
MONITORED = ("format", "reflection_ratio", "iou", "map", "map50", "threshold", "parsed")


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
        monitored = [name for name in MONITORED if f"{name}/{source}" in logged]
        if monitored:
            figure, axis = plt.subplots(figsize=(6, 3.5))
            for name in monitored:
                steps, values = series(records, f"{name}/{source}")
                shown = values if name == "threshold" else moving_average(values, smooth)
                axis.plot(steps, shown, label=name)
            axis.set(xlabel="GRPO step", title=f"raas summary · {source}", ylim=(0, 1.02))
            axis.grid(alpha=0.3)
            axis.legend(loc="lower right", fontsize=8)
            figure.tight_layout()
            path = out_dir / f"monitoring_{source}.png"
            figure.savefig(path, dpi=110)
            plt.close(figure)
            written.append(path)
    return written


def series(records: list[dict[str, Any]], name: str) -> tuple[list[int], list[float]]:
    """The steps that logged ``name``, and its values there."""
    points = [(r["step"], r[name]) for r in records if name in r]
    return [step for step, _ in points], [value for _, value in points]


def moving_average(values: list[float], size: int) -> list[float]:
    """Each value's mean with the ``size − 1`` before it (fewer at the start)."""
    windows = [values[max(0, i - size + 1) : i + 1] for i in range(len(values))]
    return [sum(w) / len(w) for w in windows]
