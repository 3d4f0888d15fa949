"""Camera-IMU synchronisation: a fixed-capacity buffer that pairs frames with IMU windows.

``SyncBuffer`` is a plain data structure (no threads, no ROS): callers push images and
IMU samples in any order, and ``pop_synced()`` returns each frame, in stamp order, with
the IMU samples since the previous frame; the samples at both frame stamps are linearly
interpolated. The live node and the offline inference both drive the estimator through
it, so what runs on the rig is what is benchmarked offline.

Time conventions (int64 nanoseconds everywhere):

* ``time_offset_ns`` is the camera-IMU offset as Kalibr defines ``timeshift_cam_imu``:
  ``t_imu = t_cam + time_offset_ns``. Frame stamps are corrected on ``push_image``.
* A frame is released once an IMU sample at or after its (corrected) stamp exists, so
  both ends of its window are bracketed by real samples.
* The first frame after a start or reset has a window from the last IMU sample before it;
  a first frame stamped exactly at the first IMU sample only anchors the next window
  (``frames_anchor``), and one before the first IMU sample is dropped (``frames_without_imu``).
* A frame whose window, including the samples bracketing both ends, has a spacing
  larger than ``max_imu_gap_ns`` is dropped (``frames_dropped_imu_gap``); the next frame
  pairs with the IMU since the dropped one and reports it in ``dropped_frames``.
* A stamp older than the newest one of its stream by more than ``jump_back_ns`` (a bag
  restarted) resets the buffer (``jump_backs``); the next frame has ``frame_index == 0``,
  which tells the caller to reset its estimator.
* Smaller steps back are out-of-order messages: inserted in order while not yet used,
  counted as late and dropped otherwise. Repeated stamps are dropped as duplicates.
* A fast camera is thinned to about 30 Hz (``target_frame_rate_hz``), the networks' nominal rate:
  every k-th image is kept, k the whole number that brings the camera's learned period nearest the
  target's (60 Hz: k = 2, 90 Hz: 3; below 45 Hz: 1, every image). An image less than k - 1/2 camera periods
  after the newest one queued is skipped (``images_decimated``, not a drop: stamp jitter up to a quarter
  period is tolerated), and the next frame's IMU window spans the skipped interval, as it does for a frame
  the camera missed. Networks trained at 30 Hz alone failed on 60 Hz frames; those trained at 15-60 Hz
  (2026-11-29) do better thinned too (README, "Camera rate").
* With ``camera_stamp_smoothing`` each camera stamp (offset applied) is first moved onto a line fitted
  through the recent stamps (``core.camera_clock``): software-stamped cameras carry milliseconds of
  jitter that a steady camera clock does not have.

Every drop is counted in ``counters()``; nothing is dropped silently.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from arvr_hybrid_vio.core.camera_clock import CameraClock
from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.model.inputs import NOMINAL_FRAME_S
from arvr_hybrid_vio.core.stream_period import StreamPeriod
from arvr_hybrid_vio.core.types import SyncedFrame

LOGGER = logging.getLogger(__name__)
@dataclass(frozen=True)
class SyncConfig:
    """Capacity and timing tolerances of the camera-IMU synchronisation."""

    # Frames held while waiting for IMU coverage; the oldest is dropped beyond it.
    capacity: int = field(default=64, metadata={
        "description": "frames held while waiting for IMU coverage", "needs_restart": True})
    # IMU samples held; the oldest is dropped beyond it (20 s at 200 Hz by default).
    imu_capacity: int = field(default=4000, metadata={
        "description": "IMU samples held (oldest dropped beyond)", "needs_restart": True})
    # Camera-IMU offset, Kalibr's timeshift_cam_imu: t_imu = t_cam + time_offset_ns.
    time_offset_ns: int = field(default=0, metadata={"description": "camera-IMU offset ns: t_imu = t_cam + offset"})
    # Largest spacing of IMU samples inside a frame's window before the frame is dropped.
    max_imu_gap_ns: int = field(default=50_000_000, metadata={
        "description": "largest IMU spacing in a frame window before it is dropped, ns"})
    # A stamp this far behind its stream's newest one is a jump back in time: reset.
    jump_back_ns: int = field(default=500_000_000, metadata={"description": "step back in time that resets, ns"})
    # Nominal camera period for counting dropped frames; 0 estimates it from the stream.
    expected_frame_period_ns: int = field(default=0, metadata={"description": "camera period ns, 0 = estimate"})
    # A faster camera is thinned to the whole fraction of its rate nearest this (skipped images are counted as
    # images_decimated); 0 keeps every image. The default is the networks' nominal rate (30 Hz): a 60 or 90 Hz
    # camera reaches the estimator at 30 Hz; one below 45 Hz is left as it is. With the models trained at 15-60 Hz
    # a 60 Hz camera still does better thinned (README, "Camera rate").
    target_frame_rate_hz: float = field(default=1.0 / NOMINAL_FRAME_S, metadata={
        "description": "a faster camera is thinned to the whole fraction of its rate nearest this (skipped images "
                       "counted as images_decimated), Hz; 0 = keep every image"})

    # Replace each camera stamp by a line fitted through the recent ones (a steady camera clock): for cameras
    # stamped in software, whose stamps jitter by milliseconds (README, "Other departures from the training rig")
    camera_stamp_smoothing: bool = field(default=False, metadata={
        "description": "move camera stamps onto a line fitted through the recent ones (software-stamped cameras)"})

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.imu_capacity < 4:
            raise ConfigError(f"sync: capacity must be >= 1 and imu_capacity >= 4, "
                              f"got {self.capacity} and {self.imu_capacity}")
        if self.max_imu_gap_ns <= 0 or self.jump_back_ns <= 0 or self.expected_frame_period_ns < 0:
            raise ConfigError("sync: max_imu_gap_ns and jump_back_ns must be > 0, expected_frame_period_ns >= 0")
        if not (math.isfinite(self.target_frame_rate_hz) and self.target_frame_rate_hz >= 0.0):
            raise ConfigError("sync: target_frame_rate_hz must be >= 0 (0: every image); "
                              f"got {self.target_frame_rate_hz}")

    def images_per_frame(self, camera_period_ns: int) -> int:
        """k: every k-th image of a camera with this period is kept (1 when thinning is off or the period
        unknown): the whole number of periods nearest ``target_frame_rate_hz``'s."""
        if self.target_frame_rate_hz <= 0.0 or camera_period_ns <= 0:
            return 1
        return max(1, round(1e9 / self.target_frame_rate_hz / camera_period_ns))


