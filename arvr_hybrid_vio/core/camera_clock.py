"""A regular camera clock behind jittered camera stamps (ROS-free).

A camera stamped in software (a USB driver stamping each image when it arrives) carries the arrival jitter
of the bus and the scheduler, milliseconds, while the camera itself exposes on a steady clock. The learned
motion sources are sensitive to that jitter (README, "Other departures from the training rig": +-2 ms of
uniform jitter raised the hybrid's mean ATE by a sixth). ``CameraClock`` fits a line through the recent
stamps against their frame numbers (least squares over the last ``window`` images; a missing image skips a
number) and gives each image the line's stamp: the steady clock, with the jitter averaged out. A stamp
further than a quarter period from the line is a real irregularity (a restart, a rate change): the fit
starts again from it.
"""
from __future__ import annotations

from collections import deque

import numpy as np

MIN_FIT_IMAGES = 8  # stamps before the line is used (the first ones pass as they are)


class CameraClock:
    """Smoothed camera stamps; ``smoothed(stamp, period)`` per image, in stamp order."""

    def __init__(self, window: int = 64) -> None:
        self._fit: deque[tuple[int, int]] = deque(maxlen=window)  # (frame number, raw stamp)
        self._fitted: tuple[float, float] | None = None  # the line through self._fit, once computed

    def clear(self) -> None:
        self._fit.clear()
        self._fitted = None

    def smoothed(self, stamp_ns: int, period_ns: int) -> int:
        """The stamp on the fitted clock (the raw stamp until ``MIN_FIT_IMAGES`` are in the fit, or while
        ``period_ns``, the camera's learned period, is unknown)."""
        stamp_ns = int(stamp_ns)
        if period_ns <= 0 or not self._fit:
            return self._restart(stamp_ns)
        slope, intercept = self._line() if len(self._fit) >= 2 else (float(period_ns), 0.0)
        origin, (last_number, last_stamp) = self._fit[0][1], self._fit[-1]
        number = last_number + max(1, round((stamp_ns - last_stamp) / slope))
        if abs((stamp_ns - origin) - (intercept + slope * number)) > 0.25 * period_ns:
            return self._restart(stamp_ns)  # not the same clock
        self._fit.append((number, stamp_ns))
        self._fitted = None
        if len(self._fit) < MIN_FIT_IMAGES:
            return stamp_ns
        slope, intercept = self._line()
        return self._fit[0][1] + int(round(intercept + slope * number))

    def _restart(self, stamp_ns: int) -> int:
        self._fit.clear()
        self._fitted = None
        self._fit.append((0, stamp_ns))
        return stamp_ns

    def _line(self) -> tuple[float, float]:
        """Least-squares (slope, intercept) of the stamps, relative to the fit's first (int64 differences, so
        epoch stamps keep their nanoseconds), against the frame numbers; computed once per state of the fit
        (the line an image is smoothed onto is the next image's prediction)."""
        if self._fitted is None:
            origin = self._fit[0][1]
            numbers = np.array([number for number, _ in self._fit], dtype=np.float64)
            stamps = np.array([stamp - origin for _, stamp in self._fit], dtype=np.float64)
            slope, intercept = np.polyfit(numbers, stamps, 1)
            self._fitted = (float(slope), float(intercept))
        return self._fitted
