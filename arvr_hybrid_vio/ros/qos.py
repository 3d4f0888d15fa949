"""The QoS profiles of this package, in one place.

- sensor input (camera, IMU): ``qos_profile_sensor_data`` (best effort, keep last 5; the VIO
  node keeps the last ``IMU_QUEUE_DEPTH`` IMU samples), overridable per topic at launch with ``QoSOverridingOptions.with_default_policies()``
  (``qos_overrides./imu0.subscription.reliability: reliable`` in a parameter file);
- outputs (odometry, paths, diagnostics): reliable, keep last 10, volatile;
- ``/tf``: reliable, keep last 100; ``/tf_static``: reliable, keep last 1, transient-local, so
  late joiners get it;
- bag replay: reliable, keep all, so a reliable subscriber loses nothing.
"""
from __future__ import annotations

import copy
from typing import Any

from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from rclpy.qos_overriding_options import QoSOverridingOptions

SENSOR_QOS: QoSProfile = qos_profile_sensor_data
# IMU samples a subscription keeps while its callback thread is busy (1 s at 1 kHz): the VIO node
# steps the estimator in the executor thread, and keep-last 5 would overflow at 1 kHz during an 8 ms step.
IMU_QUEUE_DEPTH = 1000
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
TF_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
TF_STATIC_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)
REPLAY_QOS = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
REPLAY_LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.TRANSIENT_LOCAL)


def sensor_subscription(node: Node, msg_type: Any, topic: str, callback: Any, *, depth: int | None = None,
                        **kwargs: Any) -> Any:
    """Subscribe with sensor-data QoS (keep last ``depth``, default 5) whose policies a parameter file may override.

    Declares ``qos_overrides.<topic>.subscription.{history,depth,reliability,durability}``
    read-only parameters on ``node`` (rclpy does this when the options are passed). rclpy
    writes the overrides into the profile it is given, so each endpoint gets its own copy.
    """
    profile = copy.copy(SENSOR_QOS)
    if depth is not None:
        profile.depth = depth
    return node.create_subscription(msg_type, topic, callback, profile,
                                    qos_overriding_options=QoSOverridingOptions.with_default_policies(),
                                    **kwargs)


def output_publisher(node: Node, msg_type: Any, topic: str, **kwargs: Any) -> Any:
    """Publisher with the output profile (reliable, depth 10), overridable like subscriptions."""
    return node.create_publisher(msg_type, topic, copy.copy(OUTPUT_QOS),
                                 qos_overriding_options=QoSOverridingOptions.with_default_policies(), **kwargs)
