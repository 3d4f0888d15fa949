"""Trajectory error metrics: ATE, RPE, drift per 100 m, and KITTI t_rel / r_rel.

All functions take associated pose arrays (pair k of the reference with pair k of
the estimate) as (N, 4, 4) homogeneous transforms ``T_world_body`` and return a
frozen result object. Definitions:

* ATE (Sturm et al., "A benchmark for the evaluation of RGB-D SLAM systems",
  IROS 2012, eq. 2, translation part): e_k = |t(Q_k) - t(P'_k)| with P' the aligned
  estimate. Statistics as evo's: rmse = sqrt(mean e^2), mean, median, max, min,
  std (population, ddof 0).
* RPE (same paper, eq. 1): E_ij = (Q_i^-1 Q_j)^-1 (P_i^-1 P_j); translation error
  |t(E_ij)| (m), rotation error = angle of R(E_ij) in degrees, taken as the norm
  of the rotation vector of R(E_ij) (scipy, robust near 0 and pi; the angle evo
  1.38 computes with ``so3_log_angle``). Pairs (i, j):
    - unit "f" (frames): i = 0, d, 2d, ... and j the next such index (evo's
      consecutive ``filter_pairs_by_index``);
    - unit "m": start at pose 0, walk along the ESTIMATE positions summing step
      lengths; the first pose where the sum reaches >= d closes a pair and the
      sum restarts there (evo's consecutive ``filter_pairs_by_path``);
    - unit "s": every pose i, with j the first pose whose estimate stamp is
      >= t_i + d (this project's definition; pairs without such j are dropped).
* Drift (m per 100 m): the estimate is moved so that its first pose equals the
  reference's (T = Q_0 P_0^-1), then 100 * |t(Q_N) - t(T P_N)| / L with L the
  reference path length over the associated poses.
* KITTI (Geiger et al., CVPR 2012, odometry devkit ``evaluate_odometry.cpp``):
  from every 10th pose i and for each length l in 100, 200, ..., 800 m, j is the
  first pose whose reference distance along the path exceeds dist_i + l;
  E = (P_i^-1 P_j)^-1 (Q_i^-1 Q_j); t_err = |t(E)| / l,
  r_err = arccos(clip((tr R(E) - 1) / 2, -1, 1)) / l. t_rel = 100 mean(t_err) (%),
  r_rel = 100 mean(r_err) in degrees (deg / 100 m).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arvr_hybrid_vio.core.errors import EvaluationError
from arvr_hybrid_vio.core.geometry import rotation_angle_deg, se3_inverse

RPE_UNITS = ("s", "m", "f")
KITTI_LENGTHS_M = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0)
KITTI_STEP_FRAMES = 10


@dataclass(frozen=True)
class ErrorStats:
    """Summary statistics of an error array (evo's definitions)."""

    rmse: float
    mean: float
    median: float
    max: float
    min: float
    std: float

    @classmethod
    def of(cls, errors: np.ndarray) -> ErrorStats:
        """Statistics of a non-empty 1-D array."""
        errors = np.asarray(errors, dtype=np.float64)
        return cls(rmse=float(np.sqrt(np.mean(errors ** 2))), mean=float(np.mean(errors)),
                   median=float(np.median(errors)), max=float(np.max(errors)), min=float(np.min(errors)),
                   std=float(np.std(errors)))


@dataclass(frozen=True)
class AteResult:
    """Absolute trajectory error (translation part). ``errors_m``: (N,) per associated pose."""

    errors_m: np.ndarray
    stats: ErrorStats


@dataclass(frozen=True)
class RpeResult:
    """Relative pose error over pose pairs.

    Attributes:
        pairs: (P, 2) indices (i, j) into the associated poses.
        trans_errors_m: (P,) translation error of each pair.
        rot_errors_deg: (P,) rotation angle error of each pair.
        trans: statistics of ``trans_errors_m``.
        rot: statistics of ``rot_errors_deg``.
        delta: the pair spacing, in ``unit``.
        unit: "s", "m" or "f".
    """

    pairs: np.ndarray
    trans_errors_m: np.ndarray
    rot_errors_deg: np.ndarray
    trans: ErrorStats
    rot: ErrorStats
    delta: float
    unit: str


@dataclass(frozen=True)
class DriftResult:
    """End-point drift after aligning the first pose."""

    drift_m_per_100m: float | None  # None when the reference path has zero length
    final_error_m: float
    path_length_m: float


@dataclass(frozen=True)
class KittiResult:
    """KITTI odometry relative errors; both None when the path is shorter than 100 m."""

    t_rel_pct: float | None
    r_rel_deg_per_100m: float | None
    segments: int


def ate(ref_poses: np.ndarray, est_poses: np.ndarray) -> AteResult:
    """Translation ATE of aligned estimate poses. Shape: (N, 4, 4), (N, 4, 4) -> errors (N,)."""
    _check_pair_arrays(ref_poses, est_poses)
    errors = np.linalg.norm(est_poses[:, :3, 3] - ref_poses[:, :3, 3], axis=1)
    return AteResult(errors_m=errors, stats=ErrorStats.of(errors))


def rpe(ref_poses: np.ndarray, est_poses: np.ndarray, *, delta: float, unit: str,
        est_stamps_ns: np.ndarray | None = None) -> RpeResult:
    """Relative pose error for pairs ``delta`` apart (see the module docstring for the pair rules).

    Shape: (N, 4, 4), (N, 4, 4), stamps (N,) -> RpeResult with P pairs.

    Raises:
        EvaluationError: a bad unit or delta, missing stamps for unit "s", or no pairs at all.
    """
    _check_pair_arrays(ref_poses, est_poses)
    pairs = rpe_pairs(est_poses, delta=delta, unit=unit, est_stamps_ns=est_stamps_ns)
    if pairs.shape[0] == 0:
        raise EvaluationError(
            f"RPE delta {delta:g} {unit} gives no pose pairs over {len(ref_poses)} matched poses: use a smaller delta")
    first, second = pairs[:, 0], pairs[:, 1]
    ref_rel = se3_inverse(ref_poses[first]) @ ref_poses[second]
    est_rel = se3_inverse(est_poses[first]) @ est_poses[second]
    error = se3_inverse(ref_rel) @ est_rel  # E_ij, (P, 4, 4)
    trans = np.linalg.norm(error[:, :3, 3], axis=1)
    rot = np.abs(rotation_angle_deg(error[:, :3, :3]))
    return RpeResult(pairs=pairs, trans_errors_m=trans, rot_errors_deg=rot, trans=ErrorStats.of(trans),
                     rot=ErrorStats.of(rot), delta=float(delta), unit=unit)


def rpe_pairs(est_poses: np.ndarray, *, delta: float, unit: str, est_stamps_ns: np.ndarray | None = None) -> np.ndarray:
    """Index pairs (i, j) for RPE. Shape: (N, 4, 4) -> (P, 2) int64."""
    if unit not in RPE_UNITS:
        raise EvaluationError(f"unknown RPE unit '{unit}' (use {', '.join(RPE_UNITS)})")
    if not np.isfinite(delta) or delta <= 0:
        raise EvaluationError(f"RPE delta must be a positive number, got {delta}")
    if unit == "f":
        return _pairs_by_frames(len(est_poses), delta)
    if unit == "m":
        return _pairs_by_path(est_poses[:, :3, 3], delta)
    if est_stamps_ns is None:
        raise EvaluationError("RPE with a delta in seconds needs the estimate stamps")
    return _pairs_by_time(np.asarray(est_stamps_ns, dtype=np.int64), delta)


def _pairs_by_frames(count: int, delta: float) -> np.ndarray:
    if float(delta) != int(delta):
        raise EvaluationError(f"RPE delta in frames must be a whole number, got {delta}")
    starts = np.arange(0, count, int(delta), dtype=np.int64)
    return np.stack([starts[:-1], starts[1:]], axis=1)


def _pairs_by_path(positions_xyz: np.ndarray, delta: float) -> np.ndarray:
    """Consecutive pairs at accumulated path length >= delta (sequential sum, as evo)."""
    steps = np.linalg.norm(positions_xyz[1:] - positions_xyz[:-1], axis=1).tolist()
    ids = [0]
    travelled = 0.0
    for k, step in enumerate(steps, start=1):
        travelled += step
        if travelled >= delta:
            ids.append(k)
            travelled = 0.0
    ids_array = np.asarray(ids, dtype=np.int64)
    return np.stack([ids_array[:-1], ids_array[1:]], axis=1)


def _pairs_by_time(stamps_ns: np.ndarray, delta_s: float) -> np.ndarray:
    delta_ns = int(round(delta_s * 1e9))
    ends = np.searchsorted(stamps_ns, stamps_ns + delta_ns, side="left")
    starts = np.arange(stamps_ns.size, dtype=np.int64)
    keep = ends < stamps_ns.size
    return np.stack([starts[keep], ends[keep].astype(np.int64)], axis=1)


def drift(ref_poses: np.ndarray, est_poses: np.ndarray) -> DriftResult:
    """End-point drift per 100 m of reference path, after aligning the first poses (no Umeyama)."""
    _check_pair_arrays(ref_poses, est_poses)
    origin = ref_poses[0] @ se3_inverse(est_poses[0])  # T such that T P_0 = Q_0
    final_est = origin @ est_poses[-1]
    final_error = float(np.linalg.norm(final_est[:3, 3] - ref_poses[-1, :3, 3]))
    length = path_length(ref_poses[:, :3, 3])
    value = 100.0 * final_error / length if length > 0.0 else None
    return DriftResult(drift_m_per_100m=value, final_error_m=final_error, path_length_m=length)


def path_length(positions_xyz: np.ndarray) -> float:
    """Sum of consecutive position distances (m). Shape: (N, 3) -> scalar."""
    return float(np.sum(np.linalg.norm(np.diff(positions_xyz, axis=0), axis=1)))


def kitti_relative_errors(ref_poses: np.ndarray, est_poses: np.ndarray, *,
                          lengths_m: tuple[float, ...] = KITTI_LENGTHS_M,
                          step_frames: int = KITTI_STEP_FRAMES) -> KittiResult:
    """KITTI t_rel (%) and r_rel (deg/100 m) over segments of ``lengths_m``."""
    _check_pair_arrays(ref_poses, est_poses)
    distances = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ref_poses[:, :3, 3], axis=0), axis=1))])
    firsts = np.arange(0, len(ref_poses), step_frames)
    lengths = np.asarray(lengths_m, dtype=np.float64)
    lasts = np.searchsorted(distances, distances[firsts][:, None] + lengths[None, :], side="right")  # (F, L)
    valid = lasts < len(ref_poses)
    if not valid.any():
        return KittiResult(t_rel_pct=None, r_rel_deg_per_100m=None, segments=0)
    first_ids = np.broadcast_to(firsts[:, None], lasts.shape)[valid]
    last_ids, segment_lengths = lasts[valid], np.broadcast_to(lengths[None, :], lasts.shape)[valid]
    ref_rel = se3_inverse(ref_poses[first_ids]) @ ref_poses[last_ids]
    est_rel = se3_inverse(est_poses[first_ids]) @ est_poses[last_ids]
    error = se3_inverse(est_rel) @ ref_rel
    cos_angle = np.clip((np.trace(error[:, :3, :3], axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    t_err = np.linalg.norm(error[:, :3, 3], axis=1) / segment_lengths
    r_err = np.arccos(cos_angle) / segment_lengths
    return KittiResult(t_rel_pct=float(100.0 * t_err.mean()),
                       r_rel_deg_per_100m=float(100.0 * np.degrees(r_err.mean())), segments=int(valid.sum()))


def _check_pair_arrays(ref_poses: np.ndarray, est_poses: np.ndarray) -> None:
    if ref_poses.shape != est_poses.shape or ref_poses.ndim != 3 or ref_poses.shape[1:] != (4, 4):
        raise EvaluationError(
            f"need two (N, 4, 4) pose arrays of one shape, got {ref_poses.shape} and {est_poses.shape}")
    if ref_poses.shape[0] == 0:
        raise EvaluationError("no associated poses to evaluate")
