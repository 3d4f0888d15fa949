"""imu_messages.imu_sample reads the same stamp and vectors from CDR bytes as rosbags' full decode, and
declines (None) what it does not recognise, so that arvr-vio-infer falls back to rosbags there."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from arvr_hybrid_vio.core.sync_buffer import SyncConfig
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence
from arvr_hybrid_vio.io.bags import open_bag, read_messages, typestore
from arvr_hybrid_vio.io.image_messages import IMAGE_TYPE
from arvr_hybrid_vio.io.imu_messages import imu_sample
from arvr_hybrid_vio.io.sensor_bags import imu_message, streams_from_sequence, write_sensor_bag
from arvr_hybrid_vio.tools import infer

IMU = "sensor_msgs/msg/Imu"


def _message(stamp_ns: int, frame_id: str, rng: np.random.Generator) -> object:
    message = imu_message(stamp_ns, rng.normal(size=3), rng.normal(size=3) * 10.0, gyro_var=1e-4, accel_var=1e-3)
    return dataclasses.replace(message, header=dataclasses.replace(message.header, frame_id=frame_id))


@pytest.mark.parametrize("frame_id", ["", "i", "im", "imu", "imu0", "imu_0", "imu_lk", "imu_link", "rig/imu_link_9"])
def test_same_values_as_rosbags_for_every_alignment_of_the_frame_id(frame_id: str) -> None:
    rng = np.random.default_rng(len(frame_id))
    for stamp_ns in (0, 1_700_000_000_123_456_789, 5 * 10**9 + 999_999_999, -3 * 10**9 + 7):
        raw = bytes(typestore().serialize_cdr(_message(stamp_ns, frame_id, rng), IMU))
        decoded = typestore().deserialize_cdr(raw, IMU)
        stamp, velocity, acceleration = imu_sample(raw)
        assert stamp == decoded.header.stamp.sec * 10**9 + decoded.header.stamp.nanosec == stamp_ns
        v, a = decoded.angular_velocity, decoded.linear_acceleration
        assert velocity == (v.x, v.y, v.z) and acceleration == (a.x, a.y, a.z)  # bit for bit


def test_declines_what_it_does_not_recognise() -> None:
    rng = np.random.default_rng(0)
    message = _message(123, "imu0", rng)
    raw = bytes(typestore().serialize_cdr(message, IMU))
    big_endian = bytes(typestore().serialize_cdr(message, IMU, little_endian=False))
    assert typestore().deserialize_cdr(big_endian, IMU).angular_velocity.x == message.angular_velocity.x
    assert imu_sample(big_endian) is None  # rosbags decodes it; this leaves it to rosbags
    assert imu_sample(b"\x00\x07\x00\x00" + raw[4:]) is None  # XCDR2 encapsulation
    assert imu_sample(raw[:-1]) is None and imu_sample(raw[:10]) is None and imu_sample(b"") is None
    assert imu_sample(raw + bytes(8)) is None  # longer than an Imu: another layout
    assert imu_sample(raw + bytes(3)) is not None  # CDR's trailing padding is allowed, as rosbags allows it
    image = IMAGE_TYPE
    assert imu_sample(bytes(typestore().serialize_cdr(typestore().types[image](
        header=message.header, height=2, width=2, encoding="mono8", is_bigendian=0, step=2,
        data=np.zeros(4, dtype=np.uint8)), image))) is None


def test_infer_reads_the_same_frames_with_and_without_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sequence = generate_sequence(SynthConfig(motion=MotionConfig(motion="head", duration_s=1.5, rest_s=0.5)), seed=3)
    bag = write_sensor_bag(tmp_path / "bag", streams_from_sequence(sequence))
    with open_bag(bag) as opened:
        assert all(imu_sample(m.rawdata) is not None for m in read_messages(opened, ["/imu0"]))  # the fast path ran

    def frames() -> list:
        with open_bag(bag) as opened:
            return list(infer.bag_frames(str(bag), opened, image_topic="/cam0/image_raw", imu_topic="/imu0",
                                         sync=SyncConfig(), progress=False))

    fast = frames()
    monkeypatch.setattr(infer, "imu_sample", lambda raw: None)  # every IMU message through rosbags
    slow = frames()
    assert len(fast) == len(slow) > 20
    for one, other in zip(fast, slow):
        assert one.stamp_ns == other.stamp_ns
        np.testing.assert_array_equal(one.imu_stamps_ns, other.imu_stamps_ns)
        np.testing.assert_array_equal(one.gyro_rad_s, other.gyro_rad_s)
        np.testing.assert_array_equal(one.accel_m_s2, other.accel_m_s2)
