"""Metrics on synthetic trajectories with known answers, the report, and speed."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from eval_helpers import make_trajectory, noisy, transformed

from arvr_hybrid_vio.core.errors import ConfigError, EvaluationError
from arvr_hybrid_vio.core.evaluation import REPORT_KEYS, EvalConfig, evaluate, load_eval_config, write_report_json
from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz, se3_from_pose, so3_exp
from arvr_hybrid_vio.core.metrics import ErrorStats, kitti_relative_errors, rpe, rpe_pairs
from arvr_hybrid_vio.core.trajectory import Trajectory

OFFSET = se3_from_pose(np.array([3.0, -1.0, 2.0]), matrix_to_quat_wxyz(so3_exp(np.array([0.4, -0.3, 1.1]))))


def _straight_line(length_m: float, *, step_m: float = 0.1, lateral_per_m: float = 0.0, scale: float = 1.0,
                   source: str = "line") -> Trajectory:
    """1 m/s along x; y drifts by ``lateral_per_m`` per metre; positions scaled by ``scale``."""
    x = np.arange(0.0, length_m + step_m / 2, step_m)
    positions = scale * np.stack([x, lateral_per_m * x, np.zeros_like(x)], axis=1)
    stamps = np.round(x * 1e9).astype(np.int64) + 10**12
    return Trajectory(stamps, positions, np.tile([1.0, 0.0, 0.0, 0.0], (x.size, 1)), source=source)


def test_rigid_offset_gives_zero_ate_after_se3() -> None:
    gt = make_trajectory(400)
    report = evaluate(gt, transformed(gt, OFFSET), EvalConfig(align="se3"))
    assert report.ate.stats.max < 1e-9 and report.rpe.trans.max < 1e-9 and report.rpe.rot.max < 1e-5
    unaligned = evaluate(gt, transformed(gt, OFFSET), EvalConfig(align="none"))
    assert unaligned.ate.stats.min > 1.0


def test_scale_gives_zero_ate_after_sim3_only() -> None:
    gt = make_trajectory(400)
    est = transformed(gt, OFFSET, scale=0.5)
    sim3 = evaluate(gt, est, EvalConfig(align="sim3"))
    assert sim3.ate.stats.max < 1e-9
    assert sim3.alignment.scale == pytest.approx(2.0, rel=1e-9)
    assert evaluate(gt, est, EvalConfig(align="se3")).ate.stats.rmse > 0.1


def test_known_drift_rate() -> None:
    gt = _straight_line(200.0)
    est = _straight_line(200.0, lateral_per_m=0.03)  # 3 cm sideways per metre travelled
    result = evaluate(gt, est, EvalConfig(align="none")).drift
    assert result.path_length_m == pytest.approx(200.0, rel=1e-12)
    assert result.drift_m_per_100m == pytest.approx(100.0 * 0.03 * 200.0 / 200.0, rel=1e-9)


def test_drift_ignores_the_start_offset() -> None:
    gt = _straight_line(100.0)
    est = transformed(_straight_line(100.0, lateral_per_m=0.01), OFFSET)
    assert evaluate(gt, est, EvalConfig(align="none")).drift.drift_m_per_100m == pytest.approx(1.0, rel=1e-9)


def test_kitti_scale_error_and_short_paths() -> None:
    gt = _straight_line(900.0, step_m=0.5)
    est = _straight_line(900.0, step_m=0.5, scale=1.01)  # 1 % too long everywhere
    result = kitti_relative_errors(gt.poses_se3(), est.poses_se3())
    assert result.t_rel_pct == pytest.approx(1.0, rel=5e-3)
    assert result.r_rel_deg_per_100m == pytest.approx(0.0, abs=1e-9)
    assert result.segments > 100
    short = kitti_relative_errors(gt.poses_se3()[:100], est.poses_se3()[:100])  # 50 m
    assert short.t_rel_pct is None and short.segments == 0


def test_rpe_seconds_pairs_follow_the_estimate_stamps() -> None:
    est = make_trajectory(250, rate_hz=100.0)
    pairs = rpe_pairs(est.poses_se3(), delta=1.0, unit="s", est_stamps_ns=est.stamps_ns)
    np.testing.assert_array_equal(pairs[:, 0], np.arange(150))
    np.testing.assert_array_equal(pairs[:, 1], np.arange(100, 250))
    irregular = np.array([0, 4, 10, 11, 30], dtype=np.int64) * 100_000_000  # 0, 0.4, 1.0, 1.1, 3.0 s
    pairs = rpe_pairs(np.tile(np.eye(4), (5, 1, 1)), delta=1.0, unit="s", est_stamps_ns=irregular)
    np.testing.assert_array_equal(pairs, [[0, 2], [1, 4], [2, 4], [3, 4]])


def test_rpe_frames_and_metres_pairs() -> None:
    line = _straight_line(10.0, step_m=0.3).poses_se3()
    np.testing.assert_array_equal(rpe_pairs(line, delta=3, unit="f")[:2], [[0, 3], [3, 6]])
    assert np.all(np.diff(rpe_pairs(line, delta=1.0, unit="m")[:, 0]) == 4)  # 4 steps of 0.3 m reach 1 m
    with pytest.raises(EvaluationError, match="no pose pairs"):
        rpe(line, line, delta=100.0, unit="m")
    with pytest.raises(EvaluationError, match="whole number"):
        rpe_pairs(line, delta=1.5, unit="f")


def test_known_rotation_error_in_rpe() -> None:
    gt = make_trajectory(200)
    poses = gt.poses_se3()
    turn = se3_from_pose(np.zeros(3), matrix_to_quat_wxyz(so3_exp(np.array([0.0, 0.0, np.radians(2.0)]))))
    poses[100:] = turn @ poses[100:]  # a 2 degree jump between poses 99 and 100, relative motion kept
    est = Trajectory.from_poses_se3(gt.stamps_ns, poses)
    result = rpe(gt.poses_se3(), est.poses_se3(), delta=1, unit="f")
    assert result.rot_errors_deg[99] == pytest.approx(2.0, rel=1e-9)
    assert np.delete(result.rot_errors_deg, 99).max() < 1e-6


def test_error_stats_definitions() -> None:
    stats = ErrorStats.of(np.array([3.0, 4.0, 0.0, 1.0]))
    assert stats.rmse == pytest.approx(np.sqrt(26.0 / 4.0)) and stats.median == 2.0
    assert stats.std == pytest.approx(np.std([3.0, 4.0, 0.0, 1.0])) and (stats.min, stats.max) == (0.0, 4.0)


def test_report_keys_and_json(tmp_path) -> None:
    gt = make_trajectory(300)
    report = evaluate(gt, noisy(gt, sigma_m=0.01, sigma_rad=0.01), EvalConfig()).to_dict()
    assert tuple(report) == REPORT_KEYS
    write_report_json(report, tmp_path / "out" / "report.json")
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == report
    with pytest.raises(EvaluationError, match="non-finite"):
        write_report_json({**report, "ate_rmse_m": float("nan")}, tmp_path / "nan.json")
    assert not (tmp_path / "nan.json").exists()


def test_fewer_than_three_matched_poses() -> None:
    gt = make_trajectory(100, source="gt.txt")
    est = make_trajectory(2, source="est.txt")
    with pytest.raises(EvaluationError, match="only 2 matched pose.*gt.txt and est.txt"):
        evaluate(gt, est, EvalConfig())


@pytest.mark.parametrize("field, value", [("align", "affine"), ("rpe_unit", "deg"), ("rpe_delta", 0.0),
                                          ("rpe_delta", float("nan")), ("max_time_diff_s", -1.0)])
def test_bad_config_values(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        EvalConfig(**{field: value})


def test_config_file_matches_defaults() -> None:
    from pathlib import Path
    assert load_eval_config(Path(__file__).parents[2] / "config" / "eval.yaml") == EvalConfig()


@pytest.mark.parametrize("unit, delta", [("s", 1.0), ("m", 1.0), ("f", 10)])
def test_100k_poses_evaluate_in_under_2_s(unit: str, delta: float) -> None:
    gt = make_trajectory(100_000)
    est = noisy(gt.subset(np.arange(0, 100_000, 1)), sigma_m=0.01, sigma_rad=0.01)
    start = time.perf_counter()
    report = evaluate(gt, est, EvalConfig(align="sim3", rpe_unit=unit, rpe_delta=delta)).to_dict()
    elapsed = time.perf_counter() - start
    assert report["matched_poses"] == 100_000
    assert elapsed < 2.0, f"{elapsed:.2f} s"
