"""Trajectory text files: TUM, EuRoC ground-truth CSV and KITTI, with format detection.

Formats:
    * TUM: ``t x y z qx qy qz qw`` (t in s), whitespace-separated, ``#`` comments.
    * EuRoC CSV: ``t_ns, px, py, pz, qw, qx, qy, qz, ...`` (extra columns such as
      velocity and biases are ignored), ``#`` header.
    * KITTI: 12 numbers a line, the row-major 3x4 matrix ``[R | t]``; no stamps, so
      poses get stamps ``index`` seconds and ``indexed=True`` (association by index).

Every reader names the file and the line of a malformed row. Writers are atomic.
Stamps in seconds are parsed as decimals, so ``1305031102.160407`` becomes exactly
``1305031102160407000`` ns.

A file is read and split into lines once, format detection included.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.atomic import write_text_atomic
from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
from arvr_hybrid_vio.core.trajectory import Trajectory, first_non_increasing, first_of_repeated_stamps

FORMATS = ("tum", "euroc", "kitti")
_NS_PER_S = 1_000_000_000


def detect_format(path: str | Path) -> str:
    """``tum``, ``euroc`` or ``kitti`` from the first data line of a text file.

    Raises:
        TrajectoryError: unreadable file, no data line, or an unknown column layout.
    """
    return _format_of(path, _data_lines(path))


def _format_of(path: str | Path, rows: list[tuple[int, str]]) -> str:
    """``detect_format`` of a file's data lines (``_data_lines``)."""
    if not rows:
        raise TrajectoryError(f"{path}: no trajectory data (only comments or empty lines)")
    line_number, text = rows[0]
    if "," in text:
        return "euroc"
    columns = len(text.split())
    if columns == 8:
        return "tum"
    if columns == 12:
        return "kitti"
    raise TrajectoryError(
        f"{path}:{line_number}: cannot tell the format from {columns} columns "
        "(expected 8 for TUM, 12 for KITTI, or comma-separated EuRoC)")


