"""Pyramidal Lucas-Kanade with a forward-backward check: the tracking call of both feature trackers.

The network's input (``core.model.visual_tracks``: corners found afresh in each frame pair) and the
window velocity's persistent tracks (``core.feature_tracker``) both track points from one grey image
into the next with ``cv2.calcOpticalFlowPyrLK``, track the results back, and trust a point only where
it comes back to where it started. Each then keeps the points whose disagreement is under its own
threshold.

Note: imports OpenCV (``opencv-python-headless``); ROS-free.
"""
from __future__ import annotations

import cv2
import numpy as np

_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)  # per level: 20 iterations or 0.03 px


def track_forward_backward(prev_image: np.ndarray, image: np.ndarray, start: np.ndarray, *, window_px: int,
                           pyramid_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """``start`` tracked from ``prev_image`` into ``image``, and the forward-backward error: the distance
    from ``start`` of the end point tracked back, px; inf where either pass failed or the end point
    left the image.

    Shape: prev_image, image (H, W) uint8; start (N, 2) float32 px -> end (N, 2) float32, error (N,).
    """
    params = dict(winSize=(window_px, window_px), maxLevel=pyramid_levels, criteria=_CRITERIA)
    end, status, _ = cv2.calcOpticalFlowPyrLK(prev_image, image, start.reshape(-1, 1, 2), None, **params)
    back, status_back, _ = cv2.calcOpticalFlowPyrLK(image, prev_image, end, None, **params)
    end, back = end.reshape(-1, 2), back.reshape(-1, 2)
    error = np.linalg.norm(back - start.reshape(-1, 2), axis=1)
    ok = (status.reshape(-1) == 1) & (status_back.reshape(-1) == 1) & np.isfinite(error)
    height, width = image.shape
    inside = (end[:, 0] >= 0) & (end[:, 0] <= width - 1) & (end[:, 1] >= 0) & (end[:, 1] <= height - 1)
    return end, np.where(ok & inside, error, np.inf)
