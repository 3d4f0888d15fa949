"""CameraClock: jittered camera stamps moved onto a line fitted through the recent ones."""
from __future__ import annotations

import numpy as np

from arvr_hybrid_vio.core.camera_clock import MIN_FIT_IMAGES, CameraClock

T0_NS = 1_700_000_000_123_456_789  # an epoch stamp: the fit must keep its nanoseconds
PERIOD_NS = 33_333_333


def smooth(stamps: np.ndarray, period_ns: int = PERIOD_NS) -> np.ndarray:
    clock = CameraClock()
    return np.array([clock.smoothed(int(stamp), period_ns) for stamp in stamps], dtype=np.int64)


def test_jitter_is_averaged_out_and_a_steady_clock_passes_unchanged() -> None:
    true = T0_NS + np.arange(400, dtype=np.int64) * PERIOD_NS
    jittered = true + np.random.default_rng(0).integers(-2_000_000, 2_000_001, true.size)
    error = smooth(jittered) - true
    assert (jittered - true)[64:].std() > 1.1e6 and error[64:].std() < 0.4e6  # +-2 ms uniform: 1.15 -> 0.32 ms
    np.testing.assert_array_equal(error[:MIN_FIT_IMAGES - 1], (jittered - true)[:MIN_FIT_IMAGES - 1])  # not yet fitted
    np.testing.assert_array_equal(smooth(true), true)  # nothing to smooth: the same stamps, to the nanosecond
    synthetic = T0_NS + np.round(np.arange(400) * 1e9 / 30.0).astype(np.int64)  # 33,333,333 / 334 ns intervals
    assert np.abs(smooth(synthetic) - synthetic).max() <= 1


def test_missing_images_skip_a_number_and_an_irregular_stamp_starts_the_fit_again() -> None:
    true = T0_NS + np.arange(200, dtype=np.int64) * PERIOD_NS
    jittered = true + np.random.default_rng(1).integers(-1_000_000, 1_000_001, true.size)
    kept = np.ones(true.size, dtype=bool)
    kept[[50, 51, 52, 90]] = False  # lost images: the line goes on across them
    error = smooth(jittered[kept]) - true[kept]
    assert np.abs(error[64:]).max() < 0.6e6
    restarted = jittered.copy()
    restarted[120:] += 12_000_000  # the camera restarted out of phase: a stamp far from the line
    out = smooth(restarted)
    assert out[120] == restarted[120]  # taken as it is, the fit starting from it
    np.testing.assert_array_equal(out[120:120 + MIN_FIT_IMAGES - 1], restarted[120:120 + MIN_FIT_IMAGES - 1])
    assert np.abs(out[190:] - (true[190:] + 12_000_000)).max() < 1.0e6  # and the new clock is followed


def test_an_unknown_period_leaves_the_stamps_as_they_are() -> None:
    stamps = T0_NS + np.arange(20, dtype=np.int64) * PERIOD_NS + 777
    np.testing.assert_array_equal(smooth(stamps, period_ns=0), stamps)