def read_trajectory_file(path: str | Path, *, fmt: str = "auto", drop_repeated_stamps: bool = False) -> Trajectory:
    """Read a TUM, EuRoC or KITTI file; ``fmt="auto"`` detects the format by content.

    ``drop_repeated_stamps`` keeps the first of poses that repeat the previous stamp (motion-capture
    logs written with few decimals have them) instead of refusing the file, as evaluation must.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise TrajectoryError(f"{path}: unknown trajectory format '{fmt}' (use auto, {', '.join(FORMATS)})")
    rows = _data_lines(path)
    fmt = _format_of(path, rows) if fmt == "auto" else fmt
    if fmt == "kitti":
        return _kitti(path, rows)  # no stamps to repeat
    read = _tum if fmt == "tum" else _euroc
    return read(path, rows, drop_repeated_stamps=drop_repeated_stamps)


def read_tum(path: str | Path, *, drop_repeated_stamps: bool = False) -> Trajectory:
    """Read ``t x y z qx qy qz qw`` lines (t in seconds)."""
    return _tum(path, _data_lines(path), drop_repeated_stamps=drop_repeated_stamps)


def read_euroc(path: str | Path, *, drop_repeated_stamps: bool = False) -> Trajectory:
    """Read EuRoC CSV rows ``t_ns, px, py, pz, qw, qx, qy, qz[, ...]``."""
    return _euroc(path, _data_lines(path), drop_repeated_stamps=drop_repeated_stamps)


def read_kitti(path: str | Path) -> Trajectory:
    """Read KITTI 3x4 pose rows; pose k gets stamp k seconds and ``indexed=True``."""
    return _kitti(path, _data_lines(path))


def _tum(path: str | Path, rows: list[tuple[int, str]], *, drop_repeated_stamps: bool) -> Trajectory:
    lines, fields = _split_rows(path, rows, delimiter=None, min_columns=8, max_columns=8, fmt="TUM")
    stamps = _stamps_from_seconds(path, lines, [row[0] for row in fields])
    values = _floats(path, lines, [row[1:] for row in fields])
    quats_wxyz = values[:, [6, 3, 4, 5]]
    return _build(path, lines, stamps, values[:, 0:3], quats_wxyz, drop_repeated_stamps=drop_repeated_stamps)


def _euroc(path: str | Path, rows: list[tuple[int, str]], *, drop_repeated_stamps: bool) -> Trajectory:
    lines, fields = _split_rows(path, rows, delimiter=",", min_columns=8, max_columns=None, fmt="EuRoC CSV")
    stamps = _stamps_from_integers(path, lines, [row[0] for row in fields])
    values = _floats(path, lines, [row[1:8] for row in fields])
    return _build(path, lines, stamps, values[:, 0:3], values[:, 3:7], drop_repeated_stamps=drop_repeated_stamps)


def _kitti(path: str | Path, rows: list[tuple[int, str]]) -> Trajectory:
    lines, fields = _split_rows(path, rows, delimiter=None, min_columns=12, max_columns=12, fmt="KITTI")
    values = _floats(path, lines, fields)
    poses = np.zeros((len(values), 4, 4))
    poses[:, :3, :4] = values.reshape(-1, 3, 4)  # row-major [R | t]
    poses[:, 3, 3] = 1.0
    _check_finite_rows(path, lines, values)
    stamps = np.arange(len(values), dtype=np.int64) * _NS_PER_S
    return Trajectory.from_poses_se3(stamps, poses, source=str(path), indexed=True)


def write_tum(trajectory: Trajectory, path: str | Path) -> None:
    """Write ``t x y z qx qy qz qw`` lines with exact ns stamps, atomically."""
    lines = ["# timestamp tx ty tz qx qy qz qw"]
    for stamp, position, quat in zip(trajectory.stamps_ns, trajectory.positions_xyz, trajectory.quats_wxyz):
        numbers = [*position, quat[1], quat[2], quat[3], quat[0]]
        lines.append(" ".join([_ns_to_seconds_text(int(stamp))] + [repr(float(v)) for v in numbers]))
    write_text_atomic(path, "\n".join(lines) + "\n")


def write_euroc(trajectory: Trajectory, path: str | Path) -> None:
    """Write EuRoC CSV rows ``t_ns,px,py,pz,qw,qx,qy,qz``, atomically."""
    lines = ["#timestamp [ns],p_RS_R_x [m],p_RS_R_y [m],p_RS_R_z [m],q_RS_w [],q_RS_x [],q_RS_y [],q_RS_z []"]
    for stamp, position, quat in zip(trajectory.stamps_ns, trajectory.positions_xyz, trajectory.quats_wxyz):
        lines.append(",".join([str(int(stamp))] + [repr(float(v)) for v in (*position, *quat)]))
    write_text_atomic(path, "\n".join(lines) + "\n")


def write_kitti(trajectory: Trajectory, path: str | Path) -> None:
    """Write KITTI 3x4 pose rows (stamps are dropped), atomically."""
    rotations = quat_wxyz_to_matrix(trajectory.quats_wxyz)
    matrices = np.concatenate([rotations, trajectory.positions_xyz[:, :, None]], axis=2)  # (N, 3, 4)
    lines = [" ".join(repr(float(v)) for v in matrix.reshape(12)) for matrix in matrices]
    write_text_atomic(path, "\n".join(lines) + "\n")


def _data_lines(path: str | Path) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of every non-empty, non-comment line."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError as exc:
        raise TrajectoryError(f"{path}: no such trajectory file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TrajectoryError(f"{path}: cannot read trajectory file ({exc})") from exc
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            rows.append((number, stripped))
    return rows


def _split_rows(path: str | Path, rows: list[tuple[int, str]], *, delimiter: str | None, min_columns: int,
                max_columns: int | None, fmt: str) -> tuple[list[int], list[list[str]]]:
    """Line numbers and column strings of each data row (``_data_lines``), with column counts checked."""
    if not rows:
        raise TrajectoryError(f"{path}: no trajectory data (only comments or empty lines)")
    if delimiter is None:  # whitespace: split() leaves no blanks around the columns
        fields = [text.split() for _, text in rows]
    else:
        fields = [[c.strip() for c in text.split(delimiter)] for _, text in rows]
    counts = set(map(len, fields))
    if min(counts) < min_columns or (max_columns is not None and max(counts) > max_columns):
        for (number, _), columns in zip(rows, fields):  # name the first bad row
            if len(columns) < min_columns or (max_columns is not None and len(columns) > max_columns):
                wanted = f"{min_columns}" if max_columns == min_columns else f"at least {min_columns}"
                raise TrajectoryError(f"{path}:{number}: expected {wanted} columns for {fmt}, got {len(columns)}")
    return [number for number, _ in rows], fields


def _floats(path: str | Path, lines: list[int], fields: list[list[str]]) -> np.ndarray:
    """Rows of number strings as a float64 array; names the first bad line."""
    try:
        return np.array(fields, dtype=np.float64)
    except ValueError:
        for number, row in zip(lines, fields):
            try:
                [float(v) for v in row]
            except ValueError as exc:
                raise TrajectoryError(f"{path}:{number}: not a number ({exc})") from None
        raise


def _stamps_from_seconds(path: str | Path, lines: list[int], texts: list[str]) -> np.ndarray:
    stamps = np.empty(len(texts), dtype=np.int64)
    for k, (number, text) in enumerate(zip(lines, texts)):
        try:
            stamps[k] = int((Decimal(text) * _NS_PER_S).to_integral_value())
        except (InvalidOperation, ValueError, OverflowError):
            raise TrajectoryError(f"{path}:{number}: stamp '{text}' is not a finite number of seconds") from None
    return stamps


def _stamps_from_integers(path: str | Path, lines: list[int], texts: list[str]) -> np.ndarray:
    stamps = np.empty(len(texts), dtype=np.int64)
    for k, (number, text) in enumerate(zip(lines, texts)):
        try:
            stamps[k] = int(text)
        except (ValueError, OverflowError):
            raise TrajectoryError(f"{path}:{number}: stamp '{text}' is not an integer number of ns") from None
    return stamps


def _check_finite_rows(path: str | Path, lines: list[int], values: np.ndarray) -> None:
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        bad = int(np.argmax(~finite))
        raise TrajectoryError(f"{path}:{lines[bad]}: NaN or infinite value in pose row")


def _check_increasing(path: str | Path, lines: list[int], stamps: np.ndarray) -> None:
    bad = first_non_increasing(stamps)
    if bad is not None:
        raise TrajectoryError(
            f"{path}:{lines[bad]}: stamps are not strictly increasing "
            f"(line {lines[bad - 1]} has {stamps[bad - 1]} ns, line {lines[bad]} has {stamps[bad]} ns)")


def _build(path: str | Path, lines: list[int], stamps: np.ndarray, positions: np.ndarray,
           quats_wxyz: np.ndarray, *, drop_repeated_stamps: bool = False) -> Trajectory:
    _check_finite_rows(path, lines, np.concatenate([positions, quats_wxyz], axis=1))
    if drop_repeated_stamps:
        kept = first_of_repeated_stamps(stamps, source=str(path))
        lines = [line for line, keep in zip(lines, kept) if keep]
        stamps, positions, quats_wxyz = stamps[kept], positions[kept], quats_wxyz[kept]
    _check_increasing(path, lines, stamps)
    return Trajectory(stamps, positions, quats_wxyz, source=str(path))


def _ns_to_seconds_text(stamp_ns: int) -> str:
    sign = "-" if stamp_ns < 0 else ""
    seconds, nanoseconds = divmod(abs(stamp_ns), _NS_PER_S)
    return f"{sign}{seconds}.{nanoseconds:09d}"
