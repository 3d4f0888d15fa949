"""Convert sensor messages to and from numpy: Image, Imu and builtin_interfaces/Time.

Images: ``mono8``, ``mono16``, ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``8UC1``,
``8UC3``, ``16UC1``, ``32FC1`` and ``64FC1``. Row padding (``step`` larger than
``width * pixel bytes``) and ``is_bigendian`` are honoured. cv_bridge does the
pixel work when it is importable (a ROS install has it); numpy does otherwise,
and both paths check the message first so that a bad one raises
:class:`ImageConversionError` whichever is used.

Stamps are int64 nanoseconds everywhere in this package.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image, Imu

from arvr_hybrid_vio.core.errors import SensorDataError

try:  # cv_bridge ships with ROS installs, not with the PyPI wheels.
    from cv_bridge import CvBridge, CvBridgeError
except ImportError:  # pragma: no cover - depends on the install
    CvBridge = None
    CvBridgeError = Exception

_NS_PER_S = 1_000_000_000


class ImageConversionError(SensorDataError):
    """An Image message cannot be converted: unknown encoding, short data, bad shape."""


class ImuConversionError(SensorDataError):
    """IMU arrays have the wrong shape or are not finite."""


@dataclass(frozen=True)
class ImageEncoding:
    """Pixel layout of one ``sensor_msgs/Image`` encoding."""

    dtype: np.dtype
    channels: int


ENCODINGS: dict[str, ImageEncoding] = {
    "mono8": ImageEncoding(np.dtype(np.uint8), 1),
    "8UC1": ImageEncoding(np.dtype(np.uint8), 1),
    "mono16": ImageEncoding(np.dtype(np.uint16), 1),
    "16UC1": ImageEncoding(np.dtype(np.uint16), 1),
    "rgb8": ImageEncoding(np.dtype(np.uint8), 3),
    "bgr8": ImageEncoding(np.dtype(np.uint8), 3),
    "8UC3": ImageEncoding(np.dtype(np.uint8), 3),
    "rgba8": ImageEncoding(np.dtype(np.uint8), 4),
    "bgra8": ImageEncoding(np.dtype(np.uint8), 4),
    "32FC1": ImageEncoding(np.dtype(np.float32), 1),
    "64FC1": ImageEncoding(np.dtype(np.float64), 1),
}
_bridge: Any = None


# --------------------------------------------------------------------- time

def time_to_ns(stamp: Time) -> int:
    """``builtin_interfaces/Time`` to int nanoseconds."""
    return int(stamp.sec) * _NS_PER_S + int(stamp.nanosec)


def ns_to_time(stamp_ns: int) -> Time:
    """Int nanoseconds to ``builtin_interfaces/Time`` (``nanosec`` always in [0, 1e9)).

    Raises:
        SensorDataError: the stamp does not fit the message's int32 seconds.
    """
    sec, nanosec = divmod(int(stamp_ns), _NS_PER_S)
    if not -(2**31) <= sec < 2**31:
        raise SensorDataError(f"stamp {stamp_ns} ns is outside builtin_interfaces/Time's int32 seconds")
    return Time(sec=sec, nanosec=nanosec)


# -------------------------------------------------------------------- image

def image_encoding(encoding: str) -> ImageEncoding:
    """Layout of a supported encoding.

    Raises:
        ImageConversionError: the encoding is not supported.
    """
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageConversionError(
            f"unsupported image encoding '{encoding}'; supported: {sorted(ENCODINGS)}") from None


def _check_image(msg: Image) -> ImageEncoding:
    """The message's layout, after checking step and data length against it."""
    layout = image_encoding(msg.encoding)
    row_bytes = int(msg.width) * layout.channels * layout.dtype.itemsize
    if msg.step < row_bytes:
        raise ImageConversionError(
            f"image step {msg.step} is smaller than width {msg.width} x {layout.channels} channel(s)"
            f" x {layout.dtype.itemsize} byte(s) = {row_bytes} for '{msg.encoding}'")
    needed = int(msg.step) * int(msg.height)
    if len(msg.data) < needed:
        raise ImageConversionError(
            f"image data has {len(msg.data)} bytes, fewer than step {msg.step} x height {msg.height} = {needed}")
    return layout


def image_to_numpy(msg: Image) -> np.ndarray:
    """Pixels of an Image message as a native-endian array that owns its memory.

    Shape:
        (H, W) for one channel, (H, W, C) otherwise; channel order as in the encoding.

    Raises:
        ImageConversionError: unknown encoding, ``step`` too small, or data shorter than step x height.
    """
    layout = _check_image(msg)
    if CvBridge is not None:
        return _image_to_numpy_cv_bridge(msg)
    rows = np.frombuffer(msg.data, dtype=np.uint8, count=int(msg.step) * int(msg.height))
    # (H * step,) bytes -> (H, step) -> drop the row padding -> (H, W * C * itemsize)
    rows = rows.reshape(int(msg.height), int(msg.step))[:, : int(msg.width) * layout.channels * layout.dtype.itemsize]
    wire_dtype = layout.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    pixels = np.ascontiguousarray(rows).view(wire_dtype).astype(layout.dtype.newbyteorder("="))
    shape = (int(msg.height), int(msg.width)) + ((layout.channels,) if layout.channels > 1 else ())
    return pixels.reshape(shape)


