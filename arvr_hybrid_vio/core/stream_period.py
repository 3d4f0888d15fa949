"""The nominal period of a sensor stream, learned from its intervals (ROS-free)."""
from __future__ import annotations

import logging
import statistics
from collections import deque

LOGGER = logging.getLogger(__name__)
_PERIOD_HISTORY = 16  # intervals in the median, and long intervals in a row that make a new rate


class StreamPeriod:
    """The nominal period of a sensor stream, learned from its intervals, and the samples
    missing before each new one.

    An interval over 1.5 periods is a gap (samples missing) and is kept out of the median.
    A lasting rate change (a run of ``_PERIOD_HISTORY`` long intervals that agree within
    10 %) becomes the new period, so a stream that slows down stops reporting phantom
    missing samples after that run.
    """

    def __init__(self, min_intervals: int) -> None:
        self._min_intervals = min_intervals
        self._history: deque[int] = deque(maxlen=_PERIOD_HISTORY)
        self._long_run: deque[int] = deque(maxlen=_PERIOD_HISTORY)

    def clear(self) -> None:
        self._history.clear()
        self._long_run.clear()

    def period(self) -> int:
        """The median of recent regular intervals, ns (0 until enough are seen)."""
        return int(statistics.median(self._history)) if len(self._history) >= self._min_intervals else 0

    def missing_before(self, interval: int, *, period: int = 0) -> int:
        """Samples missing in an ``interval`` (ns) before a new one; learns from the interval.

        ``period`` overrides the learned period when > 0 (a configured nominal period).
        """
        fixed = period > 0
        period = period or self.period()
        if not period or interval <= 1.5 * period:
            self._long_run.clear()
            self._history.append(interval)
            return 0
        self._long_run.append(interval)
        if not fixed and len(self._long_run) == _PERIOD_HISTORY and \
                max(self._long_run) <= 1.1 * min(self._long_run):
            LOGGER.info("stream period changed from %d to %d ns", period, int(statistics.median(self._long_run)))
            self._history.clear()
            self._history.extend(self._long_run)
            self._long_run.clear()
            return 0
        return int(round(interval / period)) - 1
