"""Timing, statistics and machine facts for the speed benchmark (ROS-free; torch only when asked).

``time_calls`` times a callable after a warm-up, synchronising an accelerator before
reading the clock; ``summarize_ms`` turns samples into p50/p99; ``process_rss_bytes``
and ``memory_slope_mb_per_min`` watch memory during a soak; ``machine_info`` names
the CPU, the GPU and the library versions every benchmark number belongs to.
"""
from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arvr_hybrid_vio.core.errors import VioError


class BenchmarkError(VioError):
    """A benchmark could not measure what it was asked to (no samples, a process died, ...)."""


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of a set of durations, in milliseconds."""

    count: int  # number of samples
    p50_ms: float  # median
    p99_ms: float  # 99th percentile (linear interpolation)
    mean_ms: float  # mean
    max_ms: float  # largest sample

    def as_dict(self, prefix: str) -> dict[str, float | int]:
        """``{prefix}_p50`` ... keys (``{prefix}_count`` for the sample count)."""
        return {f"{prefix}_{key.removesuffix('_ms')}": value for key, value in asdict(self).items()}


def summarize_ms(samples_ms: np.ndarray | list[float], *, what: str = "latency") -> LatencySummary:
    """p50/p99/mean/max of durations in ms.

    Raises:
        BenchmarkError: no samples, or a sample is not finite.
    """
    values = np.asarray(samples_ms, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise BenchmarkError(f"{what}: no samples were measured")
    if not np.all(np.isfinite(values)):
        raise BenchmarkError(f"{what}: {int(np.sum(~np.isfinite(values)))} non-finite samples")
    return LatencySummary(count=int(values.size), p50_ms=float(np.percentile(values, 50)),
                          p99_ms=float(np.percentile(values, 99)), mean_ms=float(values.mean()),
                          max_ms=float(values.max()))


def device_synchronizer(device: Any) -> Callable[[], None]:
    """A function that waits for queued work on ``device`` (a no-op on the CPU).

    Args:
        device: a ``torch.device`` or its name.
    """
    if str(device).startswith("cuda"):
        import torch  # only when timing an accelerator
        return torch.cuda.synchronize
    return lambda: None


def time_calls(function: Callable[[int], Any], *, iterations: int, warmup: int = 0,
               synchronize: Callable[[], None] | None = None) -> np.ndarray:
    """Wall-clock duration of ``function(i)`` for ``i`` in ``range(warmup + iterations)``, warm-up dropped.

    Args:
        function: called with the call index; its result is ignored.
        iterations: calls that are timed.
        warmup: calls before, not timed.
        synchronize: called before each clock read (e.g. ``torch.cuda.synchronize``).

    Returns:
        (iterations,) durations in ms.
    """
    sync = synchronize or (lambda: None)
    for index in range(warmup):
        function(index)
    sync()
    samples = np.empty(iterations, dtype=np.float64)
    for index in range(iterations):
        started = time.perf_counter()
        function(warmup + index)
        sync()
        samples[index] = (time.perf_counter() - started) * 1e3
    return samples


class Stopwatch:
    """``with Stopwatch() as watch: ...`` then ``watch.elapsed_s`` (perf_counter)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.elapsed_s = math.nan

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed_s = time.perf_counter() - self.started


def process_rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (default: this one), from ``/proc/<pid>/status``.

    Raises:
        BenchmarkError: the process does not exist or the kernel does not report VmRSS.
    """
    path = Path(f"/proc/{pid or os.getpid()}/status")
    try:
        text = path.read_text()
    except OSError as exc:
        raise BenchmarkError(f"{path}: cannot read process status ({exc})") from exc
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # "VmRSS:  1234 kB"
    raise BenchmarkError(f"{path}: no VmRSS line")


def memory_slope_mb_per_min(times_s: np.ndarray, rss_bytes: np.ndarray) -> float:
    """Least-squares slope of RSS over time. Shape: (N,), (N,) with N >= 2 -> MB per minute."""
    times = np.asarray(times_s, dtype=np.float64)
    rss_mb = np.asarray(rss_bytes, dtype=np.float64) / 2**20
    if times.size < 2 or np.ptp(times) <= 0:
        raise BenchmarkError("memory slope needs at least two samples at different times")
    return float(np.polyfit(times / 60.0, rss_mb, 1)[0])


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(device: Any = "cpu") -> dict[str, Any]:
    """What every benchmark number belongs to: CPU, cores, GPU, versions and the load when measured."""
    import torch  # the benchmark always reports the torch version
    gpu = torch.cuda.get_device_name(torch.device(str(device))) if str(device).startswith("cuda") else None
    return {"device": str(device), "torch_version": torch.__version__, "cpu_model": cpu_model(),
            "cpu_cores": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
            "gpu_name": gpu, "python_version": platform.python_version(),
            "load_average_1min": float(os.getloadavg()[0])}
