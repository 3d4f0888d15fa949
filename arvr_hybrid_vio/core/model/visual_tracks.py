"""Sparse feature tracks between two grey frames: the network's visual input.

Corners (Shi-Tomasi, ``cv2.goodFeaturesToTrack``) in the previous frame are
tracked into the current frame with pyramidal Lucas-Kanade
(``cv2.calcOpticalFlowPyrLK``), checked forward-backward (``core.lucas_kanade``), and written as a
fixed-size array of normalised camera coordinates and displacements. The same
function runs on training shards (cached) and inside the estimator online, so
what the network was trained on is what it sees on the rig.

Why tracks and not pixels: flow between frames is a geometric quantity
(``x' - x`` in normalised coordinates depends on motion and depth, not on
texture, exposure or sensor noise), so it transfers from synthetic to real
cameras, and it is cheap enough (about 1 ms per pair at 160x128) to cache per
shard, which makes CPU training feasible. The README records the measurement.

Note: this module imports OpenCV (``opencv-python-headless``); it is ROS-free.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from arvr_hybrid_vio.core.lucas_kanade import track_forward_backward

TRACK_CHANNELS = 6  # x, y, dx, dy (normalised camera coords), forward-backward error (px / 4), valid
# Pixels (N, 2) -> normalised coordinates (N, 2) float32 and a validity mask (N,): see camera_input.
PixelsToNormalised = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class TrackConfig:
    """Corner detection and tracking settings (part of the model config)."""

    max_tracks: int = 64  # fixed number of track slots per frame pair
    quality_level: float = 0.01  # Shi-Tomasi quality relative to the best corner
    min_distance_px: float = 6.0  # minimum spacing of corners, px
    window_px: int = 15  # Lucas-Kanade window side, px
    pyramid_levels: int = 3  # Lucas-Kanade pyramid levels above full resolution
    max_fb_error_px: float = 1.0  # forward-backward disagreement above which a track is dropped, px


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of the (undistorted) camera, px."""

    fx: float  # focal length x, px
    fy: float  # focal length y, px
    cx: float  # principal point x, px
    cy: float  # principal point y, px


def detect_corners(image: np.ndarray, config: TrackConfig = TrackConfig()) -> np.ndarray:
    """The corners (Shi-Tomasi) that ``extract_tracks`` tracks out of ``image`` when it is the previous frame.

    Shape: (H, W) uint8 -> (N, 2) float32 px, N <= ``config.max_tracks`` (0 where none is found).
    """
    corners = cv2.goodFeaturesToTrack(image, config.max_tracks, config.quality_level, config.min_distance_px,
                                      blockSize=5)
    return np.zeros((0, 2), dtype=np.float32) if corners is None else corners.reshape(-1, 2).astype(np.float32)


def extract_tracks(prev_image: np.ndarray, image: np.ndarray, intrinsics: Intrinsics,
                   config: TrackConfig = TrackConfig(), *,
                   to_normalised: PixelsToNormalised | None = None, corners: np.ndarray | None = None) -> np.ndarray:
    """Tracks from ``prev_image`` into ``image`` as a fixed-size array.

    ``to_normalised`` replaces the pinhole ``intrinsics`` when given: a rig camera mapped
    onto the training camera (:class:`~arvr_hybrid_vio.core.model.camera_input.CameraInput`);
    tracks whose start or end it marks invalid are dropped. ``corners``: ``detect_corners(prev_image,
    config)`` when already found (e.g. while the node waited for this image), else found here.

    Shape:
        prev_image (H, W) uint8, image (H, W) uint8 -> (max_tracks, TRACK_CHANNELS) float32;
        unused slots are all zero (valid = 0).
    """
    out = np.zeros((config.max_tracks, TRACK_CHANNELS), dtype=np.float32)
    if prev_image.shape != image.shape:
        return out
    start = detect_corners(prev_image, config) if corners is None else corners
    if len(start) == 0:
        return out
    end, fb_error = track_forward_backward(prev_image, image, start, window_px=config.window_px,
                                           pyramid_levels=config.pyramid_levels)
    keep = fb_error < config.max_fb_error_px
    start, end, fb_error = start[keep], end[keep], fb_error[keep]
    if to_normalised is None:
        scale = np.array([intrinsics.fx, intrinsics.fy], dtype=np.float32)
        centre = np.array([intrinsics.cx, intrinsics.cy], dtype=np.float32)
        start_normalised, displacement = (start - centre) / scale, (end - start) / scale
    else:
        start_normalised, start_valid = to_normalised(start)
        end_normalised, end_valid = to_normalised(end)
        valid = start_valid & end_valid
        start_normalised, displacement = start_normalised[valid], (end_normalised - start_normalised)[valid]
        fb_error = fb_error[valid]
    count = start_normalised.shape[0]
    out[:count, 0:2] = start_normalised
    out[:count, 2:4] = displacement
    out[:count, 4] = fb_error / 4.0
    out[:count, 5] = 1.0
    return out


def derotated(tracks: np.ndarray, rotation_prev_cur: np.ndarray) -> np.ndarray:
    """Tracks whose displacement channels hold the flow left after removing the camera's rotation.

    ``rotation_prev_cur`` (3, 3) is the camera's rotation from the previous frame to this one (camera
    axes, from the gyro). A static point at bearing ``x`` would appear, after that rotation alone, at
    ``pi(R^T [x, 1])``; the derotated displacement is the tracked end point minus that prediction,
    which leaves the translational (depth-dependent) part of the flow. Tracks whose prediction falls
    behind the camera are marked invalid.

    Shape: (N, TRACK_CHANNELS), (3, 3) -> (N, TRACK_CHANNELS) float32 (a new array).
    """
    out = np.array(tracks, dtype=np.float32, copy=True)
    valid = out[:, 5] > 0
    start = out[valid, 0:2].astype(np.float64)
    rays = np.column_stack([start, np.ones(len(start))]) @ np.asarray(rotation_prev_cur, dtype=np.float64)
    ahead = rays[:, 2] > 1e-3
    predicted = rays[:, :2] / np.where(ahead, rays[:, 2], 1.0)[:, None]
    displacement = start + out[valid, 2:4] - predicted
    rows = np.flatnonzero(valid)
    out[rows, 2:4] = np.where(ahead[:, None], displacement, 0.0)
    out[rows[~ahead]] = 0.0
    return out
