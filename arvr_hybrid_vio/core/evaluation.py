"""One evaluation of an estimate against ground truth, shared by the CLI and the live node.

``evaluate(gt, est, config)`` associates, aligns and computes ATE, RPE, drift and
KITTI errors; ``EvaluationReport.to_dict()`` gives the flat report keys both
front ends write; ``write_report_json`` writes them atomically, refusing NaN.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from arvr_hybrid_vio.core.alignment import ALIGN_MODES, Alignment, align_trajectory
from arvr_hybrid_vio.core.association import Association, associate
from arvr_hybrid_vio.core.atomic import write_text_atomic
from arvr_hybrid_vio.core.config_io import config_from_mapping, read_parameters
from arvr_hybrid_vio.core.errors import ConfigError, EvaluationError
from arvr_hybrid_vio.core.metrics import (RPE_UNITS, AteResult, DriftResult, KittiResult, RpeResult, ate, drift,
                                          kitti_relative_errors, rpe)
from arvr_hybrid_vio.core.trajectory import Trajectory

MIN_MATCHED_POSES = 3


def _topic(description: str) -> dict[str, object]:
    """Field metadata of an input: a running eval node keeps its subscriptions, so changes need a restart."""
    return {"description": description, "needs_restart": True}

REPORT_KEYS = (
    "ate_rmse_m", "ate_mean_m", "ate_median_m", "ate_max_m", "ate_min_m", "ate_std_m",
    "rpe_trans_rmse_m", "rpe_trans_mean_m", "rpe_rot_rmse_deg", "rpe_rot_mean_deg", "rpe_pairs",
    "rpe_delta", "rpe_unit", "drift_m_per_100m", "path_length_m", "matched_poses", "alignment", "scale",
    "kitti_t_rel_pct", "kitti_r_rel_deg_per_100m",
)


@dataclass(frozen=True)
class EvalConfig:
    """Options of an evaluation (CLI flags and ``eval_node`` parameters, ``config/eval.yaml``)."""

    est_topic: str = field(default="/vio/odometry", metadata=_topic(
        "estimate topic: Odometry, PoseStamped, PoseWithCovarianceStamped or TransformStamped"))  # estimate
    gt_topic: str = field(default="/ground_truth/pose", metadata=_topic(
        "ground-truth topic (same types); unused when both gt frames are set"))  # ground truth
    gt_parent_frame: str = field(default="", metadata=_topic(
        "TF ground truth on /tf + /tf_static: parent frame (e.g. world); empty = use gt_topic"))  # TF parent
    gt_child_frame: str = field(default="", metadata=_topic(
        "TF ground truth: child frame (e.g. base_link); empty = use gt_topic"))  # TF child
    align: str = "se3"  # Umeyama alignment: se3, sim3 or none
    align_first_n: int = 0  # align on the first N matched poses only; 0 = all
    max_time_diff_s: float = 0.01  # largest stamp difference of an associated pose pair (s)
    rpe_delta: float = 1.0  # RPE pair spacing, in rpe_unit
    rpe_unit: str = "s"  # RPE delta unit: s (seconds), m (metres, as evo -u m), f (frames, as evo -u f)
    report_path: str = "eval_report.json"  # node: JSON report written on shutdown and ~/save_report
    plot_path: str = ""  # node: PNG plot path; empty = report_path with .png suffix
    report_period_s: float = 1.0  # node: period of the running ATE/RPE diagnostics (s); 0 = off

    def __post_init__(self) -> None:
        if self.align not in ALIGN_MODES:
            raise ConfigError(f"align: '{self.align}' is not one of {', '.join(ALIGN_MODES)}")
        if self.rpe_unit not in RPE_UNITS:
            raise ConfigError(f"rpe_unit: '{self.rpe_unit}' is not one of {', '.join(RPE_UNITS)}")
        if not math.isfinite(self.rpe_delta) or self.rpe_delta <= 0:
            raise ConfigError(f"rpe_delta: must be a positive number, got {self.rpe_delta}")
        if self.rpe_unit == "f" and float(self.rpe_delta) != int(self.rpe_delta):
            raise ConfigError(f"rpe_delta: must be a whole number of frames, got {self.rpe_delta}")
        if not math.isfinite(self.max_time_diff_s) or self.max_time_diff_s < 0:
            raise ConfigError(f"max_time_diff_s: must be >= 0, got {self.max_time_diff_s}")
        if self.align_first_n < 0:
            raise ConfigError(f"align_first_n: must be >= 0, got {self.align_first_n}")

    @property
    def uses_tf_ground_truth(self) -> bool:
        """True when ground truth is the TF chain gt_parent_frame -> gt_child_frame."""
        return bool(self.gt_parent_frame and self.gt_child_frame)

    def resolved_plot_path(self) -> Path:
        """``plot_path``, or ``report_path`` with a ``.png`` suffix."""
        return Path(self.plot_path) if self.plot_path else Path(self.report_path).with_suffix(".png")


@dataclass(frozen=True)
class EvaluationReport:
    """Everything one evaluation computed (arrays kept for plots)."""

    association: Association
    alignment: Alignment
    ref_poses: np.ndarray  # (M, 4, 4) associated ground truth
    est_poses: np.ndarray  # (M, 4, 4) associated estimate after alignment
    ate: AteResult
    rpe: RpeResult
    drift: DriftResult
    kitti: KittiResult

    def to_dict(self) -> dict[str, Any]:
        """The flat report (keys ``REPORT_KEYS``); None where a value is undefined, never NaN."""
        ate_stats, rpe_trans, rpe_rot = self.ate.stats, self.rpe.trans, self.rpe.rot
        report = {
            "ate_rmse_m": ate_stats.rmse, "ate_mean_m": ate_stats.mean, "ate_median_m": ate_stats.median,
            "ate_max_m": ate_stats.max, "ate_min_m": ate_stats.min, "ate_std_m": ate_stats.std,
            "rpe_trans_rmse_m": rpe_trans.rmse, "rpe_trans_mean_m": rpe_trans.mean,
            "rpe_rot_rmse_deg": rpe_rot.rmse, "rpe_rot_mean_deg": rpe_rot.mean,
            "rpe_pairs": int(self.rpe.pairs.shape[0]), "rpe_delta": self.rpe.delta, "rpe_unit": self.rpe.unit,
            "drift_m_per_100m": self.drift.drift_m_per_100m, "path_length_m": self.drift.path_length_m,
            "matched_poses": len(self.association), "alignment": self.alignment.mode,
            "scale": float(self.alignment.scale),
            "kitti_t_rel_pct": self.kitti.t_rel_pct, "kitti_r_rel_deg_per_100m": self.kitti.r_rel_deg_per_100m,
        }
        _check_finite_report(report)
        return report


def load_eval_config(path: str | Path, *, node_name: str = "eval_node") -> EvalConfig:
    """EvalConfig from a ROS parameter file (``/**`` or ``eval_node`` ``ros__parameters``, top-level keys).

    The node declares the same fields as top-level parameters (``est_topic``, ``align``, ...);
    ROS's own ``use_sim_time`` and ``qos_overrides`` keys are skipped.

    Raises:
        ConfigError: missing file, unknown keys or wrong types.
    """
    values = read_parameters(path, node_name=node_name)
    mine = {key: value for key, value in values.items() if key not in ("use_sim_time", "qos_overrides")}
    return config_from_mapping(EvalConfig, mine, where=f"{path}:{node_name}")


def evaluate(gt: Trajectory, est: Trajectory, config: EvalConfig) -> EvaluationReport:
    """Associate, align and score ``est`` against ``gt``.

    Raises:
        EvaluationError: no overlap, fewer than 3 matched poses, degenerate alignment, no RPE pairs.
    """
    association = associate(gt, est, max_diff_ns=int(round(config.max_time_diff_s * 1e9)))
    if len(association) < MIN_MATCHED_POSES:
        raise EvaluationError(
            f"only {len(association)} matched pose(s) between {gt.source} and {est.source} "
            f"(need at least {MIN_MATCHED_POSES}; max time difference {config.max_time_diff_s:g} s)")
    alignment, est_poses = align_trajectory(association.est, association.ref, mode=config.align,
                                            first_n=config.align_first_n)
    ref_poses = association.ref.poses_se3()
    return EvaluationReport(
        association=association, alignment=alignment, ref_poses=ref_poses, est_poses=est_poses,
        ate=ate(ref_poses, est_poses),
        rpe=rpe(ref_poses, est_poses, delta=config.rpe_delta, unit=config.rpe_unit,
                est_stamps_ns=association.est.stamps_ns),
        drift=drift(ref_poses, association.est.poses_se3()),
        kitti=kitti_relative_errors(ref_poses, est_poses),
    )


def write_report_json(report: dict[str, Any], path: str | Path) -> None:
    """Write a flat report as JSON, atomically.

    Raises:
        EvaluationError: the report holds NaN or infinity.
    """
    _check_finite_report(report)
    write_text_atomic(path, json.dumps(report, indent=2, sort_keys=False, allow_nan=False) + "\n")


def format_report_table(report: dict[str, Any]) -> str:
    """A readable two-column table of a flat report."""
    width = max(len(key) for key in report)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 12}"]
    for key, value in report.items():
        lines.append(f"{key:<{width}}  {_format_value(value)}")
    return "\n".join(lines)


def _format_value(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def _check_finite_report(report: dict[str, Any]) -> None:
    bad = [key for key, value in report.items() if isinstance(value, float) and not math.isfinite(value)]
    if bad:
        raise EvaluationError(f"evaluation produced non-finite values for {bad}; check the input trajectories")
