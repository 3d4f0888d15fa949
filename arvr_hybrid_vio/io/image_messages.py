"""ROS-free decoding of camera messages into the estimator's grey images: sensor_msgs/Image and
sensor_msgs/CompressedImage, as rclpy messages (the node) or as rosbags dataclasses (the offline tools).

Both kinds have the same fields: an Image's ``height``, ``width``, ``encoding``, ``is_bigendian``,
``step``, ``data`` are decoded with numpy; a CompressedImage's ``format`` and ``data`` (JPEG or PNG, as
``compressed_image_transport`` writes them; the codec is read from the data itself) with OpenCV.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from arvr_hybrid_vio.core.errors import SensorDataError

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)  # what a camera topic may carry


def compressed_topic(topic: str) -> str:
    """The topic image_transport's ``compressed`` transport of a camera topic is published on."""
    return f"{topic}/compressed"


# encoding -> (channels, bytes per channel, luma weights in channel order or None for grey)
_LAYOUTS: dict[str, tuple[int, int, tuple[float, ...] | None]] = {
    "mono8": (1, 1, None), "8UC1": (1, 1, None), "mono16": (1, 2, None), "16UC1": (1, 2, None),
    "rgb8": (3, 1, (0.299, 0.587, 0.114)), "bgr8": (3, 1, (0.114, 0.587, 0.299)),
    "rgba8": (4, 1, (0.299, 0.587, 0.114, 0.0)), "bgra8": (4, 1, (0.114, 0.587, 0.299, 0.0)),
    # a colour camera's raw mosaic (ROS names the 2x2 pattern from the top left), demosaicked to grey by OpenCV
    "bayer_rggb8": (1, 1, None), "bayer_bggr8": (1, 1, None), "bayer_gbrg8": (1, 1, None), "bayer_grbg8": (1, 1, None),
    # YUV 4:2:2 as UVC cameras send it (usb_cam): two bytes a pixel, the grey is the luma byte Y
    "yuv422": (2, 1, None), "yuv422_yuy2": (2, 1, None),
}
_DEMOSAIC = {"bayer_rggb8": cv2.COLOR_BayerRGGB2GRAY, "bayer_bggr8": cv2.COLOR_BayerBGGR2GRAY,
             "bayer_gbrg8": cv2.COLOR_BayerGBRG2GRAY, "bayer_grbg8": cv2.COLOR_BayerGRBG2GRAY}
_LUMA_BYTE = {"yuv422": 1, "yuv422_yuy2": 0}  # U Y V Y (UYVY) and Y U Y V (YUYV)


def grey_image(message: Any) -> np.ndarray:
    """(H, W) uint8 grey image of an Image or CompressedImage message (colour -> luma, 16 bit -> top 8 bits,
    a Bayer mosaic -> OpenCV's demosaicked grey, YUV 4:2:2 -> its luma).

    Raises:
        SensorDataError: unsupported encoding, step/data too short for the size, or compressed data
            that does not decode.
    """
    if not hasattr(message, "encoding"):  # a CompressedImage: format and data
        return _decompressed_grey(message)
    encoding = str(message.encoding)
    if encoding not in _LAYOUTS:
        raise SensorDataError(f"image encoding '{encoding}' not supported; use one of {sorted(_LAYOUTS)}")
    channels, depth, weights = _LAYOUTS[encoding]
    height, width, step = int(message.height), int(message.width), int(message.step)
    data = np.frombuffer(bytes(message.data) if not isinstance(message.data, np.ndarray) else message.data.tobytes(),
                         dtype=np.uint8)
    if height < 1 or width < 1 or step < width * channels * depth or data.size < step * height:
        raise SensorDataError(f"image {width}x{height} '{encoding}' with step {step} needs {step * height} bytes, "
                              f"got {data.size}")
    rows = data[:step * height].reshape(height, step)[:, :width * channels * depth]  # drop row padding
    if depth == 2:
        dtype = np.dtype(">u2" if message.is_bigendian else "<u2")
        return (np.ascontiguousarray(rows).view(dtype).reshape(height, width) >> 8).astype(np.uint8)
    pixels = rows.reshape(height, width, channels)
    if encoding in _DEMOSAIC:
        return cv2.cvtColor(np.ascontiguousarray(pixels[:, :, 0]), _DEMOSAIC[encoding])
    if encoding in _LUMA_BYTE:
        return np.ascontiguousarray(pixels[:, :, _LUMA_BYTE[encoding]])
    if weights is None:
        return np.ascontiguousarray(pixels[:, :, 0])
    grey = pixels.astype(np.float32) @ np.asarray(weights, dtype=np.float32)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def _decompressed_grey(message: Any) -> np.ndarray:
    """(H, W) uint8 grey image of a CompressedImage (JPEG or PNG; 16-bit PNG -> top 8 bits, as OpenCV
    scales it)."""
    image_format = str(message.format)
    if "compresseddepth" in image_format.lower():
        raise SensorDataError(f"compressed image format '{image_format}' is a depth map, not a camera image; "
                              "use the camera's 'compressed' transport (JPEG or PNG)")
    data = message.data
    data = data if isinstance(data, np.ndarray) else np.frombuffer(bytes(data), dtype=np.uint8)
    grey = cv2.imdecode(data.view(np.uint8).reshape(-1), cv2.IMREAD_GRAYSCALE) if data.size else None
    if grey is None or grey.ndim != 2 or grey.dtype != np.uint8:
        raise SensorDataError(f"compressed image (format '{image_format}', {data.size} bytes) could not be decoded "
                              "as JPEG or PNG")
    return grey
