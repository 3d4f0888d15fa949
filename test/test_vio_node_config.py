"""ROS-free parts of the VIO node: configs, extrinsics, model resolution, base-frame outputs, health state."""
from __future__ import annotations

import dataclasses

from pathlib import Path

import numpy as np
import pytest

from arvr_hybrid_vio.core.errors import ConfigError, ModelFileError
from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz, quat_wxyz_to_matrix, se3_from_pose, so3_exp, so3_log
from arvr_hybrid_vio.core.types import PoseEstimate
from arvr_hybrid_vio.nodes.vio_health import LatencyStats, RateMeter, node_state
from arvr_hybrid_vio.nodes.vio_node_config import (
    IDENTITY_4X4, VioNodeConfig, estimate_in_base, estimate_is_finite, load_node_configs, resolve_model_path,
    transform_from_row_major)


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


def test_image_transport_names_the_subscribed_topic_and_refuses_others():
    assert VioNodeConfig(image_topic="/cam/image").subscribed_image_topic == "/cam/image"
    assert VioNodeConfig(image_topic="/cam/image", image_transport="compressed").subscribed_image_topic == \
        "/cam/image/compressed"
    with pytest.raises(ConfigError, match="vio.image_transport must be one of raw, compressed; got 'theora'"):
        VioNodeConfig(image_transport="theora")


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


