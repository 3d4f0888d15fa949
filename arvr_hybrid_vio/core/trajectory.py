"""A timestamped 3D trajectory: int64 ns stamps, positions and wxyz quaternions.

``Trajectory`` validates itself on construction (shapes, finite values, strictly
increasing stamps, non-zero quaternions) and names its ``source`` (a file, a bag
topic) in every error, so a user knows which input was wrong. Quaternions are
normalised on construction. File readers and writers live in
``arvr_hybrid_vio.core.trajectory_files``; ``read_tum``/``write_tum`` here are
the agreed entry points and forward to it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz, quat_wxyz_to_matrix, se3_from_pose

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trajectory:
    """Poses ``T_world_body`` at increasing stamps.

    Shape:
        stamps_ns (N,) int64, positions_xyz (N, 3) float64, quats_wxyz (N, 4) float64.

    Attributes:
        stamps_ns: pose stamps in ns, strictly increasing.
        positions_xyz: body origin in the world frame (m).
        quats_wxyz: body orientation in the world frame (Hamilton, scalar first, unit norm).
        source: where the poses came from (file path, ``bag:topic``), used in error messages.
        indexed: True when the source has no stamps (KITTI); stamps are then pose indices (s).
    """

    stamps_ns: np.ndarray
    positions_xyz: np.ndarray
    quats_wxyz: np.ndarray
    source: str = field(default="trajectory", compare=False)
    indexed: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        stamps = np.asarray(self.stamps_ns)
        positions = np.asarray(self.positions_xyz, dtype=np.float64)
        quats = np.asarray(self.quats_wxyz, dtype=np.float64)
        _check_shapes(stamps, positions, quats, self.source)
        _check_finite(positions, quats, self.source)
        _check_monotonic(stamps, self.source)
        norms = np.linalg.norm(quats, axis=1)
        if np.any(norms < 1e-12):
            bad = int(np.argmax(norms < 1e-12))
            raise TrajectoryError(f"{self.source}: pose {bad} has a zero quaternion")
        object.__setattr__(self, "stamps_ns", stamps.astype(np.int64, copy=False))
        object.__setattr__(self, "positions_xyz", positions)
        object.__setattr__(self, "quats_wxyz", quats / norms[:, None])

    def __len__(self) -> int:
        return int(self.stamps_ns.shape[0])

    @property
    def stamps_s(self) -> np.ndarray:
        """Stamps in seconds (float64, for display and messages). Shape: (N,)."""
        return self.stamps_ns.astype(np.float64) * 1e-9

    def rotations(self) -> np.ndarray:
        """Rotation matrices ``R_world_body``. Shape: (N, 3, 3)."""
        return quat_wxyz_to_matrix(self.quats_wxyz)

    def poses_se3(self) -> np.ndarray:
        """Homogeneous transforms ``T_world_body``. Shape: (N, 4, 4)."""
        return se3_from_pose(self.positions_xyz, self.quats_wxyz)

    def subset(self, indices: np.ndarray) -> Trajectory:
        """Poses at ``indices`` (must keep stamps increasing)."""
        return Trajectory(self.stamps_ns[indices], self.positions_xyz[indices], self.quats_wxyz[indices],
                          source=self.source, indexed=self.indexed)

    def path_length(self) -> float:
        """Sum of distances between consecutive positions (m)."""
        steps = np.diff(self.positions_xyz, axis=0)
        return float(np.sum(np.linalg.norm(steps, axis=1)))

    @classmethod
    def from_poses_se3(cls, stamps_ns: np.ndarray, poses: np.ndarray, *, source: str = "trajectory",
                       indexed: bool = False) -> Trajectory:
        """Build from (N, 4, 4) rigid transforms."""
        poses = np.asarray(poses, dtype=np.float64)
        if poses.ndim != 3 or poses.shape[1:] != (4, 4):
            raise TrajectoryError(f"{source}: expected (N, 4, 4) poses, got shape {poses.shape}")
        return cls(np.asarray(stamps_ns), poses[:, :3, 3], matrix_to_quat_wxyz(poses[:, :3, :3]),
                   source=source, indexed=indexed)


def trajectory_from_samples(stamps_ns: list[int] | np.ndarray, positions_xyz: list | np.ndarray,
                            quats_wxyz: list | np.ndarray, *, source: str) -> Trajectory:
    """A Trajectory from poses in arrival order (bag or live topic); repeated stamps keep the first pose.

    Shape: (N,), (N, 3), (N, 4) -> Trajectory.

    Raises:
        TrajectoryError: no poses, decreasing stamps, NaN values (naming ``source``).
    """
    stamps = np.asarray(stamps_ns, dtype=np.int64).reshape(-1)
    positions = np.asarray(positions_xyz, dtype=np.float64).reshape(-1, 3)
    quats = np.asarray(quats_wxyz, dtype=np.float64).reshape(-1, 4)
    if stamps.size == 0:
        raise TrajectoryError(f"{source}: no poses")
    kept = first_of_repeated_stamps(stamps, source=source)
    return Trajectory(stamps[kept], positions[kept], quats[kept], source=source)


def first_of_repeated_stamps(stamps_ns: np.ndarray, *, source: str) -> np.ndarray:
    """Which poses to keep when some repeat the previous pose's stamp: the first of each run (a
    logging artefact of motion-capture files and bags); the count dropped is logged as a warning.

    Shape: (N,) int64 -> (N,) bool.
    """
    repeated = np.concatenate([[False], np.diff(np.asarray(stamps_ns)) == 0])
    if repeated.any():
        _LOG.warning("%s: dropping %d pose(s) that repeat the previous stamp", source, int(repeated.sum()))
    return ~repeated


def _check_shapes(stamps: np.ndarray, positions: np.ndarray, quats: np.ndarray, source: str) -> None:
    if stamps.ndim != 1 or not np.issubdtype(stamps.dtype, np.integer):
        raise TrajectoryError(
            f"{source}: stamps_ns must be a 1-D integer (ns) array, got {stamps.dtype} {stamps.shape}")
    count = stamps.shape[0]
    if positions.shape != (count, 3):
        raise TrajectoryError(f"{source}: positions_xyz must have shape ({count}, 3), got {positions.shape}")
    if quats.shape != (count, 4):
        raise TrajectoryError(f"{source}: quats_wxyz must have shape ({count}, 4), got {quats.shape}")


def _check_finite(positions: np.ndarray, quats: np.ndarray, source: str) -> None:
    finite = np.isfinite(positions).all(axis=1) & np.isfinite(quats).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise TrajectoryError(f"{source}: {bad.size} pose(s) with NaN/inf values, first at pose {int(bad[0])}")


def first_non_increasing(stamps: np.ndarray) -> int | None:
    """Index of the first stamp not after its predecessor, or None if strictly increasing."""
    not_after = np.diff(stamps) <= 0
    return int(np.argmax(not_after)) + 1 if not_after.any() else None


def _check_monotonic(stamps: np.ndarray, source: str) -> None:
    bad = first_non_increasing(stamps)
    if bad is not None:
        raise TrajectoryError(
            f"{source}: stamps are not strictly increasing at pose {bad} "
            f"({int(stamps[bad - 1])} ns then {int(stamps[bad])} ns)")


def read_tum(path: str | Path) -> Trajectory:
    """Read a TUM file (``t x y z qx qy qz qw``); see ``trajectory_files.read_tum``."""
    from arvr_hybrid_vio.core.trajectory_files import read_tum as _read_tum
    return _read_tum(path)


def write_tum(trajectory: Trajectory, path: str | Path) -> None:
    """Write a TUM file atomically; see ``trajectory_files.write_tum``."""
    from arvr_hybrid_vio.core.trajectory_files import write_tum as _write_tum
    _write_tum(trajectory, path)
