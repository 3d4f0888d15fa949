"""Each shipped parameter file starts the real VIO node (rclpy parameters from the YAML, as
`--params-file` gives them) with the configuration the offline tools read from the same file."""
from __future__ import annotations

from pathlib import Path

import pytest
import rclpy

from arvr_hybrid_vio.nodes.vio_node import VioNode
from arvr_hybrid_vio.nodes.vio_node_config import load_node_configs
from arvr_hybrid_vio.ros.qos import IMU_QUEUE_DEPTH

CONFIG = Path(__file__).resolve().parents[1] / "config"


@pytest.mark.parametrize("name", ["vio_rig", "vio_euroc", "vio_tumvi", "vio_synthetic"])
def test_parameter_file_configures_the_node(name: str) -> None:
    path = CONFIG / f"{name}.yaml"
    context = rclpy.Context()
    rclpy.init(args=["--ros-args", "--params-file", str(path)], context=context)
    try:
        node = VioNode(context=context)
        try:
            expected = load_node_configs(path)
            assert node.config == expected.vio
            assert node.buffer.config == expected.sync
            assert node.estimator.config == expected.estimator
            assert node.model_path.endswith("hybrid.safetensors")  # "" = the installed default
            assert node.estimator.source.rig_camera == expected.vio.rig_camera()
            (imu_subscription,) = [s for s in node.subscriptions if s.topic_name == expected.vio.imu_topic]
            if name == "vio_rig":  # no QoS override: sensor QoS, deep enough for 1 kHz IMU during a step
                assert imu_subscription.qos_profile.depth == IMU_QUEUE_DEPTH
            if name in ("vio_euroc", "vio_tumvi"):  # their real calibrations reach the estimator
                camera = node.estimator.source.rig_camera
                assert (camera.width, camera.height) == tuple(expected.vio.camera_resolution)
                assert camera.distortion_model == ("plumb_bob" if name == "vio_euroc" else "equidistant")
        finally:
            node.stop()
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
