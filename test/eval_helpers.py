"""Builders for the evaluation tests: synthetic trajectories and a bag holding estimate and ground truth."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz, se3_from_pose, se3_inverse, so3_exp
from arvr_hybrid_vio.core.trajectory import Trajectory
from arvr_hybrid_vio.io.bags import BagWriter, typestore

FREIBURG_GT = Path(__file__).parent / "data" / "trajectories" / "freiburg1_xyz-groundtruth.txt"
FREIBURG_EST = Path(__file__).parent / "data" / "trajectories" / "freiburg1_xyz-rgbdslam.txt"
T_WORLD_MAP = se3_from_pose(np.array([1.0, -2.0, 0.5]), np.array([np.cos(0.2), 0.0, 0.0, np.sin(0.2)]))
T_BASE_IMU = se3_from_pose(np.array([0.1, 0.0, 0.05]), np.array([np.cos(0.1), np.sin(0.1), 0.0, 0.0]))


def make_trajectory(count: int = 500, *, rate_hz: float = 100.0, start_ns: int = 1_000_000_000_000,
                    speed: float = 1.0, source: str = "synthetic") -> Trajectory:
    """A smooth 3D loop-free motion with rotation about all axes."""
    t = np.arange(count) / rate_hz
    positions = np.stack([speed * t, 0.5 * np.sin(0.7 * t), 0.2 * np.cos(0.3 * t)], axis=1)
    rotvecs = np.stack([0.3 * np.sin(0.5 * t), 0.2 * np.cos(0.4 * t), 0.8 * t], axis=1)
    stamps = start_ns + np.round(t * 1e9).astype(np.int64)
    return Trajectory(stamps, positions, matrix_to_quat_wxyz(so3_exp(rotvecs)), source=source)


def transformed(trajectory: Trajectory, transform: np.ndarray, *, scale: float = 1.0) -> Trajectory:
    """``transform @ [R | scale * p]`` applied to every pose (a rigid or similarity offset)."""
    poses = trajectory.poses_se3()
    poses[:, :3, 3] *= scale
    return Trajectory.from_poses_se3(trajectory.stamps_ns, transform @ poses, source=trajectory.source)


def noisy(trajectory: Trajectory, *, sigma_m: float, sigma_rad: float, seed: int = 0) -> Trajectory:
    """Gaussian position and rotation noise on every pose."""
    rng = np.random.default_rng(seed)
    poses = trajectory.poses_se3()
    poses[:, :3, 3] += rng.normal(0.0, sigma_m, (len(trajectory), 3))
    poses[:, :3, :3] = poses[:, :3, :3] @ so3_exp(rng.normal(0.0, sigma_rad, (len(trajectory), 3)))
    return Trajectory.from_poses_se3(trajectory.stamps_ns, poses, source=trajectory.source)


def stamp_msg(stamp_ns: int):  # noqa: ANN202 - rosbags dataclass
    types = typestore().types
    seconds, nanoseconds = divmod(int(stamp_ns), 1_000_000_000)
    return types["builtin_interfaces/msg/Time"](sec=seconds, nanosec=nanoseconds)


def header_msg(stamp_ns: int, frame_id: str):  # noqa: ANN202
    return typestore().types["std_msgs/msg/Header"](stamp=stamp_msg(stamp_ns), frame_id=frame_id)


def pose_msg(position: np.ndarray, quat_wxyz: np.ndarray):  # noqa: ANN202
    types = typestore().types
    return types["geometry_msgs/msg/Pose"](
        position=types["geometry_msgs/msg/Point"](x=float(position[0]), y=float(position[1]), z=float(position[2])),
        orientation=types["geometry_msgs/msg/Quaternion"](x=float(quat_wxyz[1]), y=float(quat_wxyz[2]),
                                                          z=float(quat_wxyz[3]), w=float(quat_wxyz[0])))


def transform_stamped_msg(stamp_ns: int, parent: str, child: str, transform: np.ndarray):  # noqa: ANN202
    types = typestore().types
    quat = matrix_to_quat_wxyz(transform[:3, :3])
    t = transform[:3, 3]
    return types["geometry_msgs/msg/TransformStamped"](
        header=header_msg(stamp_ns, parent), child_frame_id=child,
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](x=float(t[0]), y=float(t[1]), z=float(t[2])),
            rotation=types["geometry_msgs/msg/Quaternion"](x=float(quat[1]), y=float(quat[2]), z=float(quat[3]),
                                                           w=float(quat[0]))))


def write_eval_bag(path: Path, gt: Trajectory, est: Trajectory, *, latency_ns: int = 3_000_000,
                   storage: str = "sqlite3") -> Path:
    """A bag with ground truth and estimate on every supported pose type.

    Topics: /ground_truth/pose (PoseStamped, gt), /vio/odometry (Odometry, est),
    /vio/pose_cov (PoseWithCovarianceStamped, est), /vio/transform (TransformStamped, est),
    /tf (map -> base_link, dynamic) and /tf_static (world -> map, base_link -> imu) so that
    the TF chain world -> imu equals gt. Log times are header stamps + ``latency_ns``.
    """
    types = typestore().types
    t_map_base = se3_inverse(T_WORLD_MAP) @ gt.poses_se3() @ se3_inverse(T_BASE_IMU)
    with BagWriter(path, storage=storage) as bag:
        for topic, msgtype in (("/ground_truth/pose", "geometry_msgs/msg/PoseStamped"),
                               ("/vio/odometry", "nav_msgs/msg/Odometry"),
                               ("/vio/pose_cov", "geometry_msgs/msg/PoseWithCovarianceStamped"),
                               ("/vio/transform", "geometry_msgs/msg/TransformStamped"),
                               ("/tf", "tf2_msgs/msg/TFMessage")):
            bag.add_topic(topic, msgtype)
        bag.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", latched=True)
        first = int(min(gt.stamps_ns[0], est.stamps_ns[0]))
        static = [transform_stamped_msg(first, "world", "map", T_WORLD_MAP),
                  transform_stamped_msg(first, "base_link", "imu", T_BASE_IMU)]
        bag.write("/tf_static", first, types["tf2_msgs/msg/TFMessage"](transforms=static))
        events = [(int(s), 0, k) for k, s in enumerate(gt.stamps_ns)]
        events += [(int(s), 1, k) for k, s in enumerate(est.stamps_ns)]
        for stamp, kind, k in sorted(events):
            log_time = stamp + latency_ns
            if kind == 0:
                pose = pose_msg(gt.positions_xyz[k], gt.quats_wxyz[k])
                bag.write("/ground_truth/pose", log_time,
                          types["geometry_msgs/msg/PoseStamped"](header=header_msg(stamp, "world"), pose=pose))
                tf = transform_stamped_msg(stamp, "map", "base_link", t_map_base[k])
                bag.write("/tf", log_time, types["tf2_msgs/msg/TFMessage"](transforms=[tf]))
                continue
            _write_estimate(bag, stamp, log_time, est.positions_xyz[k], est.quats_wxyz[k])
    return path


def _write_estimate(bag: BagWriter, stamp: int, log_time: int, position: np.ndarray, quat: np.ndarray) -> None:
    types = typestore().types
    pose = pose_msg(position, quat)
    covariance = np.zeros(36)
    with_cov = types["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=covariance)
    twist = types["geometry_msgs/msg/TwistWithCovariance"](
        twist=types["geometry_msgs/msg/Twist"](linear=types["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0),
                                               angular=types["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)),
        covariance=covariance)
    bag.write("/vio/odometry", log_time, types["nav_msgs/msg/Odometry"](
        header=header_msg(stamp, "world"), child_frame_id="imu", pose=with_cov, twist=twist))
    bag.write("/vio/pose_cov", log_time, types["geometry_msgs/msg/PoseWithCovarianceStamped"](
        header=header_msg(stamp, "world"), pose=with_cov))
    bag.write("/vio/transform", log_time,
              transform_stamped_msg(stamp, "world", "imu", se3_from_pose(position, quat)))


def assert_reports_equal(actual: dict, expected: dict, *, rel: float = 1e-9) -> None:
    """Same keys; numbers equal to ``rel`` (relative, 1e-12 absolute near 0), others exactly."""
    assert list(actual) == list(expected)
    for key, value in expected.items():
        if isinstance(value, float):
            assert abs(actual[key] - value) <= max(rel * abs(value), 1e-12), (key, actual[key], value)
        else:
            assert actual[key] == value, (key, actual[key], value)