@dataclass
class SyncCounters:
    """Running counts of what the buffer accepted, released and dropped (never reset)."""

    images_in: int = 0
    imu_in: int = 0
    frames_out: int = 0
    images_invalid: int = 0
    imu_invalid: int = 0
    image_duplicates: int = 0
    imu_duplicates: int = 0
    images_late: int = 0
    imu_late: int = 0
    images_out_of_order: int = 0
    imu_out_of_order: int = 0
    frames_overflow: int = 0
    imu_overflow: int = 0
    frames_without_imu: int = 0
    frames_anchor: int = 0
    frames_dropped_imu_gap: int = 0
    images_decimated: int = 0  # skipped to hold target_frame_rate_hz (by design: not in dropped_total)
    camera_frames_missing: int = 0
    imu_samples_missing: int = 0
    jump_backs: int = 0
    resets: int = 0

    def dropped_total(self) -> int:
        """All messages that did not make it into a released frame, for one health number."""
        return (self.images_invalid + self.imu_invalid + self.image_duplicates + self.imu_duplicates
                + self.images_late + self.imu_late + self.frames_overflow + self.imu_overflow
                + self.frames_without_imu + self.frames_dropped_imu_gap)


class _ImuRing:
    """Sorted, fixed-capacity IMU storage: stamps (N,) int64, gyro and accel (N, 3) float64."""

    def __init__(self, capacity: int) -> None:
        self.stamps = np.zeros(capacity, dtype=np.int64)
        self.values = np.zeros((capacity, 6), dtype=np.float64)  # gyro xyz | accel xyz
        self.size = 0

    def clear(self) -> None:
        self.size = 0

    def newest(self) -> int | None:
        return int(self.stamps[self.size - 1]) if self.size else None

    def contains(self, stamp_ns: int) -> bool:
        if not self.size or stamp_ns > self.stamps[self.size - 1]:
            return False  # after the newest: the common case, without a search
        index = int(np.searchsorted(self.stamps[: self.size], stamp_ns))
        return int(self.stamps[index]) == stamp_ns

    def insert(self, stamp_ns: int, value: np.ndarray) -> bool:
        """Insert in stamp order; returns True if the oldest sample had to make room."""
        overflow = self.size == len(self.stamps)
        if overflow:
            self.drop_front(1)
        index = self.size
        if index and stamp_ns < self.stamps[index - 1]:  # out of order: make room (in order it appends)
            index = int(np.searchsorted(self.stamps[: self.size], stamp_ns))
            self.stamps[index + 1 : self.size + 1] = self.stamps[index : self.size].copy()
            self.values[index + 1 : self.size + 1] = self.values[index : self.size].copy()
        self.stamps[index], self.values[index] = stamp_ns, value
        self.size += 1
        return overflow

    def drop_front(self, count: int) -> None:
        """Forget the ``count`` oldest samples."""
        count = min(count, self.size)
        keep = self.size - count
        self.stamps[:keep] = self.stamps[count : self.size].copy()
        self.values[:keep] = self.values[count : self.size].copy()
        self.size = keep

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self.stamps[: self.size], self.values[: self.size]


