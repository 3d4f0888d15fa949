"""What the VIO node publishes from an estimate: Odometry (frame and IMU rate), TF, /vio/path.

A thin rclpy adapter for :class:`~arvr_hybrid_vio.nodes.vio_node.VioNode`: estimates of the
IMU come in, are moved to ``base_frame`` (``vio.T_base_imu``, covariances included),
checked finite and published in REP-105 frames (``odom`` -> ``base_link``).
"""
from __future__ import annotations

import numpy as np
from nav_msgs.msg import Odometry, Path
from rclpy.node import Node

from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz
from arvr_hybrid_vio.core.types import PoseEstimate
from arvr_hybrid_vio.nodes.vio_health import NodeCounters, RateMeter
from arvr_hybrid_vio.nodes.vio_node_config import (
    VioNodeConfig, estimate_in_base, estimate_is_finite, transform_from_row_major)
from arvr_hybrid_vio.ros.builders import odometry, path_append, pose_stamped, transform_from_estimate, \
    transform_stamped
from arvr_hybrid_vio.ros.qos import output_publisher
from arvr_hybrid_vio.ros.tf_output import TfOutput


class VioOutputs:
    """The node's publishers: ``/vio/odometry``, ``/vio/odometry_imu_rate``, ``/vio/path``, ``/tf``, ``/tf_static``."""

    def __init__(self, node: Node, config: VioNodeConfig, counters: NodeCounters) -> None:
        """Create the publishers and, with ``publish_static_tf``, send the sensor frames once."""
        self.config = config  # replaced by the node when runtime parameters change
        self.counters = counters
        self.odometry_rate = RateMeter()
        self._node = node
        T_base_imu = transform_from_row_major(config.T_base_imu, name="vio.T_base_imu")
        # None: base_link is the IMU frame and estimates go out as they are (checked once, not per IMU-rate pose)
        self._T_base_imu = None if np.allclose(T_base_imu, np.eye(4)) else T_base_imu
        self._odom_pub = output_publisher(node, Odometry, "/vio/odometry")
        self._imu_rate_pub = output_publisher(node, Odometry, "/vio/odometry_imu_rate")
        self._path_pub = output_publisher(node, Path, "/vio/path")
        self._tf = TfOutput(node)
        self.reset_path()
        if config.publish_static_tf:
            self._send_static_frames()

    def reset_path(self) -> None:
        """Start /vio/path afresh (after an estimator reset)."""
        self._path = Path()
        self._path.header.frame_id = self.config.odom_frame
        self._last_path_ns: int | None = None  # last /vio/path publication
        self._last_path_pose_ns: int | None = None  # last pose added to it

    def _send_static_frames(self) -> None:
        cfg = self.config
        stamp = self._node.get_clock().now().nanoseconds
        transforms = []
        for child, values in ((cfg.imu_frame, cfg.T_base_imu), (cfg.camera_frame, cfg.T_base_camera)):
            matrix = transform_from_row_major(values, name=f"{child} extrinsic")
            transforms.append(transform_stamped(stamp, cfg.base_frame, child, matrix[:3, 3],
                                                matrix_to_quat_wxyz(matrix[:3, :3])))
        self._tf.send_static(transforms)

    def _in_base(self, estimate: PoseEstimate) -> PoseEstimate | None:
        base = estimate if self._T_base_imu is None else estimate_in_base(estimate, self._T_base_imu)
        if not estimate_is_finite(base):
            self.counters.add("outputs_nonfinite")
            return None
        return base

    def publish_frame(self, estimate: PoseEstimate) -> bool:
        """Odometry, TF and (decimated) path of a frame estimate; False if it was not finite."""
        base = self._in_base(estimate)
        if base is None:
            return False
        cfg = self.config
        self._odom_pub.publish(odometry(base, frame_id=cfg.odom_frame, child_frame_id=cfg.base_frame))
        self.counters.add("odometry_published")
        self.odometry_rate.tick()
        if cfg.publish_tf:
            self._tf.send(transform_from_estimate(base, parent_frame=cfg.odom_frame, child_frame=cfg.base_frame))
        if self._last_path_pose_ns is None or base.stamp_ns - self._last_path_pose_ns >= cfg.path_pose_spacing_s * 1e9:
            path_append(self._path, pose_stamped(base, frame_id=cfg.odom_frame), max_poses=cfg.path_max_poses)
            self._last_path_pose_ns = base.stamp_ns
        if self._last_path_ns is None or base.stamp_ns - self._last_path_ns >= cfg.path_period_s * 1e9:
            # converting a long path is the dearest thing published (6.6 ms at 3000 poses, measured):
            # only for a listener (RViz); the path itself is kept either way
            if self._path_pub.get_subscription_count() > 0:
                self._path_pub.publish(self._path)
                self.counters.add("path_published")
            self._last_path_ns = base.stamp_ns
        return True

    def publish_imu_rate(self, estimate: PoseEstimate) -> None:
        """Odometry of an IMU-rate prediction (not finite: counted, not published)."""
        base = self._in_base(estimate)
        if base is None:
            return
        self._imu_rate_pub.publish(odometry(base, frame_id=self.config.odom_frame,
                                            child_frame_id=self.config.base_frame))
        self.counters.add("imu_rate_published")
