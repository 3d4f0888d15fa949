"""Persistent KLT feature tracks over a window of frames, for the metric velocity solve.

Unlike the network's input (``core.model.visual_tracks``: corners detected afresh in every frame
pair), these tracks keep their identity from frame to frame: each frame's points are tracked into
the next with pyramidal Lucas-Kanade, kept when the forward-backward check agrees (``core.lucas_kanade``), and topped up
with new Shi-Tomasi corners away from the surviving ones. The tracker remembers each feature's
normalised (undistorted) coordinates in the last ``window_frames`` frames: the observations of
:func:`core.window_velocity.solve_window_velocity`.

Images larger than ``max_width_px`` are tracked at a reduced size (coordinates are scaled back
before undistortion), so a 752x480 rig costs about what the 160x128 training camera does.

Note: imports OpenCV (``opencv-python-headless``); ROS-free.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from arvr_hybrid_vio.core.lucas_kanade import track_forward_backward
from arvr_hybrid_vio.core.types import SyncedFrame
from arvr_hybrid_vio.core.window_velocity import WindowObservations

# Pixels (N, 2) of the full-size image -> normalised undistorted coordinates (N, 2)
PixelsToNormalised = Callable[[np.ndarray], np.ndarray]
_OFFERED_LIMIT = 256  # frames tracked ahead kept until used
# (stamp of the chain's first frame, stamp of the frame tracked from or None, this frame's stamp)
ChainKey = tuple[int, int | None, int]


@dataclass(frozen=True)
class TrackerConfig:
    """Feature tracking settings of the velocity solve (section ``visual_velocity``)."""

    max_features: int = 60  # features kept per frame (80 scored the same on val, at a third more cost)
    min_distance_px: float = 8.0  # spacing of new corners from each other and from tracked ones, px
    quality_level: float = 0.01  # Shi-Tomasi quality relative to the best corner
    window_px: int = 15  # Lucas-Kanade window side, px
    pyramid_levels: int = 3  # Lucas-Kanade pyramid levels
    max_fb_error_px: float = 0.5  # forward-backward disagreement above which a track ends, px
    max_width_px: int = 320  # wider images are tracked at this width


@dataclass(frozen=True)
class TrackedFrame:
    """A frame's features after tracking from the tracker's last frame: what committing it sets."""

    key: ChainKey  # where it sits in its chain of frames (a chain starts at a reset)
    image: np.ndarray  # (h, w) uint8 as tracked (resized when wider than max_width_px)
    scale: np.ndarray  # (2,) from its pixels to the full image's
    points: np.ndarray  # (N, 2) float32 pixels of ``image``
    ids: np.ndarray  # (N,) int64 feature identities
    next_id: int  # the first identity not yet given


class FeatureTracker:
    """Tracks features frame to frame (a chain, from one reset to the next) and keeps their
    observations over a window (which may be cleared without breaking the chain).

    Tracking can be done before a frame is added: live at image arrival (:meth:`prepare`), offline
    in a reader process running its own tracker over the same frames (:func:`tracked_ahead`, handed
    over with :meth:`offer`). :meth:`track` takes such a result when its chain key is the one it
    would compute (same chain start, same previous frame), and tracks the frame itself otherwise.
    Same function on the same frames: the same numbers either way.
    """

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self._window: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self._offered: OrderedDict[ChainKey, TrackedFrame] = OrderedDict()
        self.offered_used = 0  # frames whose tracking was done ahead (prepared or offered)
        self.computed = 0  # frames tracked on the spot
        self.reset()

    def reset(self) -> None:
        """Start a new chain: forget every track and the window (a reset, a camera change)."""
        self._window.clear()
        self._last: TrackedFrame | None = None

    def clear_window(self) -> None:
        """Forget the window's observations; the chain goes on (a window restart after a gap)."""
        self._window.clear()

    @property
    def frames(self) -> int:
        """Frames in the window (the current one included)."""
        return len(self._window)

    def drop_oldest(self) -> None:
        """Forget the oldest frame's observations."""
        self._window.popleft()

    def expected_key(self, stamp_ns: int) -> ChainKey:
        """The chain key the frame at ``stamp_ns`` gets when it is tracked next."""
        if self._last is None:
            return (int(stamp_ns), None, int(stamp_ns))
        return (self._last.key[0], self._last.key[2], int(stamp_ns))

    def offer(self, tracked: TrackedFrame) -> None:
        """A frame tracked ahead; :meth:`track` takes it if its key is the one expected then."""
        self._offered[tracked.key] = tracked
        while len(self._offered) > _OFFERED_LIMIT:
            self._offered.popitem(last=False)

    def prepare(self, stamp_ns: int, image: np.ndarray) -> None:
        """Track a frame that is not added yet (its stamp after the last frame's), for :meth:`track`."""
        if self._last is None or int(stamp_ns) > self._last.key[2]:
            self.offer(self._tracked(self.expected_key(stamp_ns), image))

    def track(self, stamp_ns: int, image: np.ndarray) -> TrackedFrame:
        """The frame tracked from the last one (or taken from what was tracked ahead); it becomes the
        last frame of the chain. Shape: image (H, W) uint8."""
        key = self.expected_key(stamp_ns)
        tracked = self._offered.pop(key, None)
        if tracked is None:
            tracked = self._tracked(key, image)
            self.computed += 1
        else:
            self.offered_used += 1
        self._last = tracked
        return tracked

    def add_frame(self, stamp_ns: int, image: np.ndarray, to_normalised: PixelsToNormalised) -> None:
        """Track the frame (:meth:`track`) and keep its observations in the window.

        Shape: image (H, W) uint8.
        """
        tracked = self.track(stamp_ns, image)
        normalised = to_normalised((tracked.points.astype(np.float64) + 0.5) * tracked.scale - 0.5)
        finite = np.all(np.isfinite(normalised), axis=1)
        self._window.append((tracked.ids[finite].copy(), normalised[finite]))

    def observations(self, frames: np.ndarray) -> WindowObservations:
        """The observations in the window frames ``frames`` (indices, 0 = the oldest), numbered by
        their position in ``frames``."""
        chosen = [self._window[int(index)] for index in frames]
        numbers = [np.full(len(ids), number, dtype=np.int64) for number, (ids, _) in enumerate(chosen)]
        if not chosen:
            return WindowObservations(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2)))
        return WindowObservations(np.concatenate(numbers), np.concatenate([ids for ids, _ in chosen]),
                                  np.concatenate([xy for _, xy in chosen]))

    def _tracked(self, key: ChainKey, image: np.ndarray) -> TrackedFrame:
        """The frame's features: the last frame's tracked into it (same size only), then topped up."""
        small, scale = self._resized(image)
        last = self._last if key[1] is not None else None
        points, ids, next_id = np.zeros((0, 2), np.float32), np.zeros(0, np.int64), 0
        if last is not None:
            next_id = last.next_id
            if last.image.shape == small.shape and len(last.points):
                points, ids = self._track_into(last, small)
        points, ids, next_id = self._detect(small, points, ids, next_id)
        return TrackedFrame(key, small, scale, points, ids, next_id)

    def _resized(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The image to track on and the factor from its pixels to the full image's."""
        height, width = image.shape
        if width <= self.config.max_width_px:
            return image, np.ones(2)
        size = (self.config.max_width_px, max(16, round(height * self.config.max_width_px / width)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return small, np.array([width / size[0], height / size[1]])

    def _track_into(self, last: TrackedFrame, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The last frame's points tracked into ``image`` (forward-backward checked) and their ids."""
        end, error = track_forward_backward(last.image, image, last.points, window_px=self.config.window_px,
                                            pyramid_levels=self.config.pyramid_levels)
        keep = error < self.config.max_fb_error_px
        return end[keep].astype(np.float32), last.ids[keep]

    def _detect(self, image: np.ndarray, points: np.ndarray, ids: np.ndarray,
                next_id: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``points`` topped up with new corners away from them, new identities from ``next_id``."""
        wanted = self.config.max_features - len(points)
        if wanted <= 0:
            return points, ids, next_id
        mask = masked_discs(image.shape, points, max(1, int(round(self.config.min_distance_px))))
        corners = cv2.goodFeaturesToTrack(image, wanted, self.config.quality_level, self.config.min_distance_px,
                                          mask=mask, blockSize=5)
        if corners is None:
            return points, ids, next_id
        corners = corners.reshape(-1, 2).astype(np.float32)
        return (np.vstack([points, corners]), np.concatenate([ids, next_id + np.arange(len(corners))]),
                next_id + len(corners))


@lru_cache(maxsize=8)
def _disc_offsets(radius: int) -> np.ndarray:
    """(M, 2) (row, column) offsets of the pixels ``cv2.circle`` fills for a disc of ``radius`` px."""
    disc = np.full((2 * radius + 1, 2 * radius + 1), 255, dtype=np.uint8)
    cv2.circle(disc, (radius, radius), radius, 0, -1)
    return np.argwhere(disc == 0) - radius


def masked_discs(shape: tuple[int, ...], points: np.ndarray, radius: int) -> np.ndarray:
    """A uint8 mask of ``shape``: 255, with a filled disc of 0 of ``radius`` px around each of ``points``
    ((N, 2) x, y px, rounded to the nearest pixel as Python's ``round`` does). The same pixels as one
    ``cv2.circle(mask, centre, radius, 0, -1)`` per point (tested), stamped at once instead of a call each."""
    mask = np.full(shape, 255, dtype=np.uint8)
    if len(points):
        offsets = _disc_offsets(radius)
        centres = np.rint(np.asarray(points, dtype=np.float64)).astype(np.int64)
        rows = (centres[:, 1:2] + offsets[None, :, 0]).ravel()
        columns = (centres[:, 0:1] + offsets[None, :, 1]).ravel()
        inside = (rows >= 0) & (rows < shape[0]) & (columns >= 0) & (columns < shape[1])
        mask[rows[inside], columns[inside]] = 0
    return mask


def tracked_ahead(frames: Iterable[SyncedFrame], config: TrackerConfig) -> Iterator[
        tuple[SyncedFrame, TrackedFrame | None]]:
    """Each frame with its window tracks, computed as the estimator's tracker will ask for them: a new
    chain when the frames restart (``frame_index`` 0), nothing for frames the estimator skips
    (unusable, or not after the last one). For a reader process (``arvr-vio-infer``)."""
    tracker = FeatureTracker(config)
    last_stamp: int | None = None
    for frame in frames:
        if frame.frame_index == 0:
            tracker.reset()
            last_stamp = None
        if not frame.is_usable() or (last_stamp is not None and int(frame.stamp_ns) <= last_stamp):
            yield frame, None
            continue
        last_stamp = int(frame.stamp_ns)
        yield frame, tracker.track(int(frame.stamp_ns), frame.image)