class SyncBuffer:
    """Pairs camera frames with the IMU samples between consecutive frames.

    Example:
        >>> buffer = SyncBuffer(SyncConfig())
        >>> buffer.push_imu(0, np.zeros(3), np.array([0.0, 0.0, 9.81]))
        ...
        >>> while (frame := buffer.pop_synced()) is not None:
        ...     estimate = estimator.step(frame)
    """

    def __init__(self, config: SyncConfig | None = None) -> None:
        self.config = config or SyncConfig()
        self._imu = _ImuRing(self.config.imu_capacity)
        self._frames: deque[tuple[int, np.ndarray]] = deque()
        self._counters = SyncCounters()
        self._frame_period = StreamPeriod(min_intervals=1)  # of the frames queued (the camera's, thinned)
        self._camera_period = StreamPeriod(min_intervals=4)  # of every image, kept or thinned out
        self._camera_clock = CameraClock()  # camera_stamp_smoothing
        # the stamp the last image pushed was queued under (the time offset and any smoothing applied): the
        # stamp its synced frame will carry
        self.queued_stamp_ns: int | None = None
        self._imu_period = StreamPeriod(min_intervals=4)
        self._clear_stream()

    # ------------------------------------------------------------------ input
    def push_image(self, stamp_ns: int, image: np.ndarray) -> bool:
        """Queue a camera frame (stamp in the camera clock; the offset is applied here).

        Args:
            stamp_ns: camera stamp, int nanoseconds.
            image: (H, W) uint8 grey image.

        Returns:
            True if queued, False if it was dropped or skipped for ``target_frame_rate_hz`` (and counted).
        """
        self._counters.images_in += 1
        if not _valid_image(image):
            self._counters.images_invalid += 1
            return False
        stamp = int(stamp_ns) + self.config.time_offset_ns
        self._check_jump_back(stamp, self._newest_image)
        if self.config.camera_stamp_smoothing:
            stamp = self._camera_clock.smoothed(stamp, self._camera_period_ns())
        if self._last_frame_ns is not None and stamp <= self._last_frame_ns:
            self._count_stale_image(stamp)
            return False
        if self._thinned_out(stamp):
            self._counters.images_decimated += 1
            return False
        self.queued_stamp_ns = stamp
        return self._insert_frame(stamp, image)

    def push_imu(self, stamp_ns: int, gyro_rad_s: np.ndarray, accel_m_s2: np.ndarray) -> bool:
        """Add one IMU sample.

        Args:
            stamp_ns: IMU stamp, int nanoseconds.
            gyro_rad_s: (3,) angular velocity, rad/s.
            accel_m_s2: (3,) specific force, m/s^2.

        Returns:
            True if stored, False if it was dropped (and counted).
        """
        self._counters.imu_in += 1
        value = _imu_value(gyro_rad_s, accel_m_s2)
        if value is None:
            self._counters.imu_invalid += 1
            return False
        stamp = int(stamp_ns)
        self._check_jump_back(stamp, self._imu.newest())
        return self._insert_imu(stamp, value)

    # ----------------------------------------------------------------- output
    def pop_synced(self) -> SyncedFrame | None:
        """The oldest frame whose IMU window is complete, or None if none is ready yet.

        Frames that cannot be paired (before the first IMU sample, or with an IMU gap)
        are dropped and counted on the way; call until None to drain the buffer.
        """
        while self._frames:
            stamp, image = self._frames[0]
            newest_imu = self._imu.newest()
            if newest_imu is None or newest_imu < stamp:
                return None
            self._frames.popleft()
            frame = self._pair(stamp, image)
            if frame is not None:
                return frame
        return None

    def reset(self) -> None:
        """Forget all frames and IMU samples; the next frame starts a new stream (index 0)."""
        self._counters.resets += 1
        self._imu.clear()
        self._frames.clear()
        self._clear_stream()

    def update_config(self, config: SyncConfig) -> None:
        """Take new timing tolerances at run time (the capacities cannot change).

        Raises:
            ConfigError: ``capacity`` or ``imu_capacity`` differs from the current config.
        """
        if (config.capacity, config.imu_capacity) != (self.config.capacity, self.config.imu_capacity):
            raise ConfigError("sync.capacity and sync.imu_capacity cannot change while running")
        self.config = config

    def counters(self) -> dict[str, int]:
        """A snapshot of the counters (see ``SyncCounters``) plus ``dropped_total``."""
        snapshot = dataclasses.asdict(self._counters)
        snapshot["dropped_total"] = self._counters.dropped_total()
        return snapshot

    @property
    def pending_frames(self) -> int:
        """Frames queued and waiting for IMU coverage."""
        return len(self._frames)

    @property
    def pending_imu(self) -> int:
        """IMU samples held."""
        return self._imu.size

    # -------------------------------------------------------------- internals
    def _clear_stream(self) -> None:
        self._last_frame_ns: int | None = None  # stamp of the previous frame, released or dropped
        self._newest_image: int | None = None
        self._newest_camera_image: int | None = None  # kept or thinned out (the camera's own period)
        self._frame_index = 0
        self._imu_period.clear()
        self._pending_drops = 0  # frames dropped here since the last released one
        self._overflow_drops = 0  # frames dropped for capacity since the last paired one
        self._frame_period.clear()
        self._camera_period.clear()
        self._camera_clock.clear()

    def _thinned_out(self, stamp: int) -> bool:
        """Whether an in-order image is skipped to hold ``target_frame_rate_hz`` (see the module docstring);
        learns the camera's period from it."""
        newest_camera, self._newest_camera_image = self._newest_camera_image, max(stamp, self._newest_camera_image or stamp)
        if newest_camera is None or stamp <= newest_camera or self._newest_image is None:
            return False
        self._camera_period.missing_before(stamp - newest_camera)  # learns the period (the count is the kept stream's)
        period = self._camera_period_ns()
        kept_every = self.config.images_per_frame(period)
        return kept_every > 1 and stamp - self._newest_image < (kept_every - 0.5) * period

    def _camera_period_ns(self) -> int:
        """The camera's period: ``expected_frame_period_ns``, else learned from every image (0 until known)."""
        return self.config.expected_frame_period_ns or self._camera_period.period()

    def _queued_period_ns(self) -> int:
        """The period of the frames queued, to count missing frames against: k camera periods while thinning,
        else ``expected_frame_period_ns`` (0: learned from the frames themselves)."""
        camera = self._camera_period_ns()
        kept_every = self.config.images_per_frame(camera)
        return camera * kept_every if kept_every > 1 else self.config.expected_frame_period_ns

    def _check_jump_back(self, stamp: int, newest: int | None) -> None:
        if newest is not None and stamp < newest - self.config.jump_back_ns:
            LOGGER.warning("stamp %d is %.3f s behind the stream: jump back in time, resetting",
                           stamp, (newest - stamp) * 1e-9)
            self._counters.jump_backs += 1
            self.reset()

    def _count_stale_image(self, stamp: int) -> None:
        if stamp == self._last_frame_ns:
            self._counters.image_duplicates += 1
        else:
            self._counters.images_late += 1

    def _insert_frame(self, stamp: int, image: np.ndarray) -> bool:
        stamps = [s for s, _ in self._frames]
        if stamp in stamps:
            self._counters.image_duplicates += 1
            return False
        if self._newest_image is not None and stamp < self._newest_image:
            self._counters.images_out_of_order += 1
        index = int(np.searchsorted(np.asarray(stamps, dtype=np.int64), stamp))
        self._frames.insert(index, (stamp, image))
        self._newest_image = max(stamp, self._newest_image or stamp)
        if len(self._frames) > self.config.capacity:
            self._frames.popleft()
            self._counters.frames_overflow += 1
            self._overflow_drops += 1
        return True

    def _insert_imu(self, stamp: int, value: np.ndarray) -> bool:
        if self._imu.contains(stamp):
            self._counters.imu_duplicates += 1
            return False
        if self._imu_already_used(stamp):
            self._counters.imu_late += 1
            return False
        newest = self._imu.newest()
        if newest is not None and stamp < newest:
            self._counters.imu_out_of_order += 1
        elif newest is not None:
            self._count_missing_imu(stamp - newest)
        if self._imu.insert(stamp, value):
            self._counters.imu_overflow += 1
        return True

    def _count_missing_imu(self, interval: int) -> None:
        """IMU samples missing before an in-order sample, judged from the learned IMU period."""
        self._counters.imu_samples_missing += self._imu_period.missing_before(interval)

    def _imu_already_used(self, stamp: int) -> bool:
        """A sample at or before the previous frame can no longer change any window."""
        return self._last_frame_ns is not None and stamp <= self._last_frame_ns

    def _pair(self, stamp: int, image: np.ndarray) -> SyncedFrame | None:
        """Cut the IMU window (previous frame, stamp] for a frame; None if it is dropped."""
        start = self._window_start(stamp)
        if start is None:
            return self._first_without_history(stamp)
        previous, self._last_frame_ns = self._last_frame_ns, stamp
        self._note_interval(previous, stamp)
        stamps, values = self._imu.view()
        if _max_spacing(stamps, start, stamp) > self.config.max_imu_gap_ns:
            self._drop_for_gap(stamp, start)
            return None
        frame = self._make_frame(stamp, image, _window(stamps, values, start, stamp))
        self._trim_imu(stamp)
        return frame

    def _window_start(self, stamp: int) -> int | None:
        """Previous frame stamp; for a first frame the last IMU stamp before it (None: no IMU)."""
        if self._last_frame_ns is not None:
            return self._last_frame_ns  # lost coverage (IMU overflow) shows as a gap
        stamps, _ = self._imu.view()
        before = stamps[stamps < stamp]
        return int(before[-1]) if len(before) else None

    def _first_without_history(self, stamp: int) -> None:
        """A first frame with no IMU sample before it: the anchor of the next window if an
        IMU sample lies exactly at its stamp, else dropped (the IMU started after it)."""
        if self._imu.contains(stamp):
            self._counters.frames_anchor += 1
            self._last_frame_ns = stamp
        else:
            self._counters.frames_without_imu += 1
        return None

    def _drop_for_gap(self, stamp: int, start: int) -> None:
        LOGGER.warning("frame %d dropped: IMU gap over %.3f s in its window", stamp, self.config.max_imu_gap_ns * 1e-9)
        self._counters.frames_dropped_imu_gap += 1
        self._pending_drops += 1
        self._trim_imu(stamp)

    def _note_interval(self, previous: int | None, stamp: int) -> None:
        """Count frames missing between ``previous`` and ``stamp``: from the frame period, or
        from capacity drops (which the period also sees, so the larger of the two counts)."""
        overflow, self._overflow_drops = self._overflow_drops, 0
        if previous is None:
            self._pending_drops += overflow
            return
        interval = stamp - previous
        missing = self._frame_period.missing_before(interval, period=self._queued_period_ns())
        self._counters.camera_frames_missing += missing
        self._pending_drops += max(missing, overflow)

    def _make_frame(self, stamp: int, image: np.ndarray, window: tuple[np.ndarray, np.ndarray]) -> SyncedFrame:
        imu_stamps, values = window
        frame = SyncedFrame(
            stamp_ns=stamp, image=image, imu_stamps_ns=imu_stamps,
            gyro_rad_s=values[:, :3].copy(), accel_m_s2=values[:, 3:].copy(),
            frame_index=self._frame_index, dropped_frames=self._pending_drops,
        )
        self._frame_index += 1
        self._pending_drops = 0
        self._counters.frames_out += 1
        return frame

    def _trim_imu(self, stamp: int) -> None:
        """Keep the last sample at or before ``stamp`` (it brackets the next window) and later ones."""
        stamps, _ = self._imu.view()
        at_or_before = int(np.searchsorted(stamps, stamp, side="right"))
        self._imu.drop_front(max(at_or_before - 1, 0))


