"""Image, Imu and Time conversions: round trips for every encoding, padded rows, big-endian, errors."""
from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image, Imu

from arvr_hybrid_vio.core.errors import SensorDataError
from arvr_hybrid_vio.ros.conversions import (
    ENCODINGS,
    ImageConversionError,
    ImuConversionError,
    arrays_to_imu,
    image_to_numpy,
    imu_to_arrays,
    ns_to_time,
    numpy_to_image,
    time_to_ns,
)

REQUIRED_ENCODINGS = ("mono8", "mono16", "rgb8", "bgr8", "32FC1")


def make_pixels(encoding: str, height: int = 5, width: int = 7, seed: int = 0) -> np.ndarray:
    """Random pixels filling the dtype's range, shaped for ``encoding``."""
    layout = ENCODINGS[encoding]
    rng = np.random.default_rng(seed)
    shape = (height, width) + ((layout.channels,) if layout.channels > 1 else ())
    if layout.dtype.kind == "f":
        return rng.normal(0.0, 100.0, size=shape).astype(layout.dtype)
    return rng.integers(0, np.iinfo(layout.dtype).max, size=shape, endpoint=True).astype(layout.dtype)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("padding", [0, 5])
def test_image_round_trip(encoding: str, big_endian: bool, padding: int) -> None:
    pixels = make_pixels(encoding)
    row_bytes = pixels[0].nbytes
    msg = numpy_to_image(pixels, encoding, stamp_ns=1_700_000_000_123_456_789, frame_id="cam0",
                         big_endian=big_endian, step=row_bytes + padding)
    wire = deserialize_message(serialize_message(msg), Image)  # through CDR, as a subscriber sees it
    assert wire.step == row_bytes + padding and len(wire.data) == wire.step * wire.height
    assert wire.is_bigendian == int(big_endian) and wire.header.frame_id == "cam0"
    back = image_to_numpy(wire)
    assert back.dtype == pixels.dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("encoding", REQUIRED_ENCODINGS)
