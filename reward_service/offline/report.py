"""Reports: ``report.md`` with PNG plots beside it, and the numbers as ``report.json``.

``raas report`` reads any ``raas score`` output in one streamed pass and shows, per
``data_source`` and verifier: rows, status counts, mean reward and response length (characters),
the reward distribution (20 bins over [0, 1], ``ok`` rows), and response length against reward
(a fixed-seed sample of 5,000 rows: the plot, not the means, is sampled). With ``--group-by`` it
adds the pass-rate histogram of the prompts (as ``raas filter difficulty`` counts them).
``raas filter`` writes what each rule removed per source the same way (``filter.json``), with
the pass-rate histogram in difficulty mode. Plots are drawn by matplotlib's Agg backend.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reward_service.contract.schemas import STATUSES
from reward_service.offline.groups import gather as gather_groups
from reward_service.offline.groups import pass_rates
from reward_service.offline.tables import Row, read_batches

BINS = 20
SAMPLED_POINTS = 5000


@dataclass
class Cell:
    """One (data_source, verifier)."""

    rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    reward_sum: float = 0.0
    length_sum: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * BINS)

    def add(self, status: str, reward: float | None, length: int) -> None:
        self.rows += 1
        self.statuses[status] += 1
        self.length_sum += length
        if reward is not None:
            self.reward_sum += reward
            self.histogram[min(int(reward * BINS), BINS - 1)] += 1

    def row(self) -> dict[str, Any]:
        ok = self.statuses["ok"]
        return {
            "rows": self.rows,
            **{s: self.statuses[s] for s in STATUSES},
            "reward_mean": round(self.reward_sum / ok, 4) if ok else None,
            "length_mean": round(self.length_sum / self.rows, 1) if self.rows else None,
        }


@dataclass
class Gathered:
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    points: list[tuple[str, int, float]] = field(default_factory=list)
    seen: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def sample(self, point: tuple[str, int, float]) -> None:
        """Reservoir sampling: every ok row equally likely to be plotted."""
        self.seen += 1
        if len(self.points) < SAMPLED_POINTS:
            self.points.append(point)
        elif (slot := self.rng.randrange(self.seen)) < SAMPLED_POINTS:
            self.points[slot] = point


def gather(source: Path, response_column: str) -> Gathered:
    found = Gathered()
    for batch in read_batches(source, 0, 2048):
        for row in batch:
            _add(found, row, response_column)
    return found


def _add(found: Gathered, row: Row, response_column: str) -> None:
    data_source = str(row.get("data_source") or "default")
    verifier = str(row.get("raas_verifier") or "(routed)")
    response = row.get(response_column)
    length = len(response) if isinstance(response, str) else 0
    reward = row.get("raas_reward")
    status = str(row.get("raas_status") or "missing")
    found.cells.setdefault((data_source, verifier), Cell()).add(status, reward, length)
    if reward is not None:
        found.sample((data_source, length, float(reward)))


# --- plots -----------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_rewards(cells: dict[tuple[str, str], Cell], path: Path) -> None:
    plt = _pyplot()
    keys = sorted(cells)
    columns = min(3, len(keys))
    rows = -(-len(keys) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.6 * rows), squeeze=False)
    edges = [i / BINS for i in range(BINS)]
    for axis, key in zip(axes.flat, keys, strict=False):
        axis.bar(edges, cells[key].histogram, width=1 / BINS, align="edge", color="tab:blue")
        axis.set_title(f"{key[0]} · {key[1]}", fontsize=9)
        axis.set_xlim(0, 1)
    for axis in list(axes.flat)[len(keys) :]:
        axis.set_visible(False)
    figure.supxlabel("reward (ok rows)")
    _save(figure, path)


def plot_statuses(cells: dict[tuple[str, str], Cell], path: Path) -> None:
    plt = _pyplot()
    keys = sorted(cells)
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(keys) + 1.2))
    left = [0] * len(keys)
    labels = [f"{s} · {v}" for s, v in keys]
    for status in STATUSES:
        counts = [cells[key].statuses[status] for key in keys]
        axis.barh(labels, counts, left=left, label=status)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    axis.invert_yaxis()
    axis.set_xlabel("rows")
    axis.legend(fontsize=8, ncol=len(STATUSES), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    _save(figure, path)


def plot_length(points: list[tuple[str, int, float]], path: Path) -> None:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    for source in sorted({p[0] for p in points}):
        mine = [p for p in points if p[0] == source]
        axis.scatter([p[1] for p in mine], [p[2] for p in mine], s=6, alpha=0.4, label=source)
    axis.set_xlabel("response length (characters)")
    axis.set_ylabel("reward")
    axis.legend(fontsize=8, markerscale=2)
    _save(figure, path)


def plot_pass_rates(rates: dict[str, list[float]], path: Path) -> None:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 3.6))
    edges = [i / BINS for i in range(BINS + 1)]
    axis.hist([rates[s] for s in sorted(rates)], bins=edges, label=sorted(rates), stacked=True)
    axis.set_xlabel("pass rate per prompt")
    axis.set_ylabel("prompts")
    axis.legend(fontsize=8)
    _save(figure, path)


def plot_removed(table: list[dict[str, Any]], reasons: list[str], path: Path) -> None:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(table) + 1.2))
    labels = [entry["data_source"] for entry in table]
    left = [0] * len(table)
    for reason in [*reasons, "kept"]:
        counts = [entry[reason] for entry in table]
        axis.barh(labels, counts, left=left, label=reason)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    axis.invert_yaxis()
    axis.legend(fontsize=7, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    _save(figure, path)


def _save(figure: Any, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    _pyplot().close(figure)


# --- Markdown --------------------------------------------------------------------------------


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)\n"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else str(value)


def pass_rate_rows(rates: dict[str, list[float]]) -> list[dict[str, Any]]:
    return [
        {
            "data_source": source,
            "prompts": len(values),
            "mean pass rate": round(sum(values) / len(values), 3),
            "never solved": sum(v == 0 for v in values),
            "always solved": sum(v == 1 for v in values),
            "in between": sum(0 < v < 1 for v in values),
        }
        for source, values in sorted(rates.items())
    ]


def write_report(
    source: Path, folder: Path, group_by: str | None, response_column: str = "response"
) -> Path:
    found = gather(source, response_column)
    folder.mkdir(parents=True, exist_ok=True)
    table = [{"data_source": s, "verifier": v, **found.cells[s, v].row()} for s, v in found.cells]
    table.sort(key=lambda entry: (entry["data_source"], entry["verifier"]))
    plot_statuses(found.cells, folder / "statuses.png")
    plot_rewards(found.cells, folder / "rewards.png")
    plot_length(found.points, folder / "length_vs_reward.png")
    parts = [
        f"# raas report: `{source.name}`\n",
        f"{sum(c.rows for c in found.cells.values()):,} rows.\n",
        "## Per source and verifier\n",
        markdown_table(table),
        "![status counts](statuses.png)\n",
        "## Reward distribution (ok rows)\n",
        "![rewards](rewards.png)\n",
        "## Response length against reward\n",
        "![length against reward](length_vs_reward.png)\n",
    ]
    numbers: dict[str, Any] = {"by_source_and_verifier": table}
    if group_by:
        rates = pass_rates(gather_groups(source, group_by))
        plot_pass_rates(rates, folder / "pass_rate.png")
        parts += [
            "## Pass rate per prompt\n",
            markdown_table(pass_rate_rows(rates)),
            "![pass rates](pass_rate.png)\n",
        ]
        numbers["pass_rates"] = pass_rate_rows(rates)
    (folder / "report.json").write_text(json.dumps(numbers, indent=2) + "\n")
    path = folder / "report.md"
    path.write_text("\n".join(parts))
    return path


def write_filter_report(
    folder: Path, mode: str, table: list[dict[str, Any]], rates: dict[str, list[float]] | None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    counted = [key for key in (table[0] if table else {}) if key != "data_source"]
    reasons = [key for key in counted if key not in ("rows", "prompts", "rollouts", "kept")]
    totals = {key: sum(entry[key] for entry in table) for key in counted}
    plot_removed(table, reasons, folder / "removed.png")
    parts = [
        f"# raas filter {mode}\n",
        "What each rule removed, per source:\n",
        markdown_table([*table, {"data_source": "**all**", **totals}]),
        "![removed per source](removed.png)\n",
    ]
    if rates is not None:
        plot_pass_rates(rates, folder / "pass_rate.png")
        parts += [
            "## Pass rate per prompt\n",
            markdown_table(pass_rate_rows(rates)),
            "![pass rates](pass_rate.png)\n",
        ]
    numbers = {
        "mode": mode,
        "by_source": table,
        "total": totals,
        "pass_rates": pass_rate_rows(rates) if rates is not None else None,
    }
    (folder / "filter.json").write_text(json.dumps(numbers, indent=2) + "\n")
    path = folder / "report.md"
    path.write_text("\n".join(parts))
    return path
