"""Pose message builders: Odometry, PoseStamped, TransformStamped, TFMessage, Path."""
from __future__ import annotations

import numpy as np
import pytest
from nav_msgs.msg import Odometry, Path
from rclpy.serialization import deserialize_message, serialize_message
from tf2_msgs.msg import TFMessage

from arvr_hybrid_vio.core.errors import SensorDataError
from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz, so3_exp
from arvr_hybrid_vio.core.types import PoseEstimate
from arvr_hybrid_vio.ros.builders import (
    odometry,
    odometry_to_estimate,
    path_append,
    pose_stamped,
    quaternion_to_wxyz,
    stamp_ns_of,
    tf_message,
    transform_from_estimate,
    transform_stamped,
    vector3_to_array,
)


def make_estimate(stamp_ns: int = 1_714_741_164_111_822_142) -> PoseEstimate:
    quat = matrix_to_quat_wxyz(so3_exp(np.array([0.1, -0.4, 0.7])))
    return PoseEstimate(stamp_ns=stamp_ns, position_xyz=np.array([1.0, -2.0, 0.5]), quat_wxyz=quat,
                        linear_velocity_xyz=np.array([0.3, 0.0, -0.1]), angular_velocity_xyz=np.array([0.0, 0.2, 0.0]),
                        pose_covariance=np.arange(36.0).reshape(6, 6), twist_covariance=np.eye(6) * 0.5)


def test_odometry_round_trip_through_cdr() -> None:
    estimate = make_estimate()
    msg = deserialize_message(serialize_message(odometry(estimate, frame_id="odom", child_frame_id="imu")), Odometry)
    assert (msg.header.frame_id, msg.child_frame_id) == ("odom", "imu")
    assert msg.pose.covariance[1] == 1.0 and msg.pose.covariance[6] == 6.0  # row-major
    back = odometry_to_estimate(msg)
    assert back.stamp_ns == estimate.stamp_ns
    for name in ("position_xyz", "quat_wxyz", "linear_velocity_xyz", "angular_velocity_xyz", "pose_covariance",
                 "twist_covariance"):
        np.testing.assert_array_equal(getattr(back, name), getattr(estimate, name), err_msg=name)


def test_pose_stamped_and_transform() -> None:
    estimate = make_estimate()
    pose = pose_stamped(estimate, frame_id="world")
    assert stamp_ns_of(pose) == estimate.stamp_ns and pose.header.frame_id == "world"
    np.testing.assert_array_equal(quaternion_to_wxyz(pose.pose.orientation), estimate.quat_wxyz)
    transform = transform_from_estimate(estimate)
    assert (transform.header.frame_id, transform.child_frame_id) == ("odom", "base_link")
    np.testing.assert_array_equal(vector3_to_array(transform.transform.translation), estimate.position_xyz)
    np.testing.assert_array_equal(quaternion_to_wxyz(transform.transform.rotation), estimate.quat_wxyz)


def test_tf_message_round_trip() -> None:
    transforms = [transform_stamped(5, "base_link", f"cam{i}", np.array([i, 0.0, 0.0]), np.array([1.0, 0, 0, 0]))
                  for i in range(3)]
    back = deserialize_message(serialize_message(tf_message(transforms)), TFMessage)
    assert [t.child_frame_id for t in back.transforms] == ["cam0", "cam1", "cam2"]
    assert back.transforms[2].transform.translation.x == 2.0


def test_path_append_keeps_latest() -> None:
    path = Path()
    for stamp in range(5):
        path_append(path, pose_stamped(make_estimate(stamp), frame_id="odom"), max_poses=3)
    assert [stamp_ns_of(p) for p in path.poses] == [2, 3, 4]
    assert path.header.frame_id == "odom" and stamp_ns_of(path) == 4


def test_wrong_shapes_raise() -> None:
    bad = PoseEstimate(stamp_ns=0, position_xyz=np.zeros(2), quat_wxyz=np.array([1.0, 0, 0, 0]))
    with pytest.raises(SensorDataError, match=r"position_xyz must have shape \(3,\)"):
        odometry(bad)
    with pytest.raises(SensorDataError, match="quat_wxyz"):
        transform_stamped(0, "a", "b", np.zeros(3), np.zeros(3))
