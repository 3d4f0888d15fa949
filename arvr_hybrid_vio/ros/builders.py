"""Build pose messages from core types: Odometry, PoseStamped, TransformStamped, TFMessage, Path.

Quaternions are ``quat_wxyz`` in the core and (x, y, z, w) fields in messages;
covariances are (6, 6) arrays in the core and 36 row-major floats in messages
(REP-103 order: x, y, z, rotation about x, y, z). Frames follow REP-105:
Odometry's pose is in ``frame_id`` (e.g. ``odom``), its twist in ``child_frame_id``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import Pose, PoseStamped, Quaternion, Transform, TransformStamped, Vector3
from nav_msgs.msg import Odometry, Path
from tf2_msgs.msg import TFMessage

from arvr_hybrid_vio.core.errors import SensorDataError
from arvr_hybrid_vio.core.types import PoseEstimate
from arvr_hybrid_vio.ros.conversions import ns_to_time, time_to_ns


def _array(values: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != shape:
        raise SensorDataError(f"{name} must have shape {shape}, got {array.shape}")
    return array


def quaternion_msg(quat_wxyz: np.ndarray) -> Quaternion:
    """geometry_msgs/Quaternion of a (4,) wxyz quaternion."""
    w, x, y, z = (float(v) for v in _array(quat_wxyz, (4,), "quat_wxyz"))
    return Quaternion(x=x, y=y, z=z, w=w)


def quaternion_to_wxyz(msg: Quaternion) -> np.ndarray:
    """(4,) wxyz array of a geometry_msgs/Quaternion."""
    return np.array([msg.w, msg.x, msg.y, msg.z], dtype=np.float64)


def vector3_to_array(msg: Vector3) -> np.ndarray:
    """(3,) array of a Vector3 or Point."""
    return np.array([msg.x, msg.y, msg.z], dtype=np.float64)


def pose_msg(position_xyz: np.ndarray, quat_wxyz: np.ndarray) -> Pose:
    """geometry_msgs/Pose from (3,) position and (4,) wxyz orientation."""
    pose = Pose(orientation=quaternion_msg(quat_wxyz))
    pose.position.x, pose.position.y, pose.position.z = (
        float(v) for v in _array(position_xyz, (3,), "position_xyz"))
    return pose


def pose_stamped(estimate: PoseEstimate, *, frame_id: str = "odom") -> PoseStamped:
    """PoseStamped of an estimate, stamped with the estimate's sensor stamp."""
    msg = PoseStamped(pose=pose_msg(estimate.position_xyz, estimate.quat_wxyz))
    msg.header.stamp = ns_to_time(estimate.stamp_ns)
    msg.header.frame_id = frame_id
    return msg


def odometry(estimate: PoseEstimate, *, frame_id: str = "odom", child_frame_id: str = "base_link") -> Odometry:
    """nav_msgs/Odometry of an estimate: pose in ``frame_id``, twist in ``child_frame_id``.

    Raises:
        SensorDataError: an array of the estimate has the wrong shape.
    """
    msg = Odometry(child_frame_id=child_frame_id)
    msg.header.stamp = ns_to_time(estimate.stamp_ns)
    msg.header.frame_id = frame_id
    msg.pose.pose = pose_msg(estimate.position_xyz, estimate.quat_wxyz)
    # (6, 6) -> (36,) row-major, as the message defines it
    msg.pose.covariance = _array(estimate.pose_covariance, (6, 6), "pose_covariance").reshape(36)
    linear = _array(estimate.linear_velocity_xyz, (3,), "linear_velocity_xyz")
    angular = _array(estimate.angular_velocity_xyz, (3,), "angular_velocity_xyz")
    msg.twist.twist.linear = Vector3(x=float(linear[0]), y=float(linear[1]), z=float(linear[2]))
    msg.twist.twist.angular = Vector3(x=float(angular[0]), y=float(angular[1]), z=float(angular[2]))
    msg.twist.covariance = _array(estimate.twist_covariance, (6, 6), "twist_covariance").reshape(36)
    return msg


def odometry_to_estimate(msg: Odometry) -> PoseEstimate:
    """PoseEstimate of an Odometry message (the inverse of :func:`odometry`)."""
    return PoseEstimate(
        stamp_ns=time_to_ns(msg.header.stamp),
        position_xyz=vector3_to_array(msg.pose.pose.position),
        quat_wxyz=quaternion_to_wxyz(msg.pose.pose.orientation),
        linear_velocity_xyz=vector3_to_array(msg.twist.twist.linear),
        angular_velocity_xyz=vector3_to_array(msg.twist.twist.angular),
        pose_covariance=np.asarray(msg.pose.covariance, dtype=np.float64).reshape(6, 6),
        twist_covariance=np.asarray(msg.twist.covariance, dtype=np.float64).reshape(6, 6),
    )


def transform_stamped(stamp_ns: int, parent_frame: str, child_frame: str, translation_xyz: np.ndarray,
                      quat_wxyz: np.ndarray) -> TransformStamped:
    """TransformStamped ``T_parent_child``: maps points in ``child_frame`` into ``parent_frame``."""
    translation = _array(translation_xyz, (3,), "translation_xyz")
    msg = TransformStamped(child_frame_id=child_frame)
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.header.frame_id = parent_frame
    msg.transform = Transform(
        translation=Vector3(x=float(translation[0]), y=float(translation[1]), z=float(translation[2])),
        rotation=quaternion_msg(quat_wxyz))
    return msg


def transform_from_estimate(estimate: PoseEstimate, *, parent_frame: str = "odom",
                            child_frame: str = "base_link") -> TransformStamped:
    """The ``parent_frame -> child_frame`` transform of an estimate (REP-105 ``odom -> base_link``)."""
    return transform_stamped(estimate.stamp_ns, parent_frame, child_frame, estimate.position_xyz,
                             estimate.quat_wxyz)


def tf_message(transforms: Sequence[TransformStamped]) -> TFMessage:
    """tf2_msgs/TFMessage holding ``transforms``."""
    return TFMessage(transforms=list(transforms))


def path_append(path: Path, pose: PoseStamped, *, max_poses: int | None = None) -> Path:
    """Append ``pose`` to ``path`` in place (dropping the oldest past ``max_poses``) and restamp the path.

    The path's header takes the pose's stamp, and its frame if the path has none yet.

    Returns:
        The same ``path`` object, for chaining.
    """
    if not path.header.frame_id:
        path.header.frame_id = pose.header.frame_id
    path.header.stamp = pose.header.stamp
    path.poses.append(pose)
    if max_poses is not None and len(path.poses) > max_poses:
        del path.poses[: len(path.poses) - max_poses]
    return path


def stamp_ns_of(msg: object) -> int:
    """Header stamp (ns) of any stamped message."""
    return time_to_ns(msg.header.stamp)  # type: ignore[attr-defined]