def numpy_to_image(pixels: np.ndarray, encoding: str, *, stamp_ns: int = 0, frame_id: str = "",
                   big_endian: bool = False, step: int | None = None) -> Image:
    """An Image message holding ``pixels``.

    Args:
        pixels: (H, W) or (H, W, C) array whose dtype and channel count match ``encoding``.
        encoding: one of :data:`ENCODINGS`.
        stamp_ns: header stamp.
        frame_id: header frame.
        big_endian: write multi-byte pixels big-endian (``is_bigendian = 1``).
        step: bytes per row; larger than ``W * C * itemsize`` pads each row with zeros.

    Raises:
        ImageConversionError: dtype, channels or step do not fit the encoding.
    """
    layout = image_encoding(encoding)
    pixels = _checked_pixels(pixels, layout, encoding)
    height, width = pixels.shape[:2]
    row_bytes = width * layout.channels * layout.dtype.itemsize
    step = row_bytes if step is None else int(step)
    if step < row_bytes:
        raise ImageConversionError(f"step {step} is smaller than one row of '{encoding}' ({row_bytes} bytes)")
    wire = pixels.astype(layout.dtype.newbyteorder(">" if big_endian else "<"), copy=False)
    # (H, W[, C]) -> (H, row_bytes) bytes, then pad every row to step
    padded = np.zeros((height, step), dtype=np.uint8)
    padded[:, :row_bytes] = np.ascontiguousarray(wire).view(np.uint8).reshape(height, row_bytes)
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=int(big_endian), step=step)
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.data = padded.tobytes()
    return msg


def _checked_pixels(pixels: np.ndarray, layout: ImageEncoding, encoding: str) -> np.ndarray:
    pixels = np.asarray(pixels)
    channels = 1 if pixels.ndim == 2 else (pixels.shape[2] if pixels.ndim == 3 else -1)
    if channels != layout.channels or pixels.dtype != layout.dtype:
        raise ImageConversionError(
            f"'{encoding}' needs {layout.channels} channel(s) of {layout.dtype}, got shape {pixels.shape}"
            f" of {pixels.dtype}")
    return pixels


def _image_to_numpy_cv_bridge(msg: Image) -> np.ndarray:  # pragma: no cover - needs cv_bridge
    global _bridge
    if _bridge is None:
        _bridge = CvBridge()
    try:
        pixels = _bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough")
    except CvBridgeError as exc:
        raise ImageConversionError(f"cv_bridge cannot convert '{msg.encoding}' image: {exc}") from exc
    return np.array(pixels, dtype=pixels.dtype.newbyteorder("="), copy=True)


# ---------------------------------------------------------------------- imu

@dataclass(frozen=True)
class ImuSample:
    """One IMU reading as arrays: stamp, angular velocity (rad/s), specific force (m/s^2)."""

    stamp_ns: int
    gyro_rad_s: np.ndarray
    accel_m_s2: np.ndarray


IMU_PARTS = ("both", "gyro", "accel")  # what an Imu message is read for (imu_to_arrays)


def imu_to_arrays(msg: Imu, *, part: str = "both") -> ImuSample:
    """Stamp, gyro (3,) and accel (3,) of an Imu message, float64.

    ``part``: "both", or "gyro" / "accel" for a driver that publishes them on two topics (the other
    vector is then not read, and comes back as zeros).

    Raises:
        ImuConversionError: a value read is NaN or infinite.
    """
    if part not in IMU_PARTS:
        raise ValueError(f"part must be one of {IMU_PARTS}, not {part!r}")
    gyro, accel = np.zeros(3), np.zeros(3)
    if part != "accel":
        gyro = np.array([msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z], dtype=np.float64)
    if part != "gyro":
        accel = np.array([msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z],
                         dtype=np.float64)
    if not (np.isfinite(gyro).all() and np.isfinite(accel).all()):
        raise ImuConversionError(f"Imu message at {time_to_ns(msg.header.stamp)} ns has non-finite values")
    return ImuSample(time_to_ns(msg.header.stamp), gyro, accel)


def arrays_to_imu(stamp_ns: int, gyro_rad_s: np.ndarray, accel_m_s2: np.ndarray, *, frame_id: str = "imu",
                  gyro_variance: float = 0.0, accel_variance: float = 0.0) -> Imu:
    """An Imu message without orientation (``orientation_covariance[0] = -1``, as REP-145 asks).

    Raises:
        ImuConversionError: gyro or accel is not a (3,) vector.
    """
    gyro, accel = _vec3(gyro_rad_s, "gyro_rad_s"), _vec3(accel_m_s2, "accel_m_s2")
    msg = Imu()
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = (float(v) for v in gyro)
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = (float(v) for v in accel)
    msg.orientation_covariance[0] = -1.0
    msg.angular_velocity_covariance = np.diag([gyro_variance] * 3).reshape(9)
    msg.linear_acceleration_covariance = np.diag([accel_variance] * 3).reshape(9)
    return msg


def _vec3(values: np.ndarray, name: str) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64)
    if vector.shape != (3,):
        raise ImuConversionError(f"{name} must have shape (3,), got {vector.shape}")
    return vector


def uses_cv_bridge() -> bool:
    """Whether image conversion goes through cv_bridge in this install."""
    return CvBridge is not None
