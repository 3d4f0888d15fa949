"""Trajectory validation and the TUM / EuRoC / KITTI readers and writers."""
from __future__ import annotations

import numpy as np
import pytest
from eval_helpers import FREIBURG_EST, FREIBURG_GT, make_trajectory

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.trajectory import Trajectory, read_tum, trajectory_from_samples, write_tum
from arvr_hybrid_vio.core.trajectory_files import (detect_format, read_euroc, read_kitti, read_trajectory_file,
                                                   write_euroc, write_kitti)


def _arrays(count: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    quats = np.tile([1.0, 0.0, 0.0, 0.0], (count, 1))
    return np.arange(count, dtype=np.int64) * 10, np.zeros((count, 3)), quats


def test_valid_trajectory_normalises_quaternions() -> None:
    stamps, positions, quats = _arrays()
    trajectory = Trajectory(stamps, positions, quats * 2.0, source="x")
    assert trajectory.stamps_ns.dtype == np.int64
    np.testing.assert_allclose(np.linalg.norm(trajectory.quats_wxyz, axis=1), 1.0)
    assert len(trajectory) == 4


@pytest.mark.parametrize("case, pattern", [
    ("nan", "NaN"), ("stamps_back", "not strictly increasing"), ("stamps_repeat", "not strictly increasing"),
    ("positions_shape", r"positions_xyz must have shape \(4, 3\)"), ("quats_shape", r"quats_wxyz must have shape"),
    ("float_stamps", "integer"), ("zero_quat", "zero quaternion"),
])
def test_invalid_trajectory_names_source(case: str, pattern: str) -> None:
    stamps, positions, quats = _arrays()
    if case == "nan":
        positions[2, 1] = np.nan
    elif case == "stamps_back":
        stamps[2] = 5
    elif case == "stamps_repeat":
        stamps[2] = stamps[1]
    elif case == "positions_shape":
        positions = np.zeros((4, 2))
    elif case == "quats_shape":
        quats = np.zeros((3, 4))
    elif case == "float_stamps":
        stamps = stamps.astype(np.float64)
    elif case == "zero_quat":
        quats[1] = 0.0
    with pytest.raises(TrajectoryError, match=pattern) as info:
        Trajectory(stamps, positions, quats, source="my_source.txt")
    assert "my_source.txt" in str(info.value)


def test_samples_drop_repeated_stamps_but_reject_decreasing() -> None:
    stamps, positions, quats = _arrays()
    trajectory = trajectory_from_samples([0, 10, 10, 20], positions, quats, source="topic")
    np.testing.assert_array_equal(trajectory.stamps_ns, [0, 10, 20])
    with pytest.raises(TrajectoryError, match="topic: stamps are not strictly increasing"):
        trajectory_from_samples([0, 10, 5, 20], positions, quats, source="topic")
    with pytest.raises(TrajectoryError, match="no poses"):
        trajectory_from_samples([], np.zeros((0, 3)), np.zeros((0, 4)), source="topic")


def test_read_tum_freiburg_exact_stamps() -> None:
    gt = read_tum(FREIBURG_GT)
    assert len(gt) == 3000
    assert gt.stamps_ns[1] == 1305031098_675800000  # line "1305031098.6758 ..." parsed as a decimal
    est = read_trajectory_file(FREIBURG_EST)
    assert len(est) == 788 and est.stamps_ns[0] == 1305031102_160407000
    np.testing.assert_allclose(est.positions_xyz[0], [1.344379, 0.627206, 1.661754])
    q = np.array([-0.326553, 0.658249, 0.611043, -0.294444])  # qw first, from "qx qy qz qw"
    np.testing.assert_allclose(est.quats_wxyz[0], q / np.linalg.norm(q))


@pytest.mark.parametrize("fmt", ["tum", "euroc", "kitti"])
def test_round_trip_and_auto_detection(tmp_path, fmt: str) -> None:
    trajectory = make_trajectory(50)
    path = tmp_path / f"traj.{fmt}"
    {"tum": write_tum, "euroc": write_euroc, "kitti": write_kitti}[fmt](trajectory, path)
    assert detect_format(path) == fmt
    back = read_trajectory_file(path)
    np.testing.assert_allclose(back.positions_xyz, trajectory.positions_xyz, atol=1e-12)
    sign = np.sign(np.sum(back.quats_wxyz * trajectory.quats_wxyz, axis=1))[:, None]
    np.testing.assert_allclose(back.quats_wxyz * sign, trajectory.quats_wxyz, atol=1e-12)
    if fmt == "kitti":
        assert back.indexed and back.stamps_ns[1] == 1_000_000_000
    else:
        np.testing.assert_array_equal(back.stamps_ns, trajectory.stamps_ns)


def test_euroc_ground_truth_with_extra_columns(tmp_path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("#timestamp, p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], q_RS_w [], q_RS_x [], q_RS_y [], q_RS_z [], "
                    "v_x, v_y, v_z, bw_x, bw_y, bw_z, ba_x, ba_y, ba_z\n"
                    "1403636579758555392,4.688,-1.786,0.783,0.534,-0.153,-0.827,-0.082,-0.027,0.033,0.8,-0.003,0.02,"
                    "0.07,-0.02,0.1,0.08\n"
                    "1403636579763555584,4.688,-1.786,0.787,0.534,-0.153,-0.827,-0.082,-0.023,0.027,0.8,-0.003,0.02,"
                    "0.07,-0.02,0.1,0.08\n")
    trajectory = read_trajectory_file(path)
    assert trajectory.stamps_ns[0] == 1403636579758555392
    np.testing.assert_allclose(trajectory.positions_xyz[1], [4.688, -1.786, 0.787])
    assert trajectory.quats_wxyz[0, 0] > 0.5  # w is the first quaternion column


@pytest.mark.parametrize("content, pattern", [
    ("1.0 0 0 0 0 0 0 1\n2.0 0 0 0 0 0 1\n", r"bad.txt:2: expected 8 columns for TUM, got 7"),
    ("1.0 0 0 0 0 0 0 1\n2.0 0 nan 0 0 0 0 1\n", r"bad.txt:2: NaN"),
    ("2.0 0 0 0 0 0 0 1\n1.0 0 0 0 0 0 0 1\n", r"bad.txt:2: stamps are not strictly increasing"),
    ("1.0 0 0 0 0 0 0 1\n2.0 0 x 0 0 0 0 1\n", r"bad.txt:2: not a number"),
    ("1 2 3 4 5\n", r"bad.txt:1: cannot tell the format from 5 columns"),
    ("# only a comment\n", r"bad.txt: no trajectory data"),
])
def test_malformed_files_name_file_and_line(tmp_path, content: str, pattern: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(TrajectoryError, match=pattern):
        read_trajectory_file(path)


@pytest.mark.parametrize("name, content", [
    ("fr2.txt", "1.0 0 0 0 0 0 0 1\n2.0 0.1 0 0 0 0 0 1\n2.0 0.2 0 0 0 0 0 1\n3.0 0.3 0 0 0 0 0 1\n"),
    ("gt.csv", "1000,0,0,0,1,0,0,0\n2000,0.1,0,0,1,0,0,0\n2000,0.2,0,0,1,0,0,0\n3000,0.3,0,0,1,0,0,0\n"),
])
def test_repeated_stamps_are_refused_unless_asked_to_keep_the_first(tmp_path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TrajectoryError, match=rf"{name}:3: stamps are not strictly increasing"):
        read_trajectory_file(path)
    trajectory = read_trajectory_file(path, drop_repeated_stamps=True)
    assert len(trajectory) == 3 and trajectory.positions_xyz[:, 0].tolist() == [0.0, 0.1, 0.3]
    (tmp_path / "back.txt").write_text("2.0 0 0 0 0 0 0 1\n2.0 0 0 0 0 0 0 1\n1.0 0 0 0 0 0 0 1\n")
    with pytest.raises(TrajectoryError, match=r"back.txt:3: stamps are not strictly increasing"):
        read_trajectory_file(tmp_path / "back.txt", drop_repeated_stamps=True)  # going back is never a repeat


def test_wrong_columns_in_explicit_formats(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("1,2,3,4\n")
    with pytest.raises(TrajectoryError, match=r"bad.csv:1: expected at least 8 columns for EuRoC CSV, got 4"):
        read_euroc(path)
    with pytest.raises(TrajectoryError, match=r"expected 12 columns for KITTI"):
        read_kitti(path)
    with pytest.raises(TrajectoryError, match="no such trajectory file"):
        read_tum(tmp_path / "missing.txt")
