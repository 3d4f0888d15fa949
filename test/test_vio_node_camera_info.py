"""CameraInfo over DDS reaches the VIO node's estimator as the rig camera; an unusable calibration is
counted and logged, and the node keeps its previous camera."""
from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, Imu

from arvr_hybrid_vio.core.model.camera_input import CameraModel
from arvr_hybrid_vio.nodes.vio_node import VioNode
from arvr_hybrid_vio.ros.conversions import arrays_to_imu, numpy_to_image
from node_helpers import spinning, wait_for

PREFIX = "/camera_info_test"
T0_NS = 2_000_000_000_000
IMU_PERIOD_NS, FRAME_PERIOD_NS = 5_000_000, 50_000_000
RELIABLE = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
pytestmark = pytest.mark.timeout(120)


def camera_info(model: str, distortion: list[float]) -> CameraInfo:
    return CameraInfo(width=80, height=64, distortion_model=model, d=distortion,
                      k=[60.0, 0.0, 39.5, 0.0, 61.0, 31.5, 0.0, 0.0, 1.0])


def test_camera_info_sets_the_rig_camera_and_a_bad_one_is_refused():
    context = rclpy.Context()
    rclpy.init(context=context)
    topics = {"vio.image_topic": f"{PREFIX}/image", "vio.imu_topic": f"{PREFIX}/imu",
              "vio.camera_info_topic": f"{PREFIX}/camera_info"}
    qos = {f"qos_overrides.{topic}.subscription.{key}": value for topic in topics.values()
           for key, value in (("reliability", "reliable"), ("depth", 1000))}
    node = VioNode(context=context, parameter_overrides=[
        Parameter(name, value=value) for name, value in {**topics, **qos}.items()])
    driver = rclpy.create_node("camera_info_driver", context=context)
    info_pub = driver.create_publisher(CameraInfo, topics["vio.camera_info_topic"], RELIABLE)
    image_pub = driver.create_publisher(Image, topics["vio.image_topic"], RELIABLE)
    imu_pub = driver.create_publisher(Imu, topics["vio.imu_topic"], RELIABLE)
    with spinning(context, node, driver):  # vio.executor's default (auto: the EventsExecutor here)
        wait_for(lambda: all(p.get_subscription_count() > 0 for p in (info_pub, image_pub, imu_pub)), 20.0,
                 "discovery")
        assert node.estimator.source.rig_camera is None  # no calibration yet: the training camera
        info_pub.publish(camera_info("kannala_brandt", [0.1, 0.0, 0.0, 0.0]))
        wait_for(lambda: node.counters.snapshot()["camera_info_rejected"] == 1, 10.0, "the bad calibration")
        info_pub.publish(camera_info("plumb_bob", [-0.2, 0.05, 0.0, 0.0, 0.0]))
        wait_for(lambda: node.counters.snapshot()["camera_info_received"] == 2, 10.0, "the good calibration")
        texture = np.random.default_rng(0).integers(0, 255, (64, 80), dtype=np.uint8)
        for slot in range(int(1.5e9 / IMU_PERIOD_NS)):  # 1.5 s: initialise, then track
            stamp = T0_NS + slot * IMU_PERIOD_NS
            if slot % (FRAME_PERIOD_NS // IMU_PERIOD_NS) == 0:
                image_pub.publish(numpy_to_image(np.roll(texture, slot // 10, axis=1), "mono8", stamp_ns=stamp))
            imu_pub.publish(arrays_to_imu(stamp, np.array([0.0, 0.0, 0.1]), np.array([0.0, 0.0, 9.81])))
            time.sleep(0.001)
        wait_for(lambda: node.counters.snapshot()["odometry_published"] > 5, 20.0, "tracking")
        expected = CameraModel(80, 64, 60.0, 61.0, 39.5, 31.5, (-0.2, 0.05, 0.0, 0.0, 0.0),
                               node.config.camera_rotation_imu())
        assert node.estimator.source.rig_camera == expected
        assert node.counters.snapshot()["camera_info_rejected"] == 1
        assert node.counters.snapshot()["path_published"] == 0  # nobody subscribed to /vio/path: not converted
