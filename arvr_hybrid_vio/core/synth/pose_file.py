"""Read the poses that drive a synthetic sequence: TUM text files and EuRoC ground-truth CSV.

TUM: ``timestamp_s tx ty tz qx qy qz qw`` per line, ``#`` comments; the pose is the
camera optical frame (z forward). EuRoC ``state_groundtruth_estimate0/data.csv`` or
``mocap0/data.csv``: ``timestamp_ns, px, py, pz, qw, qx, qy, qz, ...``; the pose is
the IMU/body frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.errors import TrajectoryError


@dataclass(frozen=True)
class PoseSamples:
    """Raw poses of a file."""

    stamps_ns: np.ndarray  # (N,) int64
    positions_xyz: np.ndarray  # (N, 3) m
    quats_wxyz: np.ndarray  # (N, 4)
    frame: str  # "camera_optical" (TUM) or "body" (EuRoC)


def read_pose_file(path: str | Path) -> PoseSamples:
    """TUM (.txt and other) or EuRoC CSV (.csv), chosen by the file suffix.

    Raises:
        TrajectoryError: missing file, unparsable rows, or wrong column count.
    """
    path = Path(path)
    if not path.is_file():
        raise TrajectoryError(f"{path}: trajectory file not found")
    try:
        rows = _read_rows(path)
    except ValueError as exc:
        raise TrajectoryError(f"{path}: cannot parse numbers ({exc})") from exc
    if path.suffix.lower() == ".csv":
        return _euroc_rows(rows, path)
    return _tum_rows(rows, path)


def _read_rows(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.replace(",", " ").split()
        [float(v) for v in tokens]  # raises ValueError on text
        rows.append(tokens)
    return rows


def _table(rows: list[list[str]], min_cols: int, path: Path, fmt: str) -> np.ndarray:
    if not rows:
        raise TrajectoryError(f"{path}: no poses in file")
    short = [i for i, row in enumerate(rows) if len(row) < min_cols]
    if short:
        raise TrajectoryError(f"{path}: row {short[0] + 1} has {len(rows[short[0]])} columns, {fmt} needs {min_cols}")
    return np.array([[float(v) for v in row[:min_cols]] for row in rows], dtype=np.float64)


def _tum_rows(rows: list[list[str]], path: Path) -> PoseSamples:
    table = _table(rows, 8, path, "TUM (t tx ty tz qx qy qz qw)")
    stamps = np.round(table[:, 0] * 1e9).astype(np.int64)
    quats = table[:, [7, 4, 5, 6]]
    return PoseSamples(stamps, table[:, 1:4], quats, "camera_optical")


def _euroc_rows(rows: list[list[str]], path: Path) -> PoseSamples:
    table = _table(rows, 8, path, "EuRoC CSV (t_ns px py pz qw qx qy qz)")
    stamps = np.array([int(float(row[0])) if not row[0].isdigit() else int(row[0]) for row in rows], dtype=np.int64)
    return PoseSamples(stamps, table[:, 1:4], table[:, 4:8], "body")