def _base_pose_and_twist(estimate: PoseEstimate, T_base_imu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    base = estimate_in_base(estimate, T_base_imu)
    return (np.concatenate([base.position_xyz, quat_wxyz_to_matrix(base.quat_wxyz).reshape(9)]),
            np.concatenate([base.linear_velocity_xyz, base.angular_velocity_xyz]))


def test_estimate_in_base_covariances_follow_the_lever_arm_to_first_order():
    """Covariances = J cov J^T with J taken by finite differences of the base outputs
    (pose: odom-axes position and world-frame rotation perturbation; twist: base axes)."""
    pose_cov = np.diag([1e-4, 2e-4, 3e-4, 4e-3, 5e-3, 6e-3])
    estimate = make_estimate(pose_covariance=pose_cov)
    T_base_imu = rigid([0.2, -0.1, np.pi / 2], [0.1, -0.05, 0.2])
    base = estimate_in_base(estimate, T_base_imu)
    R_base = quat_wxyz_to_matrix(base.quat_wxyz)
    eps = 1e-7
    pose_jacobian, twist_jacobian = np.zeros((6, 6)), np.zeros((6, 6))
    for k in range(6):
        delta = np.zeros(6)
        delta[k] = eps
        rotation = so3_exp(delta[3:]) @ quat_wxyz_to_matrix(estimate.quat_wxyz)
        moved = estimate_in_base(make_estimate(position_xyz=estimate.position_xyz + delta[:3],
                                               quat_wxyz=matrix_to_quat_wxyz(rotation), pose_covariance=pose_cov),
                                 T_base_imu)
        dtheta = so3_log(quat_wxyz_to_matrix(moved.quat_wxyz) @ R_base.T)  # world-frame perturbation
        pose_jacobian[:, k] = np.concatenate([moved.position_xyz - base.position_xyz, dtheta]) / eps
        twisted = estimate_in_base(make_estimate(linear_velocity_xyz=estimate.linear_velocity_xyz + delta[:3],
                                                 angular_velocity_xyz=estimate.angular_velocity_xyz + delta[3:]),
                                   T_base_imu)
        twist_jacobian[:, k] = np.concatenate([twisted.linear_velocity_xyz - base.linear_velocity_xyz,
                                               twisted.angular_velocity_xyz - base.angular_velocity_xyz]) / eps
    np.testing.assert_allclose(base.pose_covariance, pose_jacobian @ pose_cov @ pose_jacobian.T, atol=1e-9)
    np.testing.assert_allclose(base.twist_covariance,
                               twist_jacobian @ estimate.twist_covariance @ twist_jacobian.T, atol=1e-6)
    assert not np.allclose(base.pose_covariance, pose_cov)  # the lever arm adds position uncertainty
    np.testing.assert_allclose(base.pose_covariance, base.pose_covariance.T)


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


def test_rig_camera_from_camera_info_then_parameters_then_none():
    from arvr_hybrid_vio.nodes.vio_node_config import CameraInfoValues
    assert VioNodeConfig().rig_camera() is None  # the model's training camera
    configured = VioNodeConfig(camera_intrinsics=(458.7, 457.3, 367.2, 248.4), camera_resolution=(752, 480),
                               camera_distortion=(-0.28, 0.07, 2e-4, 2e-5))
    camera = configured.rig_camera()
    assert (camera.width, camera.height, camera.fx, camera.cy) == (752, 480, 458.7, 248.4)
    assert camera.distortion == (-0.28, 0.07, 2e-4, 2e-5) and camera.distortion_model == "plumb_bob"
    info = CameraInfoValues(640, 480, (500.0, 0, 320.0, 0, 501.0, 240.0, 0, 0, 1), (0.1, 0.0, 0.0, 0.0, 0.0, 0.0,
                                                                                    0.0, 0.0), "rational_polynomial")
    from_info = configured.rig_camera(info)
    assert (from_info.width, from_info.fx, from_info.fy, from_info.cx) == (640, 500.0, 501.0, 320.0)
    assert from_info.distortion_model == "plumb_bob" and len(from_info.distortion) == 8
    uncalibrated = CameraInfoValues(640, 480, (0.0,) * 9, (), "")
    assert configured.rig_camera(uncalibrated) == camera  # K all zero: the parameters stand
    # the mount is the camera's rotation relative to the IMU
    T_base_imu = rigid([0.0, 0.0, 0.3], [0.1, 0.0, 0.0])
    T_base_camera = rigid([0.2, 0.0, 0.0], [0.0, 0.0, 0.0])
    mounted = VioNodeConfig(T_base_imu=tuple(T_base_imu.reshape(16)), T_base_camera=tuple(T_base_camera.reshape(16)))
    np.testing.assert_allclose(np.reshape(mounted.camera_rotation_imu(), (3, 3)),
                               T_base_imu[:3, :3].T @ T_base_camera[:3, :3], atol=1e-12)
    # and its centre, in IMU axes, is the lever arm of the window velocity
    T_imu_camera = np.linalg.inv(T_base_imu) @ T_base_camera
    np.testing.assert_allclose(mounted.camera_translation_imu(), T_imu_camera[:3, 3], atol=1e-12)
    mounted = dataclasses.replace(mounted, camera_intrinsics=(458.7, 457.3, 367.2, 248.4),
                                  camera_resolution=(752, 480))
    np.testing.assert_allclose(mounted.rig_camera().t_imu_camera, T_imu_camera[:3, 3], atol=1e-12)
    np.testing.assert_allclose(mounted.rig_camera(info).t_imu_camera, T_imu_camera[:3, 3], atol=1e-12)


def test_extrinsics_without_a_calibration_are_reported_as_unused():
    """A mount in T_base_camera with no intrinsics and no CameraInfo topic would be silently replaced by
    the training camera's: the node warns, naming what to set."""
    assert VioNodeConfig().unused_extrinsics_warning() is None  # identity extrinsics say nothing
    mount = tuple(rigid([0.0, 0.2, 0.0], [0.05, 0.0, 0.0]).reshape(16))
    warning = VioNodeConfig(T_base_camera=mount).unused_extrinsics_warning()
    assert warning is not None and "vio.camera_intrinsics" in warning and "vio.camera_info_topic" in warning
    assert VioNodeConfig(T_base_camera=mount, T_base_imu=mount).unused_extrinsics_warning() is None  # same place
    rig = load_node_configs(Path(__file__).resolve().parents[1] / "config" / "vio_rig.yaml").vio
    assert rig.unused_extrinsics_warning() is None  # its default mount is the training camera's
    assert VioNodeConfig(T_base_camera=mount, camera_info_topic="/cam0/camera_info").unused_extrinsics_warning() is None
    assert VioNodeConfig(T_base_camera=mount, camera_intrinsics=(458.7, 457.3, 367.2, 248.4),
                         camera_resolution=(752, 480)).unused_extrinsics_warning() is None


@pytest.mark.parametrize("kwargs", [
    dict(camera_intrinsics=(458.7, 457.3, 367.2), camera_resolution=(752, 480)),
    dict(camera_intrinsics=(458.7, 457.3, 367.2, 248.4), camera_resolution=()),
    dict(camera_intrinsics=(-1.0, 457.3, 367.2, 248.4), camera_resolution=(752, 480)),
    dict(camera_intrinsics=(458.7, 457.3, 367.2, 248.4), camera_resolution=(752, 480), camera_distortion=(0.1,)),
    dict(camera_intrinsics=(458.7, 457.3, 367.2, 248.4), camera_resolution=(752, 480),
         camera_distortion_model="kannala_brandt"),
])
def test_bad_camera_parameters_are_refused_at_load(kwargs):
    with pytest.raises(ConfigError, match="camera"):
        VioNodeConfig(**kwargs)


def test_auto_executor_falls_back_where_rclpy_has_no_events_executor(monkeypatch):
    """A ROS 2 without rclpy.experimental.EventsExecutor (Jazzy): ``auto`` is the SingleThreadedExecutor, and
    ``events`` named outright is refused with the parameter's name."""
    import sys

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from rclpy.parameter import Parameter

    from arvr_hybrid_vio.nodes.vio_node import VioNode, executor_kind, make_executor
    monkeypatch.setitem(sys.modules, "rclpy.experimental", None)  # its import now raises ImportError
    assert executor_kind("auto") == "single_threaded"
    with pytest.raises(ConfigError, match="vio.executor 'events' needs rclpy.experimental.EventsExecutor"):
        executor_kind("events")  # as the node's parameters load, before its model
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        assert isinstance(make_executor(context), SingleThreadedExecutor)
        with pytest.raises(ConfigError, match="vio.executor 'events' needs rclpy.experimental.EventsExecutor"):
            make_executor(context, "events")
        with pytest.raises(ConfigError, match="vio.executor 'events'"):  # the node, before loading its model
            VioNode(context=context, parameter_overrides=[Parameter("vio.executor", value="events")])
    finally:
        rclpy.shutdown(context=context)


def test_executor_is_checked_and_built():
    """``vio.executor``: a typo is refused when the parameters load; ``auto`` (the default) is the EventsExecutor
    on this rclpy (Kilted); every kind builds an executor that spins a node (test_vio_node_e2e runs the whole
    graph with each)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from arvr_hybrid_vio.nodes.vio_node import executor_kind, make_executor
    with pytest.raises(ConfigError, match="vio.executor"):
        VioNodeConfig(executor="event")
    assert VioNodeConfig().executor == "auto" and executor_kind("auto") == "events"
    assert executor_kind("single_threaded") == "single_threaded"
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        assert isinstance(make_executor(context, "single_threaded"), SingleThreadedExecutor)
        events = make_executor(context, "events")  # rclpy.experimental.EventsExecutor (a factory of a C++ class)
        assert not isinstance(events, SingleThreadedExecutor) and hasattr(events, "spin_once")
        assert type(make_executor(context)) is type(events)
        with pytest.raises(ConfigError, match="vio.executor"):
            make_executor(context, "multi_threaded")
    finally:
        rclpy.shutdown(context=context)
