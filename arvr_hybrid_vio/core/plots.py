"""Evaluation plot: top view of ground truth and aligned estimate, and ATE over time.

matplotlib is imported lazily with the non-interactive Agg backend, so importing
this module costs nothing and works without a display. The PNG is written
atomically.
"""
from __future__ import annotations

from pathlib import Path

from arvr_hybrid_vio.core.atomic import atomic_path
from arvr_hybrid_vio.core.evaluation import EvaluationReport


def plot_evaluation(report: EvaluationReport, path: str | Path, *, title: str = "") -> None:
    """Write a two-panel PNG: x-y top view after alignment, and ATE (m) over time (s)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    top, over_time = figure.subplots(1, 2, width_ratios=(1, 1.4))
    ref_xyz, est_xyz = report.ref_poses[:, :3, 3], report.est_poses[:, :3, 3]
    top.plot(ref_xyz[:, 0], ref_xyz[:, 1], color="0.3", linestyle="--", label="ground truth")
    top.plot(est_xyz[:, 0], est_xyz[:, 1], color="tab:blue", label=f"estimate ({report.alignment.mode})")
    top.scatter(ref_xyz[:1, 0], ref_xyz[:1, 1], color="black", marker="o", zorder=3, label="start")
    top.set(xlabel="x (m)", ylabel="y (m)", title="top view after alignment", aspect="equal")
    top.legend(loc="best", fontsize="small")
    stamps = report.association.ref.stamps_ns
    seconds = (stamps - stamps[0]) * 1e-9
    stats = report.ate.stats
    over_time.plot(seconds, report.ate.errors_m, color="tab:red", linewidth=1.0)
    over_time.axhline(stats.rmse, color="tab:red", linestyle=":", label=f"rmse {stats.rmse:.4f} m")
    over_time.set(xlabel="time since first matched pose (s)", ylabel="ATE (m)", title="absolute trajectory error")
    over_time.legend(loc="best", fontsize="small")
    if title:
        figure.suptitle(title)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
