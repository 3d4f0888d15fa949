"""ROS-free parts of the VIO node: configs, extrinsics, model resolution, base-frame outputs, health state."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from arvr_hybrid_vio.core.errors import ConfigError, ModelFileError
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix, se3_from_pose, so3_exp
from arvr_hybrid_vio.core.types import PoseEstimate
from arvr_hybrid_vio.nodes.vio_health import LatencyStats, RateMeter, node_state
from arvr_hybrid_vio.nodes.vio_node_config import (
    IDENTITY_4X4, VioNodeConfig, estimate_in_base, estimate_is_finite, resolve_model_path, transform_from_row_major)


def rigid(rotvec, translation) -> np.ndarray:
    transform = np.eye(4)
    transform[:3, :3] = so3_exp(np.asarray(rotvec, dtype=float))
    transform[:3, 3] = translation
    return transform


def test_transform_from_row_major_round_trips_and_rejects_non_rigid():
    transform = rigid([0.1, -0.2, 0.3], [0.5, 0.0, -1.0])
    np.testing.assert_allclose(transform_from_row_major(tuple(transform.reshape(16))), transform, atol=1e-12)
    for bad in ([1.0] * 15, [2.0] + list(IDENTITY_4X4[1:]), list(IDENTITY_4X4[:12]) + [0, 0, 1, 1],
                list(np.diag([1.0, 1.0, -1.0, 1.0]).reshape(16)), [np.nan] + list(IDENTITY_4X4[1:])):
        with pytest.raises(ConfigError):
            transform_from_row_major(tuple(bad))
    with pytest.raises(ConfigError):
        VioNodeConfig(T_base_camera=(1.0,) * 16)


def test_model_path_resolution(tmp_path: Path):
    assert resolve_model_path("imu-only") == "imu-only"
    assert resolve_model_path("/some/model.safetensors") == "/some/model.safetensors"
    with pytest.raises(ModelFileError, match="imu-only"):
        resolve_model_path("", repo_root=tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "hybrid.safetensors").write_bytes(b"x")
    assert resolve_model_path("", repo_root=tmp_path) == str(tmp_path / "models" / "hybrid.safetensors")


def make_estimate(**kwargs) -> PoseEstimate:
    values = dict(stamp_ns=5, position_xyz=np.array([1.0, 2.0, 3.0]),
                  quat_wxyz=np.array([np.cos(0.3), 0.0, 0.0, np.sin(0.3)]),
                  linear_velocity_xyz=np.array([0.5, 0.0, 0.0]), angular_velocity_xyz=np.array([0.0, 0.0, 1.0]),
                  pose_covariance=np.eye(6) * 1e-3, twist_covariance=np.diag([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    values.update(kwargs)
    return PoseEstimate(**values)


def test_estimate_in_base_identity_is_unchanged():
    estimate = make_estimate()
    assert estimate_in_base(estimate, np.eye(4)) is estimate


def test_estimate_in_base_composes_the_extrinsic_and_the_lever_arm():
    estimate = make_estimate()
    T_base_imu = rigid([0.0, 0.0, np.pi / 2], [0.1, 0.0, 0.0])
    base = estimate_in_base(estimate, T_base_imu)
    T_odom_imu = se3_from_pose(estimate.position_xyz, estimate.quat_wxyz)
    T_odom_base = T_odom_imu @ np.linalg.inv(T_base_imu)
    np.testing.assert_allclose(base.position_xyz, T_odom_base[:3, 3], atol=1e-12)
    np.testing.assert_allclose(quat_wxyz_to_matrix(base.quat_wxyz), T_odom_base[:3, :3], atol=1e-12)
    # Rigid body: the base origin's velocity = v_imu + w x r(imu -> base), expressed in base axes.
    r_imu_base = np.linalg.inv(T_base_imu)[:3, 3]
    expected = T_base_imu[:3, :3] @ (estimate.linear_velocity_xyz + np.cross([0, 0, 1.0], r_imu_base))
    np.testing.assert_allclose(base.linear_velocity_xyz, expected, atol=1e-12)
    np.testing.assert_allclose(np.diag(base.twist_covariance), [2.0, 1.0, 3.0, 5.0, 4.0, 6.0], atol=1e-12)


def test_estimate_is_finite():
    assert estimate_is_finite(make_estimate())
    assert not estimate_is_finite(make_estimate(position_xyz=np.array([0.0, np.nan, 0.0])))
    assert not estimate_is_finite(make_estimate(pose_covariance=np.full((6, 6), np.inf)))


@pytest.mark.parametrize("estimator, reset, image, imu, expected", [
    ("tracking", False, 0.1, 0.1, "tracking"),
    ("tracking", True, 0.1, 0.1, "reset"),
    ("tracking", False, 5.0, 0.1, "degraded"),
    ("tracking", False, 0.1, None, "degraded"),
    ("degraded", False, 0.1, 0.1, "degraded"),
    ("initialising", False, None, None, "initialising"),
])
def test_node_state(estimator, reset, image, imu, expected):
    level, state, message = node_state(estimator, reset_pending=reset, image_silent_s=image, imu_silent_s=imu,
                                       timeout_s=1.0)
    assert state == expected and message and level == (0 if expected in ("tracking", "initialising") else 1)


def test_rate_meter_and_latency_stats():
    meter = RateMeter(window_s=2.0)
    for k in range(40):
        meter.tick(now=100.0 + k * 0.05)
    assert meter.rate_hz(now=102.0) == pytest.approx(20.0, abs=0.5)
    assert meter.silent_for_s(now=103.0) == pytest.approx(1.05)
    assert RateMeter().silent_for_s() is None
    stats = LatencyStats()
    assert stats.summary()["p99"] == 0.0
    for value in range(1, 101):
        stats.add(value)
    summary = stats.summary()
    assert summary["p50"] == pytest.approx(50.5) and summary["max"] == 100.0
