"""sensor_msgs/CompressedImage (JPEG, PNG) decodes to the grey image its raw Image would give, in both
message forms the package meets: rosbags dataclasses (offline tools) and rclpy messages (the node)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage
from skimage import data

from arvr_hybrid_vio.core.errors import SensorDataError
from arvr_hybrid_vio.io.image_messages import grey_image
from arvr_hybrid_vio.io.sensor_bags import compressed_image_message, image_message
from arvr_hybrid_vio.ros.conversions import numpy_to_image


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photograph, grey, at a camera-like size."""
    return cv2.resize(data.camera(), (160, 128), interpolation=cv2.INTER_AREA)


def rclpy_compressed(image: np.ndarray, suffix: str, image_format: str) -> CompressedImage:
    encoded, payload = cv2.imencode(suffix, image)
    assert encoded
    message = CompressedImage(format=image_format)
    message.data = payload.tobytes()
    return message


def test_png_decodes_to_exactly_the_raw_image(photo: np.ndarray) -> None:
    raw = grey_image(image_message(0, photo))
    np.testing.assert_array_equal(raw, photo)
    np.testing.assert_array_equal(grey_image(compressed_image_message(0, photo, "png")), raw)  # rosbags form
    np.testing.assert_array_equal(grey_image(rclpy_compressed(photo, ".png", "mono8; png compressed ")), raw)


def test_jpeg_decodes_to_the_image_within_its_compression_error(photo: np.ndarray) -> None:
    decoded = grey_image(compressed_image_message(0, photo, "jpeg")).astype(np.int16)
    assert decoded.shape == photo.shape
    error = np.abs(decoded - photo)
    assert error.mean() < 2.0 and np.percentile(error, 99) < 12  # quality 95
    assert not np.array_equal(decoded, photo)  # it was lossy: the codec really ran


def test_colour_and_16_bit_compressed_images_give_the_raw_paths_grey(photo: np.ndarray) -> None:
    colour = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[::4, ::4].copy()
    from_raw = grey_image(numpy_to_image(colour, "bgr8")).astype(np.int16)
    from_png = grey_image(rclpy_compressed(colour, ".png", "bgr8; png compressed bgr8")).astype(np.int16)
    assert np.abs(from_png - from_raw).max() <= 1  # OpenCV's fixed-point luma against the raw path's rounding
    deep = (photo.astype(np.uint16) << 8) | 0x5A  # 16-bit, low byte noise
    np.testing.assert_array_equal(grey_image(rclpy_compressed(deep, ".png", "mono16; png compressed ")),
                                  grey_image(numpy_to_image(deep, "mono16")))  # top 8 bits both ways


def test_undecodable_and_depth_payloads_are_refused_with_their_format(photo: np.ndarray) -> None:
    truncated = compressed_image_message(0, photo, "jpeg")
    truncated.data = truncated.data[:40]
    cases = [(truncated, "format 'mono8; jpeg compressed ', 40 bytes"),
             (rclpy_compressed(photo, ".png", "16UC1; compressedDepth png"), "depth map"),
             (CompressedImage(format="png"), "0 bytes")]
    for message, words in cases:
        with pytest.raises(SensorDataError, match="could not be decoded|depth map") as raised:
            grey_image(message)
        assert words in str(raised.value)


def test_bayer_mosaics_and_yuv422_give_the_colour_images_grey() -> None:
    """A Bayer mosaic of a real colour photograph, in each of ROS's four patterns, demosaics to nearly the grey
    of the photograph itself; YUV 4:2:2 (UYVY and YUYV byte orders) gives its luma byte exactly."""
    from types import SimpleNamespace
    bgr = cv2.GaussianBlur(cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (160, 160),
                                      interpolation=cv2.INTER_AREA), (0, 0), 1.0)  # a lens's blur
    grey = grey_image(numpy_to_image(bgr, "bgr8")).astype(np.int16)
    channel = {"R": 2, "G": 1, "B": 0}
    for pattern in ("rggb", "bggr", "gbrg", "grbg"):
        mosaic = np.zeros(bgr.shape[:2], dtype=np.uint8)
        for (row, column), colour in zip([(0, 0), (0, 1), (1, 0), (1, 1)], pattern.upper()):
            mosaic[row::2, column::2] = bgr[row::2, column::2, channel[colour]]
        message = SimpleNamespace(encoding=f"bayer_{pattern}8", height=mosaic.shape[0], width=mosaic.shape[1],
                                  step=mosaic.shape[1], is_bigendian=0, data=mosaic.reshape(-1))
        error = np.abs(grey_image(message).astype(np.int16) - grey)[2:-2, 2:-2]  # demosaicking's edge rows aside
        assert np.median(error) <= 1 and error.mean() < 2.5, pattern  # interpolated colour (1.5 measured), not exact
        wrong = SimpleNamespace(**{**vars(message), "encoding": "bayer_gbrg8" if pattern == "rggb" else "bayer_rggb8"})
        assert np.abs(grey_image(wrong).astype(np.int16) - grey)[2:-2, 2:-2].mean() > 6  # another pattern: ~9
    luma = np.asarray(grey, dtype=np.uint8)
    chroma = np.random.default_rng(1).integers(0, 255, luma.shape, dtype=np.uint8)
    for encoding, luma_first in (("yuv422", False), ("yuv422_yuy2", True)):
        pairs = np.stack([luma, chroma] if luma_first else [chroma, luma], axis=-1)  # Y U Y V / U Y V Y
        message = SimpleNamespace(encoding=encoding, height=luma.shape[0], width=luma.shape[1],
                                  step=2 * luma.shape[1], is_bigendian=0, data=pairs.reshape(-1))
        np.testing.assert_array_equal(grey_image(message), luma)
