"""Health bookkeeping of the VIO node: input rates, latencies, node-level counters, state.

Plain Python (thread-safe where the node's threads share it); the node turns a
:class:`HealthReport` into ``diagnostic_msgs/DiagnosticStatus``.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

NODE_COUNTERS = (
    "images_received", "imu_received", "accel_received", "camera_info_received", "images_rejected_encoding",
    "images_rejected_size", "images_rejected_data", "imu_rejected_nonfinite", "odometry_published",
    "imu_rate_published", "imu_rate_superseded", "imu_rate_capped", "imu_rate_queue_overflow", "outputs_nonfinite",
    "estimator_errors", "resets_requested", "resets_jump_back", "camera_info_rejected", "prepare_image_errors",
    "path_published",
)


class RateMeter:
    """Events per second over a sliding wall-clock window (monotonic clock)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.last_event: float | None = None

    def tick(self, now: float | None = None) -> None:
        """Record one event."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times.append(now)
            self.last_event = now
            self._expire(now)

    def rate_hz(self, now: float | None = None) -> float:
        """Events per second over the window ending now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._expire(now)
            return len(self._times) / self._window_s

    def silent_for_s(self, now: float | None = None) -> float | None:
        """Seconds since the last event (None: never)."""
        now = time.monotonic() if now is None else now
        return None if self.last_event is None else now - self.last_event

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] < now - self._window_s:
            self._times.popleft()


class LatencyStats:
    """The last ``size`` latencies in milliseconds, with percentiles."""

    def __init__(self, size: int = 500) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, milliseconds: float) -> None:
        with self._lock:
            self._values.append(float(milliseconds))

    def summary(self) -> dict[str, float]:
        """p50, p99 and max in ms (zeros before the first sample)."""
        with self._lock:
            values = np.asarray(self._values, dtype=np.float64)
        if values.size == 0:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0}
        return {"p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99)),
                "max": float(values.max())}


@dataclass
class NodeCounters:
    """Thread-safe counts of what the node itself received, rejected and published."""

    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NODE_COUNTERS, 0))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            self.values[name] += count

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.values)


def dropped_total(buffer_counters: dict[str, int], node_counters: dict[str, int], join_dropped: int) -> int:
    """Input messages that did not reach the estimator, plus frames and IMU samples known missing;
    ``join_dropped``: gyro and accelerometer samples the IMU joiner could not use (``JoinCounters.dropped``)."""
    return (join_dropped + buffer_counters["dropped_total"] + buffer_counters["imu_samples_missing"]
            + buffer_counters["camera_frames_missing"] + node_counters["images_rejected_encoding"]
            + node_counters["images_rejected_size"] + node_counters["images_rejected_data"]
            + node_counters["imu_rejected_nonfinite"] + node_counters["imu_rate_queue_overflow"])


@dataclass(frozen=True)
class HealthReport:
    """What /diagnostics says: a level (0 OK, 1 WARN, 2 ERROR), the state, a message and key values."""

    level: int
    state: str
    message: str
    values: dict[str, str]


def node_state(estimator_state: str, *, reset_pending: bool, image_silent_s: float | None,
               imu_silent_s: float | None, timeout_s: float) -> tuple[int, str, str]:
    """Level, state and message from the estimator state and input liveness.

    States: "initialising", "tracking", "degraded" (bad or missing input, or the
    estimator says so) and "reset" (a reset happened since the last report).
    """
    if reset_pending:
        return 1, "reset", "reset: initialising again from the next frames"
    missing = [name for name, silent in (("camera", image_silent_s), ("IMU", imu_silent_s))
               if silent is None or silent > timeout_s]
    if missing and estimator_state != "initialising":
        return 1, "degraded", f"no {' and no '.join(missing)} input for over {timeout_s:.1f} s"
    if estimator_state == "degraded":
        return 1, "degraded", "degraded: last frame skipped (bad input or IMU gap)"
    if estimator_state == "initialising":
        waiting = f" (waiting for {' and '.join(missing)})" if missing else ""
        return 0, "initialising", f"initialising: collecting IMU for gravity alignment{waiting}"
    return 0, "tracking", "tracking"


def format_values(values: dict[str, object]) -> dict[str, str]:
    """Diagnostic key/values as strings (floats with 3 decimals)."""
    return {key: f"{value:.3f}" if isinstance(value, float) else str(value) for key, value in values.items()}
