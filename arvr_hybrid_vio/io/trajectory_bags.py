"""Trajectories from bag topics, and one loader for trajectory files and bags alike.

Supported topic types: ``nav_msgs/msg/Odometry``, ``geometry_msgs/msg/PoseStamped``,
``PoseWithCovarianceStamped``, ``TransformStamped``, and TF (``tf2_msgs/msg/TFMessage``
on ``/tf`` + ``/tf_static``, chained between a parent and a child frame). Pose
stamps are the message header stamps, never the bag's log time.

``pose_from_message`` reads attributes only, so it converts rosbags dataclasses and
rclpy messages alike (the live evaluation node uses it too).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.tf_chain import TransformSamples, chain_trajectory
from arvr_hybrid_vio.core.trajectory import Trajectory, trajectory_from_samples
from arvr_hybrid_vio.core.trajectory_files import read_trajectory_file
from arvr_hybrid_vio.io.bags import BagError, iter_messages, topic_types

TF_TYPE = "tf2_msgs/msg/TFMessage"
TF_TOPICS = ("/tf", "/tf_static")
BAG_SUFFIXES = (".db3", ".mcap", ".bag")
Pose = tuple[int, tuple[float, float, float], tuple[float, float, float, float]]


def stamp_ns(stamp: Any) -> int:
    """builtin_interfaces/Time (sec, nanosec) as int ns."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _from_pose(stamp: Any, pose: Any) -> Pose:
    p, q = pose.position, pose.orientation
    return stamp_ns(stamp), (float(p.x), float(p.y), float(p.z)), (float(q.w), float(q.x), float(q.y), float(q.z))


def _from_transform(stamp: Any, transform: Any) -> Pose:
    t, q = transform.translation, transform.rotation
    return stamp_ns(stamp), (float(t.x), float(t.y), float(t.z)), (float(q.w), float(q.x), float(q.y), float(q.z))


_POSE_EXTRACTORS: dict[str, Callable[[Any], Pose]] = {
    "nav_msgs/msg/Odometry": lambda m: _from_pose(m.header.stamp, m.pose.pose),
    "geometry_msgs/msg/PoseStamped": lambda m: _from_pose(m.header.stamp, m.pose),
    "geometry_msgs/msg/PoseWithCovarianceStamped": lambda m: _from_pose(m.header.stamp, m.pose.pose),
    "geometry_msgs/msg/TransformStamped": lambda m: _from_transform(m.header.stamp, m.transform),
}
POSE_TYPES = tuple(_POSE_EXTRACTORS)


def pose_from_message(msgtype: str, message: Any) -> Pose:
    """(header stamp ns, position xyz, quaternion wxyz) of a pose-like message.

    Raises:
        TrajectoryError: an unsupported message type.
    """
    extractor = _POSE_EXTRACTORS.get(_normalise_type(msgtype))
    if extractor is None:
        raise TrajectoryError(f"unsupported pose message type '{msgtype}' (use one of {', '.join(POSE_TYPES)}, or TF)")
    return extractor(message)


def add_tf_message(samples: TransformSamples, message: Any, *, static: bool) -> None:
    """Record every TransformStamped of a tf2_msgs/TFMessage."""
    for transform in message.transforms:
        stamp, position, quat = _from_transform(transform.header.stamp, transform.transform)
        samples.add(transform.header.frame_id, transform.child_frame_id, stamp, position, quat, static=static)


def is_bag_path(path: str | Path) -> bool:
    """True for a rosbag2 folder, a .db3/.mcap file or a ROS 1 .bag."""
    path = Path(path)
    return (path.is_dir() and (path / "metadata.yaml").exists()) or path.suffix in BAG_SUFFIXES


def read_bag_trajectory(path: str | Path, *, topic: str | None = None, parent_frame: str = "",
                        child_frame: str = "") -> Trajectory:
    """Trajectory of one bag topic (or of a TF chain when ``topic`` is /tf or the frames are given).

    Raises:
        BagError: unreadable bag or a topic not in the bag.
        TrajectoryError: an unsupported topic type, no poses, bad stamps or values.
    """
    types = topic_types(path)
    if parent_frame and child_frame and (topic is None or types.get(topic) == TF_TYPE):
        return _read_tf_chain(path, types, parent_frame, child_frame)
    topic = topic or _only_pose_topic(path, types)
    if topic not in types:
        raise BagError(f"{path}: topic '{topic}' not in bag; it has {sorted(types)}")
    if _normalise_type(types[topic]) == TF_TYPE:
        raise TrajectoryError(f"{path}:{topic}: a TF topic needs a parent and a child frame to follow")
    if _normalise_type(types[topic]) not in _POSE_EXTRACTORS:
        raise TrajectoryError(f"{path}:{topic}: type {types[topic]} is not a pose type ({', '.join(POSE_TYPES)}, TF)")
    poses = [pose_from_message(m.msgtype, m.decode()) for m in iter_messages(path, [topic])]
    return trajectory_from_samples([p[0] for p in poses], [p[1] for p in poses], [p[2] for p in poses],
                                   source=f"{path}:{topic}")


def load_trajectory(path: str | Path, *, fmt: str = "auto", topic: str | None = None, parent_frame: str = "",
                    child_frame: str = "") -> Trajectory:
    """A trajectory from a file (TUM/EuRoC/KITTI, ``fmt`` auto-detected) or a bag topic.

    Raises:
        BagError, TrajectoryError: with the file (and topic) named.
    """
    if not Path(path).exists():
        raise TrajectoryError(f"{path}: no such trajectory file or bag")
    if is_bag_path(path):
        return read_bag_trajectory(path, topic=topic, parent_frame=parent_frame, child_frame=child_frame)
    if topic:
        raise TrajectoryError(f"{path}: a topic ('{topic}') was given but this is not a bag")
    return read_trajectory_file(path, fmt=fmt)


def _read_tf_chain(path: str | Path, types: dict[str, str], parent: str, child: str) -> Trajectory:
    topics = [t for t in TF_TOPICS if t in types]
    if not topics:
        raise BagError(f"{path}: no /tf or /tf_static topic for the TF chain '{parent}' -> '{child}'")
    samples = TransformSamples()
    for message in iter_messages(path, topics):
        add_tf_message(samples, message.decode(), static=message.topic == "/tf_static")
    return chain_trajectory(samples, parent, child, source=f"{path}:/tf {parent}->{child}")


def _only_pose_topic(path: str | Path, types: dict[str, str]) -> str:
    candidates = sorted(t for t, msgtype in types.items() if _normalise_type(msgtype) in _POSE_EXTRACTORS)
    if len(candidates) != 1:
        raise BagError(f"{path}: pick a topic (pose topics in the bag: {candidates or 'none'})")
    return candidates[0]


def _normalise_type(msgtype: str) -> str:
    """'nav_msgs/Odometry' (ROS 1 style) -> 'nav_msgs/msg/Odometry'."""
    parts = msgtype.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else msgtype
