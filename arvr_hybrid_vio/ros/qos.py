"""The QoS profiles of this package, in one place.

- sensor input (camera, IMU): ``qos_profile_sensor_data`` (best effort, keep last 5),
  overridable per topic at launch with ``QoSOverridingOptions.with_default_policies()``
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


def sensor_subscription(node: Node, msg_type: Any, topic: str, callback: Any, **kwargs: Any) -> Any:
    """Subscribe with sensor-data QoS whose policies a parameter file may override.

    Declares ``qos_overrides.<topic>.subscription.{history,depth,reliability,durability}``
    read-only parameters on ``node`` (rclpy does this when the options are passed). rclpy
    writes the overrides into the profile it is given, so each endpoint gets its own copy.
    """
    return node.create_subscription(msg_type, topic, callback, copy.copy(SENSOR_QOS),
                                    qos_overriding_options=QoSOverridingOptions.with_default_policies(),
                                    **kwargs)


def output_publisher(node: Node, msg_type: Any, topic: str, **kwargs: Any) -> Any:
    """Publisher with the output profile (reliable, depth 10), overridable like subscriptions."""
    return node.create_publisher(msg_type, topic, copy.copy(OUTPUT_QOS),
                                 qos_overriding_options=QoSOverridingOptions.with_default_policies(), **kwargs)
