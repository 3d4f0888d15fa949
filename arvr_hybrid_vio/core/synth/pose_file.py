"""Read the poses that drive a synthetic sequence, through the evaluation's trajectory readers.

TUM files hold the camera optical frame (z forward); EuRoC ground truth
(``state_groundtruth_estimate0`` / ``mocap0`` CSV) holds the IMU/body frame. KITTI
files have no stamps and cannot drive a timed sequence.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.trajectory_files import detect_format, read_trajectory_file

_FRAME_OF_FORMAT = {"tum": "camera_optical", "euroc": "body"}


@dataclass(frozen=True)
class PoseSamples:
    """Poses of a file and the frame they describe."""

    stamps_ns: np.ndarray  # (N,) int64
    positions_xyz: np.ndarray  # (N, 3) m
    quats_wxyz: np.ndarray  # (N, 4)
    frame: str  # "camera_optical" (TUM) or "body" (EuRoC)


def read_pose_file(path: str | Path) -> PoseSamples:
    """TUM or EuRoC CSV, told apart by content; a pose that repeats the previous stamp is dropped.

    Raises:
        TrajectoryError: missing or malformed file, or a KITTI file (no stamps).
    """
    path = Path(path)
    if not path.is_file():
        raise TrajectoryError(f"{path}: trajectory file not found")
    fmt = detect_format(path)
    if fmt not in _FRAME_OF_FORMAT:
        raise TrajectoryError(f"{path}: {fmt.upper()} files carry no stamps; use a TUM or EuRoC ground-truth file")
    trajectory = read_trajectory_file(path, fmt=fmt, drop_repeated_stamps=True)  # a logging artefact here
    return PoseSamples(trajectory.stamps_ns, trajectory.positions_xyz, trajectory.quats_wxyz, _FRAME_OF_FORMAT[fmt])
