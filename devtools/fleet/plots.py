"""The fleet model's plots (``bench/fleet_model.py`` writes them beside its JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_all(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_pods(plt, result["pods_for_jobs"], out / "pods_for_jobs.png")
    plot_policies(plt, result["policies"], out / "policies.png")
    plot_reaction(plt, result["reaction"], out / "reaction.png")
    plot_windows(plt, result["scale_down_windows"], out / "scale_down.png")
    plot_targets(plt, result["queue_targets"], out / "queue_target.png")


def plot_pods(plt: Any, rows: list[dict[str, Any]], path: Path) -> None:
    """Waiting share and overhead GPU-hours against fixed model pods, per number of jobs."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for jobs in sorted({r["jobs"] for r in rows}):
        for overlap, style in ((False, "-o"), (True, "--x")):
            mine = [r for r in rows if r["jobs"] == jobs and r["overlap"] == overlap]
            pods = [r["pods"] for r in mine]
            label = f"{jobs} job{'s' if jobs > 1 else ''}{', overlap' if overlap else ''}"
            ax1.plot(pods, [100 * r["wait_share_mean"] for r in mine], style, label=label, ms=3)
            ax2.plot(pods, [r["overhead_gpu_hours_per_step"] for r in mine], style, ms=3)
    ax1.set(
        xlabel="model-worker pods (GPUs), fixed",
        ylabel="training time waiting for rewards, %",
        yscale="log",
        title="reward wait vs model pods",
    )
    ax2.set(
        xlabel="model-worker pods (GPUs), fixed",
        ylabel="GPU-hours per job step: idle trainers + reward GPUs",
        yscale="log",
        title="what the wait and the pods cost",
    )
    ax1.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_policies(plt: Any, rows: list[dict[str, Any]], path: Path) -> None:
    """The policy comparison for 10 jobs: waiting share and GPU pod-hours per policy."""
    labels = list(dict.fromkeys(r["label"] for r in rows))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.4
    for k, (overlap, name) in enumerate(((False, "after rollout"), (True, "overlapped"))):
        mine = {r["label"]: r for r in rows if r["overlap"] == overlap}
        xs = [i + (k - 0.5) * width for i in range(len(labels))]
        ax1.barh(xs, [100 * mine[lb]["wait_share_mean"] for lb in labels], width, label=name)
        ax2.barh(xs, [mine[lb]["gpu_pod_hours"] / mine[lb]["hours"] for lb in labels], width)
    ax1.set_yticks(range(len(labels)), labels, fontsize=7)
    ax2.set_yticks(range(len(labels)), [""] * len(labels))
    ax1.set(
        xlabel="training time waiting for rewards, % (mean of 10 jobs)",
        title="10 jobs × 96 GPUs: policies",
    )
    ax2.set(xlabel="reward-model GPUs in use, mean", title="GPU cost")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_reaction(plt: Any, rows: list[dict[str, Any]], path: Path) -> None:
    """Waiting share against a model pod's cold start, per scale-up window and minimum."""
    minima = sorted({r["min_replicas"] for r in rows})
    fig, axes = plt.subplots(1, len(minima), figsize=(5.5 * len(minima), 4), sharey=True)
    for ax, minimum in zip(axes, minima, strict=True):
        for up in sorted({r["scale_up_window_s"] for r in rows}):
            mine = [
                r for r in rows if r["min_replicas"] == minimum and r["scale_up_window_s"] == up
            ]
            ax.plot(
                [r["cold_start_s"] for r in mine],
                [100 * r["wait_share_mean"] for r in mine],
                "-o",
                ms=3,
                label=f"scale-up window {up:.0f} s",
            )
        ax.set(xlabel="model pod cold start, s", title=f"HPA on queue depth, min {minimum}")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("training time waiting for rewards, %")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_windows(plt: Any, rows: list[dict[str, Any]], path: Path) -> None:
    """Waiting share and reward GPUs in use against the scale-down window, per job count."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for jobs in sorted({r["jobs"] for r in rows}):
        mine = [r for r in rows if r["jobs"] == jobs]
        downs = [r["scale_down_window_s"] for r in mine]
        label = f"{jobs} job{'s' if jobs > 1 else ''}"
        ax1.plot(downs, [100 * r["wait_share_mean"] for r in mine], "-o", ms=3, label=label)
        ax2.plot(downs, [r["gpu_pod_hours"] / r["hours"] for r in mine], "-o", ms=3, label=label)
    ax1.set(
        xlabel="scale-down stabilisation window, s",
        ylabel="training time waiting, %",
        title="cold model pods at each burst",
    )
    ax2.set(
        xlabel="scale-down stabilisation window, s",
        ylabel="reward-model GPUs in use, mean",
        title="what holding them costs",
    )
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_targets(plt: Any, rows: list[dict[str, Any]], path: Path) -> None:
    """Waiting share and reward GPUs in use against the HPA's queue-depth target."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for overlap, label in ((False, "after rollout"), (True, "overlapped")):
        mine = [r for r in rows if r["overlap"] == overlap]
        xs = [r["target"] for r in mine]
        ax1.plot(xs, [100 * r["wait_share_mean"] for r in mine], "-o", ms=3, label=label)
        ax2.plot(xs, [r["gpu_pod_hours"] / r["hours"] for r in mine], "-o", ms=3, label=label)
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("queue-depth target, samples waiting per pod")
    ax1.set(ylabel="training time waiting, %", title="10 jobs: HPA on queue depth")
    ax2.set(ylabel="reward-model GPUs in use, mean", title="GPU cost")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
