"""Camera and IMU inputs unlike the training rig's, through the node over DDS.

``vio.image_transport: compressed``: the node reads sensor_msgs/CompressedImage on ``image_topic/compressed``
and, fed PNG (lossless), publishes the poses it publishes from the raw Image stream; a payload that does not
decode is counted and the node goes on. A 60 Hz camera reaches the estimator thinned to 30 Hz
(``sync.target_frame_rate_hz``), the skipped images counted, nothing counted as dropped. A gyro and an
accelerometer on two topics (``vio.accel_topic``, a RealSense at ``unite_imu_method: none``) are joined into the
samples one combined topic gives."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from nav_msgs.msg import Odometry
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, Imu

from arvr_hybrid_vio.core.synth.camera import CameraConfig
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence
from arvr_hybrid_vio.nodes.vio_node import VioNode
from arvr_hybrid_vio.ros.conversions import arrays_to_imu, ns_to_time, numpy_to_image
from node_helpers import spinning, wait_for

PREFIX = "/compressed_test"
HYBRID = Path(__file__).resolve().parents[1] / "models" / "hybrid.safetensors"
RELIABLE = QoSProfile(depth=2000, reliability=ReliabilityPolicy.RELIABLE)
pytestmark = pytest.mark.timeout(180)


def png_message(image: np.ndarray, stamp_ns: int) -> CompressedImage:
    encoded, payload = cv2.imencode(".png", image)
    assert encoded
    message = CompressedImage(format="mono8; png compressed ")
    message.header.stamp = ns_to_time(stamp_ns)
    message.data = payload.tobytes()
    return message


@pytest.fixture(scope="module")
def sequence() -> object:
    return generate_sequence(SynthConfig(motion=MotionConfig(motion="head", duration_s=2.5, rest_s=0.6)), seed=5)


def run_node(sequence: object, transport: str, *, image_stamps_ns: np.ndarray | None = None, accel_every: int = 0,
             **extra: object) -> tuple[list[tuple[int, tuple[float, ...]]], dict[str, object]]:
    """Stream ``sequence`` to a VioNode (shipped hybrid) over DDS as ``transport``; its odometry
    (stamp, position) and its /diagnostics values, after one undecodable image at the end (compressed only).
    ``image_stamps_ns`` replaces the images' stamps; ``accel_every`` > 0 publishes the gyro alone on the IMU
    topic and every ``accel_every``-th accelerometer sample on ``PREFIX/accel`` (``vio.accel_topic``);
    ``extra``: more parameters."""
    context = rclpy.Context()
    rclpy.init(context=context)
    image_topic = f"{PREFIX}/image"
    subscribed = image_topic if transport == "raw" else f"{image_topic}/compressed"
    parameters = {"vio.image_topic": image_topic, "vio.image_transport": transport, "vio.imu_topic": f"{PREFIX}/imu",
                  "vio.accel_topic": f"{PREFIX}/accel" if accel_every else "",
                  "vio.model_path": str(HYBRID), "estimator.device": "cpu", **extra}
    parameters.update({f"qos_overrides.{topic}.subscription.{key}": value
                       for topic in (subscribed, f"{PREFIX}/imu", f"{PREFIX}/accel")
                       for key, value in (("reliability", "reliable"), ("depth", 2000))})
    node = VioNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in parameters.items()])
    driver = rclpy.create_node("compressed_driver", context=context)
    image_pub = driver.create_publisher(Image if transport == "raw" else CompressedImage, subscribed, RELIABLE)
    imu_pub = driver.create_publisher(Imu, f"{PREFIX}/imu", RELIABLE)
    accel_pub = driver.create_publisher(Imu, f"{PREFIX}/accel", RELIABLE)
    poses: list[tuple[int, tuple[float, ...]]] = []

    def on_odometry(msg: Odometry) -> None:
        position = msg.pose.pose.position
        poses.append((msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, (position.x, position.y, position.z)))
    driver.create_subscription(Odometry, "/vio/odometry", on_odometry, RELIABLE)
    with spinning(context, node, driver):
        wait_for(lambda: image_pub.get_subscription_count() > 0 and imu_pub.get_subscription_count() > 0
                 and (not accel_every or accel_pub.get_subscription_count() > 0)
                 and node.count_subscribers("/vio/odometry") > 0, 20.0, "discovery")
        image_stamps = sequence.image_stamps_ns if image_stamps_ns is None else image_stamps_ns
        events = sorted([(int(s), 1, i) for i, s in enumerate(sequence.imu_stamps_ns)]
                        + [(int(s), 0, i) for i, s in enumerate(image_stamps)])
        for stamp, kind, index in events:
            if kind == 0:
                image = sequence.images[index]
                image_pub.publish(numpy_to_image(image, "mono8", stamp_ns=stamp) if transport == "raw"
                                  else png_message(image, stamp))
            elif not accel_every:
                imu_pub.publish(arrays_to_imu(stamp, sequence.gyro[index], sequence.accel[index]))
                time.sleep(0.0005)
            else:  # as a RealSense publishes them apart: the other vector zero
                if index % accel_every == 0:
                    accel_pub.publish(arrays_to_imu(stamp, np.zeros(3), sequence.accel[index]))
                imu_pub.publish(arrays_to_imu(stamp, sequence.gyro[index], np.zeros(3)))
                time.sleep(0.0005)
        images = len(sequence.image_stamps_ns)
        wait_for(lambda: node.counters.snapshot()["images_received"] == images, 30.0, "every image")
        rate_hz = 1e9 / float(np.median(np.diff(sequence.image_stamps_ns)))
        frames = images // max(1, round(rate_hz / 30.0))  # what reaches the estimator
        wait_for(lambda: len(poses) >= frames - 16, 60.0, "the odometry")  # 0.5 s initialise, the first anchors
        time.sleep(1.0)  # nothing more is on its way
        if transport == "compressed":
            broken = png_message(sequence.images[-1], int(sequence.image_stamps_ns[-1]) + 33_000_000)
            broken.data = bytes(broken.data)[:100]
            image_pub.publish(broken)
            wait_for(lambda: node.counters.snapshot()["images_rejected_data"] == 1, 10.0, "the broken image")
        return poses, node.health().values


def test_compressed_transport_gives_the_raw_streams_poses(sequence: object) -> None:
    raw, raw_counters = run_node(sequence, "raw")
    compressed, counters = run_node(sequence, "compressed")
    assert len(raw) == len(sequence.image_stamps_ns) - 15 > 40
    assert [stamp for stamp, _ in compressed] == [stamp for stamp, _ in raw]
    np.testing.assert_array_equal(np.array([p for _, p in compressed]), np.array([p for _, p in raw]))
    assert counters["images_rejected_data"] == "1" and raw_counters["images_rejected_data"] == "0"
    assert counters["images_rejected_encoding"] == raw_counters["images_rejected_encoding"] == "0"


def test_a_60_hz_camera_reaches_the_estimator_at_30_hz_and_nothing_is_dropped() -> None:
    fast = generate_sequence(SynthConfig(motion=MotionConfig(motion="head", duration_s=2.5, rest_s=0.6),
                                         camera=CameraConfig(rate_hz=60.0)), seed=5)
    poses, values = run_node(fast, "raw")
    images = len(fast.image_stamps_ns)
    assert abs(np.median(np.diff([stamp for stamp, _ in poses])) - 1e9 / 30.0) < 1e6
    # the first four images are kept while the camera's period is learned, then every second one
    assert int(values["sync.images_decimated"]) == len(range(4, images, 2)) > 60  # images 4, 6, 8, ...
    assert int(values["sync.images_in"]) == images == sum(  # every image a frame, the first's anchor, or thinned out
        int(values[f"sync.{key}"]) for key in ("frames_out", "frames_anchor", "images_decimated"))
    assert values["dropped_total"] == "0" and values["sync.camera_frames_missing"] == "0"


def test_smoothed_camera_stamps_reach_the_odometry_and_the_tracking_at_arrival_still_matches(sequence: object) -> None:
    """``sync.camera_stamp_smoothing`` over DDS: images stamped with +-2 ms of jitter come out as odometry on the
    camera's steady clock (within 1 ms of the true stamps once the fit has its images, against up to 2 ms), and
    the tracks made when each image arrived (keyed by the stamp its frame will carry) are the ones used."""
    true = np.asarray(sequence.image_stamps_ns, dtype=np.int64)
    jittered = true + np.random.default_rng(2).integers(-2_000_000, 2_000_001, true.size)
    poses, values = run_node(sequence, "raw", image_stamps_ns=jittered, **{"sync.camera_stamp_smoothing": True})
    stamps = np.array([stamp for stamp, _ in poses], dtype=np.int64)
    nearest = true[np.searchsorted(true, stamps - 16_000_000)]
    assert len(stamps) > 40 and np.abs(stamps - nearest)[-25:].max() < 1_000_000
    assert not set(stamps.tolist()) & set(jittered.tolist())  # every odometry stamp a smoothed one
    assert int(values["source.tracks_offered_used"]) > 30 and values["dropped_total"] == "0"


def test_a_gyro_and_an_accelerometer_on_two_topics_are_joined_into_the_combined_samples(sequence: object) -> None:
    """Both at the same stamps, the joined stream is the combined one: the same poses, digit for digit. With the
    accelerometer at a quarter of the rate (50 Hz, interpolated at each gyro stamp) the poses stay within 2 mm."""
    combined, _ = run_node(sequence, "raw")
    apart, values = run_node(sequence, "raw", accel_every=1)
    assert len(combined) > 40 and [stamp for stamp, _ in apart] == [stamp for stamp, _ in combined]
    np.testing.assert_array_equal(np.array([p for _, p in apart]), np.array([p for _, p in combined]))
    samples = len(sequence.imu_stamps_ns)
    assert values["imu_received"] == values["accel_received"] == str(samples)
    assert values["imu_join.gyro_without_accel"] == values["imu_join.out_of_order"] == "0"
    assert values["dropped_total"] == "0"
    slow, values = run_node(sequence, "raw", accel_every=4)
    assert [stamp for stamp, _ in slow] == [stamp for stamp, _ in combined]
    difference = np.linalg.norm(np.array([p for _, p in slow]) - np.array([p for _, p in combined]), axis=1)
    assert 0 < difference.max() < 0.002  # interpolated, not the same samples
    assert values["accel_received"] == str(len(range(0, samples, 4)))
    assert int(values["imu_join.gyro_waiting"]) <= 3 and values["imu_join.out_of_order"] == "0"
