"""ROS-free decoding of sensor_msgs/Image (as rosbags dataclasses) into the estimator's grey images.

``ros/conversions.py`` works on rclpy message classes; offline tools read bags with
rosbags, whose messages have the same fields (``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``), so this module decodes those with numpy only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from arvr_hybrid_vio.core.errors import SensorDataError

# encoding -> (channels, bytes per channel, luma weights in channel order or None for grey)
_LAYOUTS: dict[str, tuple[int, int, tuple[float, ...] | None]] = {
    "mono8": (1, 1, None), "8UC1": (1, 1, None), "mono16": (1, 2, None), "16UC1": (1, 2, None),
    "rgb8": (3, 1, (0.299, 0.587, 0.114)), "bgr8": (3, 1, (0.114, 0.587, 0.299)),
    "rgba8": (4, 1, (0.299, 0.587, 0.114, 0.0)), "bgra8": (4, 1, (0.114, 0.587, 0.299, 0.0)),
}


def grey_image(message: Any) -> np.ndarray:
    """(H, W) uint8 grey image of an Image message (colour -> luma, 16 bit -> top 8 bits).

    Raises:
        SensorDataError: unsupported encoding, or step/data too short for the size.
    """
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
    if weights is None:
        return np.ascontiguousarray(pixels[:, :, 0])
    grey = pixels.astype(np.float32) @ np.asarray(weights, dtype=np.float32)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)
