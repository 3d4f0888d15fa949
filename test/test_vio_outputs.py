"""VioOutputs over a real rclpy node: estimates leave in base_link through the extrinsic (none when
base_link is the IMU) and non-finite ones are never published, counted instead."""
from __future__ import annotations

import numpy as np
import pytest
import rclpy

from arvr_hybrid_vio.nodes.vio_health import NodeCounters
from arvr_hybrid_vio.nodes.vio_node_config import IDENTITY_4X4, VioNodeConfig, estimate_in_base
from arvr_hybrid_vio.nodes.vio_outputs import VioOutputs
from test_vio_node_config import make_estimate, rigid


@pytest.fixture()
def node():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("vio_outputs_test", context=context)
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


def _outputs(node, T_base_imu: tuple[float, ...]) -> tuple[VioOutputs, NodeCounters]:
    counters = NodeCounters()
    config = VioNodeConfig(T_base_imu=T_base_imu, publish_static_tf=False)
    return VioOutputs(node, config, counters), counters


def test_estimates_are_moved_to_base_link_by_the_extrinsic_and_left_alone_without_one(node) -> None:
    estimate = make_estimate()
    identity, _ = _outputs(node, IDENTITY_4X4)
    assert identity._in_base(estimate) is estimate
    T_base_imu = rigid([0.0, 0.0, np.pi / 2], [0.1, 0.0, 0.0])
    moved, _ = _outputs(node, tuple(T_base_imu.reshape(16)))
    base, expected = moved._in_base(estimate), estimate_in_base(estimate, T_base_imu)
    assert base is not estimate
    for name in ("position_xyz", "quat_wxyz", "linear_velocity_xyz", "angular_velocity_xyz", "pose_covariance",
                 "twist_covariance"):
        np.testing.assert_allclose(getattr(base, name), getattr(expected, name), rtol=0, atol=1e-12)


def test_a_non_finite_estimate_is_counted_not_published(node) -> None:
    outputs, counters = _outputs(node, IDENTITY_4X4)
    outputs.publish_imu_rate(make_estimate(position_xyz=np.array([0.0, np.nan, 0.0])))
    outputs.publish_imu_rate(make_estimate(twist_covariance=np.full((6, 6), np.inf)))
    outputs.publish_imu_rate(make_estimate())
    snapshot = counters.snapshot()
    assert snapshot["outputs_nonfinite"] == 2 and snapshot["imu_rate_published"] == 1