def _valid_image(image: object) -> bool:
    return isinstance(image, np.ndarray) and image.ndim == 2 and image.dtype == np.uint8 and image.size > 0


def _imu_value(gyro_rad_s: np.ndarray, accel_m_s2: np.ndarray) -> np.ndarray | None:
    """(6,) gyro|accel, or None if either is not three finite numbers."""
    try:
        value = np.concatenate([np.asarray(gyro_rad_s, dtype=np.float64).reshape(3),
                                np.asarray(accel_m_s2, dtype=np.float64).reshape(3)])
    except (ValueError, TypeError):
        return None
    return value if np.isfinite(value).all() else None


def _max_spacing(stamps: np.ndarray, start: int, end: int) -> int:
    """Largest spacing of the samples covering [start, end], bracketing samples included."""
    first = max(int(np.searchsorted(stamps, start, side="right")) - 1, 0)
    last = min(int(np.searchsorted(stamps, end, side="left")), len(stamps) - 1)
    covering = stamps[first : last + 1]
    if len(covering) < 2 or covering[0] > start:
        return int(np.iinfo(np.int64).max)
    return int(np.max(np.diff(covering)))


def _window(stamps: np.ndarray, values: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples strictly inside (start, end) plus both ends linearly interpolated.

    Shape:
        returns (K,) int64 stamps and (K, 6) values, K >= 2, stamps strictly increasing.
    """
    inside = (stamps > start) & (stamps < end)
    ends = np.array([start, end], dtype=np.int64)
    # Interpolate on times relative to the start: float64 keeps ns precision there.
    relative = (stamps - start).astype(np.float64)
    ends_relative = (ends - start).astype(np.float64)
    interpolated = np.stack([np.interp(ends_relative, relative, values[:, k]) for k in range(6)], axis=1)  # (2, 6)
    window_stamps = np.concatenate([ends[:1], stamps[inside], ends[1:]])
    window_values = np.concatenate([interpolated[:1], values[inside], interpolated[1:]])
    return window_stamps.astype(np.int64), window_values
