"""core.timing: percentiles, call timing bookkeeping, memory helpers (no timing assertions)."""
from __future__ import annotations

import numpy as np
import pytest

from arvr_hybrid_vio.core.timing import (
    BenchmarkError, LatencySummary, Stopwatch, machine_info, memory_slope_mb_per_min, process_rss_bytes,
    summarize_ms, time_calls)


def test_summarize_matches_numpy_percentiles() -> None:
    samples = np.arange(1, 101, dtype=np.float64)
    summary = summarize_ms(samples)
    assert summary == LatencySummary(count=100, p50_ms=50.5, p99_ms=float(np.percentile(samples, 99)),
                                     mean_ms=50.5, max_ms=100.0)
    assert summary.as_dict("x") == {"x_count": 100, "x_p50": 50.5, "x_p99": summary.p99_ms, "x_mean": 50.5,
                                    "x_max": 100.0}


@pytest.mark.parametrize("samples", [[], [1.0, float("nan")], [float("inf")]])
def test_summarize_refuses_empty_or_non_finite(samples: list[float]) -> None:
    with pytest.raises(BenchmarkError, match="step"):
        summarize_ms(samples, what="step")


def test_time_calls_runs_warmup_then_times_each_call() -> None:
    calls: list[int] = []
    syncs: list[int] = []
    samples = time_calls(calls.append, iterations=5, warmup=3, synchronize=lambda: syncs.append(1))
    assert calls == list(range(8))
    assert samples.shape == (5,) and np.all(samples >= 0)
    assert len(syncs) == 1 + 5  # once after the warm-up, once per timed call


def test_stopwatch_and_rss() -> None:
    with Stopwatch() as watch:
        sum(range(1000))
    assert watch.elapsed_s >= 0
    assert process_rss_bytes() > 1_000_000
    with pytest.raises(BenchmarkError, match="/proc/999999999"):
        process_rss_bytes(999_999_999)


def test_memory_slope_of_a_line() -> None:
    times = np.array([0.0, 60.0, 120.0, 180.0])
    rss = (100 + 2 * np.arange(4)) * 2**20  # +2 MB per minute
    assert memory_slope_mb_per_min(times, rss) == pytest.approx(2.0)
    with pytest.raises(BenchmarkError):
        memory_slope_mb_per_min(times[:1], rss[:1])


def test_machine_info_names_cpu_and_versions() -> None:
    info = machine_info("cpu")
    assert info["device"] == "cpu" and info["gpu_name"] is None
    assert info["cpu_model"] and info["torch_version"] and info["cpu_cores"] >= 1
