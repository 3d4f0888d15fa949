"""Associate two trajectories by timestamp, with the same rule as evo's ``associate_trajectories``.

The rule (evo ``core/sync.py``, nearest-time method): iterate over the trajectory
with FEWER poses (the estimate when both have as many); for each of its stamps t
skip it if t lies outside ``[s_0 - max_diff, s_last + max_diff]`` of the longer
trajectory's stamps s, else take the nearer of the two neighbours of t in s
(the upper one only if strictly nearer) when its distance is ``<= max_diff``.
A long-trajectory pose may be matched more than once. Here stamps are int64 ns,
so the comparison is exact; it is vectorised with ``searchsorted``.

Trajectories without stamps (KITTI, ``indexed``) are associated by index and must
have the same number of poses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arvr_hybrid_vio.core.errors import EvaluationError
from arvr_hybrid_vio.core.trajectory import Trajectory

DEFAULT_MAX_DIFF_NS = 10_000_000  # 0.01 s, evo's default


@dataclass(frozen=True)
class Association:
    """Matched pose pairs of a reference and an estimate.

    Attributes:
        ref_indices: index into the reference of each pair. Shape: (M,).
        est_indices: index into the estimate of each pair. Shape: (M,).
        ref: the reference reduced to the pairs (same order).
        est: the estimate reduced to the pairs (same order).
    """

    ref_indices: np.ndarray
    est_indices: np.ndarray
    ref: Trajectory
    est: Trajectory

    def __len__(self) -> int:
        return int(self.ref_indices.shape[0])


def matching_indices(stamps_short: np.ndarray, stamps_long: np.ndarray,
                     max_diff_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into short, into long) of nearest-stamp matches within ``max_diff_ns``.

    ``stamps_long`` must be sorted. Shape: (S,), (L,) -> (M,), (M,).
    """
    short = np.asarray(stamps_short, dtype=np.int64)
    long = np.asarray(stamps_long, dtype=np.int64)
    if short.size == 0 or long.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    in_range = (short >= long[0] - max_diff_ns) & (short <= long[-1] + max_diff_ns)
    upper = np.minimum(np.searchsorted(long, short, side="right"), long.size - 1)
    diff_upper = long[upper] - short  # may be negative when clamped to the last pose
    has_lower = upper > 0
    lower = np.where(has_lower, upper - 1, 0)
    diff_lower = np.where(has_lower, short - long[lower], np.iinfo(np.int64).max)
    take_upper = (diff_upper <= max_diff_ns) & (diff_upper < diff_lower)
    take_lower = ~take_upper & (diff_lower <= max_diff_ns) & (diff_lower <= diff_upper)
    keep = in_range & (take_upper | take_lower)
    best = np.where(take_upper, upper, lower)
    return np.flatnonzero(keep).astype(np.int64), best[keep].astype(np.int64)


def associate(ref: Trajectory, est: Trajectory, *, max_diff_ns: int = DEFAULT_MAX_DIFF_NS) -> Association:
    """Pair reference and estimate poses by nearest stamp (or by index for KITTI).

    Raises:
        EvaluationError: no pose pairs (stamps do not overlap), or indexed trajectories of different lengths.
    """
    if ref.indexed or est.indexed:
        return _associate_by_index(ref, est)
    est_longer = len(est) > len(ref)
    short, long = (ref, est) if est_longer else (est, ref)
    short_ids, long_ids = matching_indices(short.stamps_ns, long.stamps_ns, int(max_diff_ns))
    if short_ids.size == 0:
        raise EvaluationError(
            f"no matching stamps between {ref.source} ({_span(ref)}) and {est.source} ({_span(est)}) "
            f"within {max_diff_ns * 1e-9:g} s: the stamps do not overlap")
    ref_ids, est_ids = (short_ids, long_ids) if est_longer else (long_ids, short_ids)
    return Association(ref_ids, est_ids, _take(ref, ref_ids), _take(est, est_ids))


def _associate_by_index(ref: Trajectory, est: Trajectory) -> Association:
    if len(ref) != len(est):
        raise EvaluationError(
            f"{ref.source} ({len(ref)} poses) and {est.source} ({len(est)} poses): a trajectory without "
            "stamps (KITTI) is associated by index, so both need the same number of poses")
    ids = np.arange(len(ref), dtype=np.int64)
    return Association(ids, ids, ref, est)


def _take(trajectory: Trajectory, ids: np.ndarray) -> Trajectory:
    """Poses at ``ids`` (non-decreasing).

    evo may match one pose of the longer trajectory to two neighbouring poses of the
    shorter one; the pose is kept twice and the k-th repeat's stamp is moved by k ns
    so that the reduced trajectory's stamps stay strictly increasing.
    """
    if ids.size > 1 and np.any(np.diff(ids) <= 0):
        stamps = trajectory.stamps_ns[ids] + _repeat_offsets(ids)
        return Trajectory(stamps, trajectory.positions_xyz[ids], trajectory.quats_wxyz[ids],
                          source=trajectory.source, indexed=trajectory.indexed)
    return trajectory.subset(ids)


def _repeat_offsets(ids: np.ndarray) -> np.ndarray:
    """0 for a first occurrence, k for the k-th repeat of the same (non-decreasing) id. Shape: (M,) -> (M,)."""
    positions = np.arange(ids.size, dtype=np.int64)
    is_new = np.concatenate([[True], ids[1:] != ids[:-1]])
    first = np.maximum.accumulate(np.where(is_new, positions, 0))
    return positions - first


def _span(trajectory: Trajectory) -> str:
    if len(trajectory) == 0:
        return "no poses"
    return f"{trajectory.stamps_s[0]:.3f}..{trajectory.stamps_s[-1]:.3f} s"
