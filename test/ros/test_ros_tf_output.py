"""TF output over real DDS: /tf reaches a subscriber, /tf_static reaches a late one."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from arvr_hybrid_vio.ros.builders import transform_stamped
from arvr_hybrid_vio.ros.conversions import time_to_ns
from arvr_hybrid_vio.ros.qos import (
    IMU_QUEUE_DEPTH, OUTPUT_QOS, SENSOR_QOS, TF_QOS, TF_STATIC_QOS, output_publisher, sensor_subscription)
from arvr_hybrid_vio.ros.tf_output import TfOutput

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


@pytest.fixture()
def context() -> Iterator[Context]:
    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def spin_until(executor: SingleThreadedExecutor, done: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)


def test_tf_and_static_tf_received(context: Context) -> None:
    sender, listener = Node("tf_sender", context=context), Node("tf_listener", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(sender)
    executor.add_node(listener)
    output = TfOutput(sender)
    assert not output.uses_tf2_ros  # tf2_ros is not in the venv; the TFMessage fallback is what runs here
    output.send_static(transform_stamped(1, "base_link", "imu", np.zeros(3), IDENTITY))
    output.send_static([transform_stamped(1, "base_link", "cam0", np.array([0.1, 0, 0]), IDENTITY)])

    dynamic: list[TFMessage] = []
    static: list[TFMessage] = []
    listener.create_subscription(TFMessage, "/tf", dynamic.append, TF_QOS)
    listener.create_subscription(TFMessage, "/tf_static", static.append, TF_STATIC_QOS)  # joins after sending
    publisher = output._tf_publisher
    spin_until(executor, lambda: publisher.get_subscription_count() > 0 and bool(static))
    for stamp in (10, 20, 30):
        output.send(transform_stamped(stamp, "odom", "base_link", np.array([stamp, 0.0, 0.0]), IDENTITY))
    spin_until(executor, lambda: len(dynamic) == 3)

    assert [time_to_ns(m.transforms[0].header.stamp) for m in dynamic] == [10, 20, 30]
    assert dynamic[2].transforms[0].transform.translation.x == 30.0
    assert sorted(t.child_frame_id for t in static[-1].transforms) == ["cam0", "imu"]  # accumulated
    executor.shutdown()
    sender.destroy_node()
    listener.destroy_node()


def test_qos_profiles_and_overridable_endpoints(context: Context) -> None:
    node = Node("qos_node", context=context)
    sensor_subscription(node, TFMessage, "/imu_like", lambda _msg: None)
    output_publisher(node, TFMessage, "/odom_like")
    # the overriding options declare read-only qos_overrides parameters a YAML can set
    assert node.has_parameter("qos_overrides./imu_like.subscription.reliability")
    assert node.has_parameter("qos_overrides./odom_like.publisher.depth")
    assert node.get_parameter("qos_overrides./imu_like.subscription.reliability").value == "best_effort"
    assert OUTPUT_QOS.depth == 10 and SENSOR_QOS.depth == 5
    assert TF_STATIC_QOS.durability.name == "TRANSIENT_LOCAL"
    node.destroy_node()


def test_an_override_changes_only_its_own_endpoint(context: Context) -> None:
    """rclpy writes qos_overrides into the profile object it is given: the shared profiles stay untouched."""
    overrides = [Parameter("qos_overrides./imu_like.subscription.reliability", value="reliable"),
                 Parameter("qos_overrides./imu_like.subscription.depth", value=2000),
                 Parameter("qos_overrides./odom_like.publisher.depth", value=77)]
    node = Node("qos_override_node", context=context, parameter_overrides=overrides)
    overridden = sensor_subscription(node, TFMessage, "/imu_like", lambda _msg: None)
    plain = sensor_subscription(node, TFMessage, "/other_like", lambda _msg: None)
    deep = sensor_subscription(node, TFMessage, "/deep_like", lambda _msg: None, depth=IMU_QUEUE_DEPTH)
    publisher = output_publisher(node, TFMessage, "/odom_like")
    assert overridden.qos_profile.reliability == ReliabilityPolicy.RELIABLE and overridden.qos_profile.depth == 2000
    assert plain.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT and plain.qos_profile.depth == 5
    assert deep.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT and deep.qos_profile.depth == IMU_QUEUE_DEPTH
    assert publisher.qos_profile.depth == 77
    assert SENSOR_QOS.reliability == ReliabilityPolicy.BEST_EFFORT and SENSOR_QOS.depth == 5
    assert OUTPUT_QOS.depth == 10
    node.destroy_node()