def test_hand_built_padded_image_decodes(encoding: str) -> None:
    """Bytes written by hand (not by numpy_to_image), with garbage in the row padding."""
    layout = ENCODINGS[encoding]
    pixels = make_pixels(encoding, height=3, width=4, seed=1)
    row = pixels.reshape(3, -1).astype(layout.dtype.newbyteorder(">"))
    padding = np.full((3, 3), 0xAB, dtype=np.uint8)
    data = np.concatenate([row.view(np.uint8).reshape(3, -1), padding], axis=1).tobytes()
    msg = Image(height=3, width=4, encoding=encoding, is_bigendian=1, step=len(data) // 3, data=data)
    np.testing.assert_array_equal(image_to_numpy(msg), pixels)


def test_big_endian_mono16_byte_order() -> None:
    msg = Image(height=1, width=2, encoding="mono16", is_bigendian=1, step=4, data=bytes([0x01, 0x02, 0xFF, 0x00]))
    np.testing.assert_array_equal(image_to_numpy(msg), np.array([[0x0102, 0xFF00]], dtype=np.uint16))
    msg.is_bigendian = 0
    np.testing.assert_array_equal(image_to_numpy(msg), np.array([[0x0201, 0x00FF]], dtype=np.uint16))


def test_rgb_and_bgr_keep_channel_order() -> None:
    pixels = np.zeros((1, 1, 3), dtype=np.uint8)
    pixels[0, 0] = (10, 20, 30)
    for encoding in ("rgb8", "bgr8"):
        msg = numpy_to_image(pixels, encoding)
        assert bytes(msg.data) == bytes([10, 20, 30])
        assert tuple(image_to_numpy(msg)[0, 0]) == (10, 20, 30)


def test_truncated_image_raises_named_error() -> None:
    msg = numpy_to_image(make_pixels("mono16"), "mono16", step=20)
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(ImageConversionError, match="fewer than step 20 x height 5"):
        image_to_numpy(msg)


def test_step_smaller_than_row_raises() -> None:
    msg = numpy_to_image(make_pixels("rgb8"), "rgb8")
    msg.step = msg.width * 3 - 1
    with pytest.raises(ImageConversionError, match="smaller than width"):
        image_to_numpy(msg)


def test_unknown_encoding_raises_catchable_sensor_error() -> None:
    msg = Image(height=1, width=1, encoding="bayer_rggb8", step=1, data=b"\x00")
    with pytest.raises(SensorDataError, match="unsupported image encoding 'bayer_rggb8'"):
        image_to_numpy(msg)
    with pytest.raises(ImageConversionError):
        numpy_to_image(np.zeros((2, 2), np.uint8), "yuv422_yuy2")


def test_pixels_not_matching_encoding_raise() -> None:
    with pytest.raises(ImageConversionError, match="'mono8' needs 1 channel"):
        numpy_to_image(np.zeros((2, 2), np.uint16), "mono8")
    with pytest.raises(ImageConversionError, match="'rgb8' needs 3"):
        numpy_to_image(np.zeros((2, 2), np.uint8), "rgb8")


def test_converted_image_owns_its_memory() -> None:
    msg = numpy_to_image(make_pixels("mono8"), "mono8")
    pixels = image_to_numpy(msg)
    pixels[0, 0] ^= 0xFF  # writable, and does not alias the message
    assert pixels[0, 0] != msg.data[0]


@pytest.mark.parametrize("stamp_ns", [0, 1, 999_999_999, 1_000_000_000, 1_714_741_164_111_822_142, -1, -1_500_000_000])
def test_time_round_trip(stamp_ns: int) -> None:
    stamp = ns_to_time(stamp_ns)
    assert 0 <= stamp.nanosec < 1_000_000_000
    assert time_to_ns(deserialize_message(serialize_message(stamp), Time)) == stamp_ns


def test_time_out_of_range_raises() -> None:
    with pytest.raises(SensorDataError, match="int32 seconds"):
        ns_to_time(2**31 * 1_000_000_000)


def test_imu_round_trip() -> None:
    gyro, accel = np.array([0.1, -0.2, 0.3]), np.array([0.5, 9.81, -1.25])
    msg = arrays_to_imu(1_714_741_164_111_822_142, gyro, accel, frame_id="imu0", gyro_variance=1e-4)
    wire = deserialize_message(serialize_message(msg), Imu)
    sample = imu_to_arrays(wire)
    assert sample.stamp_ns == 1_714_741_164_111_822_142
    np.testing.assert_array_equal(sample.gyro_rad_s, gyro)
    np.testing.assert_array_equal(sample.accel_m_s2, accel)
    assert wire.header.frame_id == "imu0" and wire.orientation_covariance[0] == -1.0
    assert wire.angular_velocity_covariance[4] == pytest.approx(1e-4)


def test_imu_errors() -> None:
    with pytest.raises(ImuConversionError, match=r"gyro_rad_s must have shape \(3,\)"):
        arrays_to_imu(0, np.zeros(2), np.zeros(3))
    msg = arrays_to_imu(5, np.zeros(3), np.zeros(3))
    msg.linear_acceleration.y = float("nan")
    with pytest.raises(ImuConversionError, match="non-finite"):
        imu_to_arrays(msg)


def test_imu_parts_read_only_the_vector_asked_for() -> None:
    """A driver that publishes the gyro and the accelerometer apart (``vio.accel_topic``) leaves the other vector
    unset, sometimes NaN: reading one part ignores the other and returns it as zeros."""
    cases = [("gyro", "accel", "linear_acceleration", "x", np.array([0.1, 0.2, 0.3]), float("nan")),
             ("accel", "gyro", "angular_velocity", "z", np.array([0.0, 9.81, 0.5]), float("inf"))]
    for part, other, unset_field, axis, values, bad in cases:
        gyro, accel = (values, np.zeros(3)) if part == "gyro" else (np.zeros(3), values)
        msg = arrays_to_imu(5, gyro, accel)
        setattr(getattr(msg, unset_field), axis, bad)
        sample = imu_to_arrays(msg, part=part)
        np.testing.assert_array_equal(sample.gyro_rad_s if part == "gyro" else sample.accel_m_s2, values)
        np.testing.assert_array_equal(sample.accel_m_s2 if part == "gyro" else sample.gyro_rad_s, np.zeros(3))
        for refused in (other, "both"):
            with pytest.raises(ImuConversionError, match="non-finite"):
                imu_to_arrays(msg, part=refused)
    with pytest.raises(ValueError, match="part must be one of"):
        imu_to_arrays(msg, part="magnetometer")
