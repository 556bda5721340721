"""Per-step metrics to JSONL and TensorBoard, per ``data_source``, and reward-curve plots.

Each step writes one JSON line ``{"step": n, "reward/<source>": …, "accuracy/<source>": …,
"response_length/<source>": …, "unscored/<source>": …, "loss": …, …}``; the same scalars go to
TensorBoard under ``<output_dir>/tensorboard``. :func:`plot_curves` draws one PNG per source.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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
    moving average over ``smooth`` steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    written = []
    for source in _sources(records):
        steps = [r["step"] for r in records if f"reward/{source}" in r]
        rewards = [r[f"reward/{source}"] for r in records if f"reward/{source}" in r]
        figure, axis = plt.subplots(figsize=(6, 3.5))
        axis.plot(steps, rewards, alpha=0.35, label="mean reward")
        window = [rewards[max(0, i - smooth + 1) : i + 1] for i in range(len(rewards))]
        axis.plot(steps, [sum(w) / len(w) for w in window], label=f"moving average ({smooth})")
        axis.set(xlabel="GRPO step", ylabel="reward", title=f"raas-train · {source}", ylim=(0, 1))
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right")
        figure.tight_layout()
        path = out_dir / f"reward_curve_{source}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written
