"""Gyro and accelerometer published apart, joined into the combined IMU samples the estimator takes.

A RealSense D4xx left at its driver's default (``unite_imu_method: none``) publishes the gyro and the
accelerometer on two topics, at different rates (e.g. 200 and 63 Hz), and so do some other drivers.
:class:`ImuJoiner` turns the two streams into one: each gyro sample becomes one IMU sample at its stamp,
with the accelerometer linearly interpolated between the accelerometer samples around it (what
realsense-ros's ``unite_imu_method: linear_interpolation`` publishes).

* A gyro sample waits until an accelerometer sample at or after its stamp has arrived, so samples come
  out in stamp order, at most one accelerometer period late.
* A gyro sample older than every accelerometer sample kept cannot be interpolated and is left out: before the
  accelerometer's first sample (the streams start apart: ``gyro_before_first_accel``, not a loss), or older than
  ``ACCEL_KEPT`` samples back (``gyro_without_accel``, dropped).
* A sample of either stream at or before the newest of its stream is dropped (``out_of_order``), unless it
  is more than ``jump_back_ns`` behind (a bag replayed again): then both streams start afresh (``jump_backs``),
  as the ``SyncBuffer`` does.
* Gyro samples wait at most ``max_waiting``: when the accelerometer stops, the oldest go
  (``gyro_wait_overflow``).

Pure numpy, no ROS: the node and ``arvr-vio-infer`` both feed it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

ACCEL_KEPT = 256  # accelerometer samples kept for interpolation (about 1 s at 250 Hz)


@dataclass
class JoinCounters:
    """Samples the joiner could not use, by reason."""

    gyro_before_first_accel: int = 0  # before the accelerometer's first sample (start-up; not counted as dropped)
    gyro_without_accel: int = 0  # older than every accelerometer sample kept, after the first
    out_of_order: int = 0  # at or before the newest sample of its stream
    gyro_wait_overflow: int = 0  # dropped from a full waiting queue (the accelerometer stopped)
    jump_backs: int = 0  # a stamp far behind its stream: both streams started afresh

    @property
    def dropped(self) -> int:
        """Samples of either stream lost after both had started (a jump back loses none)."""
        return self.gyro_without_accel + self.out_of_order + self.gyro_wait_overflow


@dataclass
class ImuJoiner:
    """Joins a gyro stream and an accelerometer stream into (stamp_ns, gyro (3,), accel (3,)) samples."""

    max_waiting: int = 1000  # gyro samples that may wait for the accelerometer (5 s at 200 Hz)
    jump_back_ns: int = 500_000_000  # a stamp this far behind its stream's newest one restarts both streams
    counters: JoinCounters = field(default_factory=JoinCounters)

    def __post_init__(self) -> None:
        self._accel_stamps: deque[int] = deque(maxlen=ACCEL_KEPT)
        self._accel_values: deque[np.ndarray] = deque(maxlen=ACCEL_KEPT)
        self._waiting: deque[tuple[int, np.ndarray]] = deque()
        self._last_gyro_ns: int | None = None
        self._first_accel_ns: int | None = None  # the accelerometer's first stamp since the start or a reset

    @property
    def waiting(self) -> int:
        """Gyro samples waiting for an accelerometer sample at or after their stamp."""
        return len(self._waiting)

    def add_gyro(self, stamp_ns: int, gyro_rad_s: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """A gyro sample; returns the samples it completes (it alone, or none while it waits)."""
        stamp_ns = int(stamp_ns)
        if self._behind(stamp_ns, self._last_gyro_ns):
            return []
        self._last_gyro_ns = stamp_ns
        self._waiting.append((stamp_ns, np.asarray(gyro_rad_s, dtype=np.float64).copy()))
        if len(self._waiting) > self.max_waiting:
            self._waiting.popleft()
            self.counters.gyro_wait_overflow += 1
        return self._release()

    def add_accel(self, stamp_ns: int, accel_m_s2: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """An accelerometer sample; returns the waiting gyro samples it completes, in stamp order."""
        stamp_ns = int(stamp_ns)
        if self._behind(stamp_ns, self._accel_stamps[-1] if self._accel_stamps else None):
            return []
        if self._first_accel_ns is None:
            self._first_accel_ns = stamp_ns
        self._accel_stamps.append(stamp_ns)
        self._accel_values.append(np.asarray(accel_m_s2, dtype=np.float64).copy())
        return self._release()

    def reset(self) -> None:
        """Forget both streams (e.g. the bag replay jumped back in time); the counters are kept."""
        self._accel_stamps.clear()
        self._accel_values.clear()
        self._waiting.clear()
        self._last_gyro_ns = None
        self._first_accel_ns = None

    def _behind(self, stamp_ns: int, newest_ns: int | None) -> bool:
        """Whether a sample at ``stamp_ns`` is dropped as out of order; a jump back restarts both streams."""
        if newest_ns is None or stamp_ns > newest_ns:
            return False
        if stamp_ns < newest_ns - self.jump_back_ns:
            self.counters.jump_backs += 1
            self.reset()
            return False
        self.counters.out_of_order += 1
        return True

    def _release(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        out: list[tuple[int, np.ndarray, np.ndarray]] = []
        if not self._accel_stamps:
            return out
        newest = self._accel_stamps[-1]
        while self._waiting and self._waiting[0][0] <= newest:
            stamp_ns, gyro = self._waiting.popleft()
            accel = self._accel_at(stamp_ns)
            if accel is None and stamp_ns < self._first_accel_ns:
                self.counters.gyro_before_first_accel += 1
            elif accel is None:
                self.counters.gyro_without_accel += 1
            else:
                out.append((stamp_ns, gyro, accel))
        return out

    def _accel_at(self, stamp_ns: int) -> np.ndarray | None:
        """The accelerometer interpolated at ``stamp_ns`` (within the kept samples), else None."""
        stamps = self._accel_stamps
        if stamp_ns < stamps[0]:
            return None
        if len(stamps) >= 2 and stamps[-2] < stamp_ns <= stamps[-1]:
            index = len(stamps) - 1  # the usual case, between the newest two: no search
        else:
            index = int(np.searchsorted(np.fromiter(stamps, dtype=np.int64, count=len(stamps)), stamp_ns))
        if stamps[index] == stamp_ns:
            return self._accel_values[index].copy()
        before, after = stamps[index - 1], stamps[index]
        weight = (stamp_ns - before) / (after - before)
        return (1.0 - weight) * self._accel_values[index - 1] + weight * self._accel_values[index]
