"""Unit tests of the camera-IMU sync buffer: ordering, interpolation, gaps, offset, jump back, capacity."""
from __future__ import annotations

import numpy as np
import pytest

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.sync_buffer import SyncBuffer, SyncConfig
from arvr_hybrid_vio.core.types import SyncedFrame

IMU_PERIOD_NS = 5_000_000  # 200 Hz
FRAME_PERIOD_NS = 50_000_000  # 20 Hz
T0_NS = 1_700_000_000_123_456_789  # a realistic epoch stamp, to catch float64 precision loss


def gyro_at(stamp_ns: int | np.ndarray) -> np.ndarray:
    """A gyro signal linear in time, so interpolation is exact: (..., 3)."""
    t = (np.asarray(stamp_ns, dtype=np.int64) - T0_NS) * 1e-9
    return np.stack([0.1 + 0.5 * t, -0.2 * t, 0.3 + 0 * t], axis=-1)


def accel_at(stamp_ns: int | np.ndarray) -> np.ndarray:
    t = (np.asarray(stamp_ns, dtype=np.int64) - T0_NS) * 1e-9
    return np.stack([1.0 * t, 0 * t, 9.81 + 0.1 * t], axis=-1)


def make_streams(seconds: float = 1.0, *, imu_offset_ns: int = 0, frame_offset_ns: int = 1_234_567):
    """IMU and image messages: lists of (kind, stamp_ns, payload)."""
    imu = [("imu", T0_NS + imu_offset_ns + k * IMU_PERIOD_NS)
           for k in range(int(seconds * 1e9 / IMU_PERIOD_NS) + 1)]
    frames = [("image", T0_NS + frame_offset_ns + k * FRAME_PERIOD_NS)
              for k in range(int(seconds * 1e9 / FRAME_PERIOD_NS))]
    return imu, frames


def image_for(stamp_ns: int) -> np.ndarray:
    return np.full((4, 6), stamp_ns % 251, dtype=np.uint8)


def feed(buffer: SyncBuffer, messages: list[tuple[str, int]], *, pop_each: bool = True) -> list[SyncedFrame]:
    out: list[SyncedFrame] = []
    for kind, stamp in messages:
        if kind == "imu":
            buffer.push_imu(stamp, gyro_at(stamp), accel_at(stamp))
        else:
            buffer.push_image(stamp, image_for(stamp))
        while pop_each and (frame := buffer.pop_synced()) is not None:
            out.append(frame)
    while (frame := buffer.pop_synced()) is not None:
        out.append(frame)
    return out


def interleaved(imu, frames):
    return sorted(imu + frames, key=lambda message: message[1])


def check_windows(frames: list[SyncedFrame]) -> None:
    """Windows chain frame to frame, are strictly increasing and interpolate the signal exactly."""
    for previous, frame in zip(frames, frames[1:]):
        assert frame.imu_stamps_ns[0] == previous.stamp_ns
    for frame in frames:
        assert frame.imu_stamps_ns.dtype == np.int64
        assert frame.imu_stamps_ns[-1] == frame.stamp_ns
        assert np.all(np.diff(frame.imu_stamps_ns) > 0)
        np.testing.assert_allclose(frame.gyro_rad_s, gyro_at(frame.imu_stamps_ns), atol=1e-9)
        np.testing.assert_allclose(frame.accel_m_s2, accel_at(frame.imu_stamps_ns), atol=1e-9)


def test_pairs_each_frame_with_the_imu_since_the_previous_frame():
    imu, frames = make_streams(1.0)
    out = feed(SyncBuffer(SyncConfig()), interleaved(imu, frames))
    assert [f.stamp_ns for f in out] == [s for _, s in frames]
    assert [f.frame_index for f in out] == list(range(len(frames)))
    assert all(f.dropped_frames == 0 for f in out)
    check_windows(out)
    # 50 ms windows at 200 Hz: 10 real samples strictly inside plus two interpolated ends.
    assert {len(f.imu_stamps_ns) for f in out[1:]} == {12}
    # The first frame's window starts at the last real sample before it.
    assert out[0].imu_stamps_ns[0] == T0_NS and len(out[0].imu_stamps_ns) == 2


def test_interpolates_both_ends_at_frame_times():
    imu, frames = make_streams(0.5, frame_offset_ns=2_500_001)
    out = feed(SyncBuffer(SyncConfig()), interleaved(imu, frames))
    frame = out[3]
    assert frame.imu_stamps_ns[0] == frames[2][1] and frame.imu_stamps_ns[-1] == frames[3][1]
    np.testing.assert_allclose(frame.gyro_rad_s[[0, -1]], gyro_at(frame.imu_stamps_ns[[0, -1]]), atol=1e-12)
    # A frame exactly on an IMU stamp uses the sample, without a repeated stamp.
    out_on = feed(SyncBuffer(SyncConfig()), interleaved(*make_streams(0.5, frame_offset_ns=0)))
    check_windows(out_on)


def test_frame_waits_for_imu_coverage():
    buffer = SyncBuffer(SyncConfig())
    buffer.push_imu(T0_NS, gyro_at(T0_NS), accel_at(T0_NS))
    buffer.push_image(T0_NS + 7_000_000, image_for(0))
    assert buffer.pop_synced() is None and buffer.pending_frames == 1
    buffer.push_imu(T0_NS + 10_000_000, gyro_at(T0_NS + 10_000_000), accel_at(T0_NS + 10_000_000))
    frame = buffer.pop_synced()
    assert frame is not None and frame.stamp_ns == T0_NS + 7_000_000


@pytest.mark.parametrize("pop_each", [True, False])
def test_out_of_order_messages_give_the_same_frames(pop_each: bool):
    imu, frames = make_streams(1.0)
    ordered = interleaved(imu, frames)
    reference = feed(SyncBuffer(SyncConfig()), ordered)
    shuffled = list(ordered)
    rng = np.random.default_rng(0)
    for i in range(0, len(shuffled) - 3, 3):  # local shuffles, as a network reorders
        shuffled[i : i + 3] = [shuffled[i + j] for j in rng.permutation(3)]
    buffer = SyncBuffer(SyncConfig())
    out = feed(buffer, shuffled, pop_each=pop_each)
    counters = buffer.counters()
    assert counters["imu_out_of_order"] > 0
    assert [f.stamp_ns for f in out] == [f.stamp_ns for f in reference]
    check_windows(out)
    if pop_each:  # an IMU sample that arrives after its frame was released is late: counted, unused
        assert counters["dropped_total"] == counters["imu_late"]
    else:  # everything arrived before popping: identical windows
        assert counters["dropped_total"] == 0
        for a, b in zip(out, reference):
            np.testing.assert_array_equal(a.imu_stamps_ns, b.imu_stamps_ns)
            np.testing.assert_array_equal(a.gyro_rad_s, b.gyro_rad_s)


def test_late_messages_are_counted_not_used():
    imu, frames = make_streams(0.5)
    buffer = SyncBuffer(SyncConfig())
    out = feed(buffer, interleaved(imu, frames))
    buffer.push_imu(frames[-1][1] - 1_000_000, np.zeros(3), np.zeros(3))  # older than the last frame
    buffer.push_image(frames[-2][1], image_for(0))
    counters = buffer.counters()
    assert counters["imu_late"] == 1 and counters["images_late"] == 1
    assert buffer.pop_synced() is None and len(out) == len(frames)


def test_duplicates_are_dropped_and_counted():
    imu, frames = make_streams(0.5)
    doubled = [m for m in interleaved(imu, frames) for _ in range(2)]
    buffer = SyncBuffer(SyncConfig())
    out = feed(buffer, doubled)
    reference = feed(SyncBuffer(SyncConfig()), interleaved(imu, frames))
    assert [f.stamp_ns for f in out] == [f.stamp_ns for f in reference]
    counters = buffer.counters()
    assert counters["image_duplicates"] == len(frames) and counters["imu_duplicates"] == len(imu)
    check_windows(out)


def test_imu_gap_drops_the_frames_it_covers_and_reports_them():
    imu, frames = make_streams(4.0)
    gap = (T0_NS + 1_000_000_000, T0_NS + 3_000_000_000)  # a 2 s IMU gap
    imu = [m for m in imu if not gap[0] < m[1] < gap[1]]
    buffer = SyncBuffer(SyncConfig(max_imu_gap_ns=50_000_000))
    out = feed(buffer, interleaved(imu, frames))
    counters = buffer.counters()
    in_gap = [s for _, s in frames if gap[0] - FRAME_PERIOD_NS < s < gap[1] + FRAME_PERIOD_NS]
    assert counters["frames_dropped_imu_gap"] >= len(in_gap) - 2
    assert len(out) + counters["frames_dropped_imu_gap"] == len(frames)
    for frame in out:
        assert np.max(np.diff(frame.imu_stamps_ns)) <= 50_000_000
        assert not gap[0] < frame.stamp_ns < gap[1]
    after = [f for f in out if f.stamp_ns > gap[1]]
    assert after[0].dropped_frames == counters["frames_dropped_imu_gap"]
    assert counters["imu_samples_missing"] == (gap[1] - gap[0]) // IMU_PERIOD_NS - 1
    assert all(f.dropped_frames == 0 for f in after[1:])
    assert [f.frame_index for f in out] == list(range(len(out)))  # no reset for a gap
    check_windows(after)


def test_dropped_camera_frames_are_reported():
    imu, frames = make_streams(1.0)
    kept = [m for i, m in enumerate(frames) if i not in (10, 14, 15)]
    buffer = SyncBuffer(SyncConfig())
    out = feed(buffer, interleaved(imu, kept))
    by_stamp = {f.stamp_ns: f.dropped_frames for f in out}
    assert by_stamp[frames[11][1]] == 1 and by_stamp[frames[16][1]] == 2
    assert sum(by_stamp.values()) == 3 == buffer.counters()["camera_frames_missing"]
    # With a configured period the first interval is already judged.
    buffer = SyncBuffer(SyncConfig(expected_frame_period_ns=FRAME_PERIOD_NS))
    out = feed(buffer, interleaved(imu, [m for i, m in enumerate(frames) if i != 1]))
    assert out[1].dropped_frames == 1


def test_time_offset_shifts_frames_into_the_imu_clock():
    offset = 3_000_000  # t_imu = t_cam + 3 ms
    imu, frames = make_streams(0.5)
    buffer = SyncBuffer(SyncConfig(time_offset_ns=offset))
    out = feed(buffer, interleaved(imu, frames))
    assert [f.stamp_ns for f in out] == [s + offset for _, s in frames]
    check_windows(out)
    negative = feed(SyncBuffer(SyncConfig(time_offset_ns=-offset)), interleaved(imu, frames))
    assert [f.stamp_ns for f in negative] == [s - offset for _, s in frames if s - offset > T0_NS]
    check_windows(negative)


def test_jump_back_in_time_resets_the_stream():
    imu, frames = make_streams(1.0)
    first = interleaved(imu, frames)
    buffer = SyncBuffer(SyncConfig(jump_back_ns=500_000_000))
    out = feed(buffer, first + first)  # the bag restarted
    counters = buffer.counters()
    assert counters["jump_backs"] == 1 and counters["resets"] == 1
    assert [f.frame_index for f in out] == list(range(len(frames))) * 2
    check_windows(out[: len(frames)])
    check_windows(out[len(frames):])
    buffer.reset()
    assert buffer.pending_imu == 0 and buffer.pending_frames == 0 and buffer.counters()["resets"] == 2


def test_imu_capacity_overflow_when_camera_stops():
    imu, frames = make_streams(3.0)
    stop = (T0_NS + 500_000_000, T0_NS + 2_500_000_000)  # camera silent for 2 s
    frames = [m for m in frames if not stop[0] < m[1] < stop[1]]
    buffer = SyncBuffer(SyncConfig(imu_capacity=100))  # 0.5 s of IMU
    out = feed(buffer, interleaved(imu, frames))
    counters = buffer.counters()
    assert counters["imu_overflow"] > 0
    assert buffer.pending_imu <= 100
    # The first frame after the stop lost its IMU start: dropped as a gap, then tracking resumes.
    assert counters["frames_dropped_imu_gap"] == 1
    assert len(out) == len(frames) - 1
    check_windows([f for f in out if f.stamp_ns > stop[1]])


def test_frame_capacity_overflow_when_imu_stops():
    imu, frames = make_streams(2.0)
    imu = [m for m in imu if m[1] < T0_NS + 500_000_000]
    buffer = SyncBuffer(SyncConfig(capacity=8))
    feed(buffer, interleaved(imu, frames))
    assert buffer.pending_frames == 8
    assert buffer.counters()["frames_overflow"] == len(frames) - 10 - 8
    late_imu = [("imu", T0_NS + k * IMU_PERIOD_NS) for k in range(100, 401)]
    out = feed(buffer, late_imu)
    # The frames kept after the overflow pair from the last released frame; none is lost silently.
    assert out and out[0].dropped_frames == buffer.counters()["frames_overflow"]


def test_invalid_input_is_counted_and_ignored():
    buffer = SyncBuffer(SyncConfig())
    assert not buffer.push_imu(T0_NS, np.array([np.nan, 0, 0]), np.zeros(3))
    assert not buffer.push_imu(T0_NS, np.zeros(3), np.array([0, np.inf, 0]))
    assert not buffer.push_imu(T0_NS, np.zeros(2), np.zeros(3))
    assert not buffer.push_image(T0_NS, np.zeros((4, 4, 3), dtype=np.uint8))
    assert not buffer.push_image(T0_NS, np.zeros((4, 4), dtype=np.float32))
    assert not buffer.push_image(T0_NS, np.zeros((0, 4), dtype=np.uint8))
    counters = buffer.counters()
    assert counters["imu_invalid"] == 3 and counters["images_invalid"] == 3
    assert counters["dropped_total"] == 6
    assert buffer.pending_imu == 0 and buffer.pending_frames == 0


def test_frames_before_the_first_imu_sample_are_counted():
    imu, frames = make_streams(0.5, imu_offset_ns=120_000_000)
    buffer = SyncBuffer(SyncConfig())
    out = feed(buffer, interleaved(imu, frames))
    counters = buffer.counters()
    assert counters["frames_without_imu"] == 3
    assert out[0].frame_index == 0 and out[0].dropped_frames == 0
    assert len(out) == len(frames) - 3
    check_windows(out)


def stream_at(rate_hz: float, seconds: float, jitter_ns: int = 0) -> list[tuple[str, int]]:
    """Images at ``rate_hz`` with uniform stamp jitter up to ``jitter_ns``, interleaved with the 200 Hz IMU."""
    imu, _ = make_streams(seconds)
    jitter = np.random.default_rng(3).integers(-jitter_ns, jitter_ns + 1, int(seconds * rate_hz))
    frames = [("image", T0_NS + 1_234_567 + int(round(k * 1e9 / rate_hz)) + int(jitter[k]))
              for k in range(int(seconds * rate_hz))]
    return interleaved(imu, frames)


@pytest.mark.parametrize("rate_hz, kept_every", [(60.0, 2), (90.0, 3), (120.0, 4), (50.0, 2), (30.0, 1), (40.0, 1),
                                                  (20.0, 1)])
def test_a_fast_camera_is_thinned_to_the_training_rate_and_nothing_counts_as_dropped(rate_hz, kept_every):
    """At the default target (30 Hz) a 60/90/120 Hz camera reaches the estimator at 30 Hz (50 Hz: 25 Hz; 40 and
    20 Hz untouched), a quarter period of stamp jitter included; once the camera's period is learned (four
    intervals) every k-th image is kept, each frame's IMU window spanning the skipped ones; no drop or missing frame."""
    period_ns = int(1e9 / rate_hz)
    messages = stream_at(rate_hz, 2.0, jitter_ns=period_ns // 8)  # each stamp +- 1/8: intervals +- 1/4 period
    images = [stamp for kind, stamp in messages if kind == "image"]
    buffer = SyncBuffer(SyncConfig())
    out = feed(buffer, messages)
    learned = 4 if kept_every > 1 else 0  # the first four images, before the period is known, are all kept
    assert [f.stamp_ns for f in out] == images[:learned] + images[learned + kept_every - 1::kept_every]
    check_windows(out)
    counters = buffer.counters()
    assert counters["images_decimated"] == len(images) - len(out)
    assert counters["dropped_total"] == counters["camera_frames_missing"] == 0
    assert all(f.dropped_frames == 0 for f in out)
    # with the camera's own period configured, thinning starts at once; missing frames are judged against k periods
    configured = SyncBuffer(SyncConfig(expected_frame_period_ns=period_ns))
    assert [f.stamp_ns for f in feed(configured, messages)] == images[::kept_every]
    assert configured.counters()["camera_frames_missing"] == 0
    everything = SyncBuffer(SyncConfig(target_frame_rate_hz=0.0))  # 0: every image
    assert len(feed(everything, messages)) == len(images) and everything.counters()["images_decimated"] == 0


def test_a_thinned_camera_still_reports_the_frames_it_missed():
    """A 60 Hz camera (kept: images 0-3 while its period is learned, then every odd one) loses images 20-24:
    the thinned stream shows a 100 ms gap (19 -> 25) where it expects 33 ms, so the frame after it reports the
    two frames it would have had (21 and 23)."""
    messages = stream_at(60.0, 1.0)
    images = [stamp for kind, stamp in messages if kind == "image"]
    lost = set(images[20:25])
    buffer = SyncBuffer(SyncConfig())
    out = feed(buffer, [m for m in messages if m[1] not in lost or m[0] == "imu"])
    after_gap = next(f for f in out if f.stamp_ns > images[19])
    assert after_gap.stamp_ns == images[25] and after_gap.dropped_frames == 2
    assert buffer.counters()["camera_frames_missing"] == 2


@pytest.mark.parametrize("bad", [dict(capacity=0), dict(imu_capacity=2), dict(max_imu_gap_ns=0),
                                 dict(jump_back_ns=-1), dict(expected_frame_period_ns=-5),
                                 dict(target_frame_rate_hz=-1.0), dict(target_frame_rate_hz=float("nan"))])
def test_config_rejects_impossible_values(bad):
    with pytest.raises(ConfigError):
        SyncConfig(**bad)


def test_capacity_bounds_memory_over_a_long_stream():
    imu, frames = make_streams(20.0)
    buffer = SyncBuffer(SyncConfig(imu_capacity=64, capacity=4))
    out = feed(buffer, interleaved(imu, frames))
    assert len(out) == len(frames)
    assert buffer.pending_imu <= 12 and buffer.counters()["dropped_total"] == 0


def test_update_config_changes_tolerances_but_not_capacity():
    buffer = SyncBuffer(SyncConfig())
    buffer.update_config(SyncConfig(time_offset_ns=5))
    assert buffer.config.time_offset_ns == 5
    with pytest.raises(ConfigError):
        buffer.update_config(SyncConfig(capacity=3))


def test_first_frame_at_the_first_imu_sample_anchors_the_first_window():
    imu, frames = make_streams(0.5, frame_offset_ns=0)
    buffer = SyncBuffer(SyncConfig())
    out = feed(buffer, interleaved(imu, frames))
    counters = buffer.counters()
    assert counters["frames_anchor"] == 1 and counters["dropped_total"] == 0
    assert out[0].frame_index == 0 and out[0].imu_stamps_ns[0] == T0_NS == frames[0][1]
    assert [f.stamp_ns for f in out] == [s for _, s in frames[1:]]
    check_windows(out)


def test_a_lasting_rate_change_is_learned_not_reported_as_missing_samples_forever():
    """IMU 1 kHz -> 200 Hz and camera halving its rate: after one history's worth of long
    intervals the new period is learned, and no more samples are counted missing."""
    fast = [("imu", T0_NS + k * 1_000_000) for k in range(500)]
    slow_start = fast[-1][1] + IMU_PERIOD_NS
    slow = [("imu", slow_start + k * IMU_PERIOD_NS) for k in range(1000)]
    frames = [("image", T0_NS + 1_234_567 + k * FRAME_PERIOD_NS) for k in range(10)]
    frames += [("image", frames[-1][1] + (k + 1) * 2 * FRAME_PERIOD_NS) for k in range(40)]
    buffer = SyncBuffer(SyncConfig())
    slow_end = slow[-1][1]
    first = [m for m in interleaved(fast + slow, frames) if m[1] <= slow_start + 2_500_000_000]
    feed(buffer, first)
    after_change = buffer.counters()
    # The run of long intervals before the new period is learned is counted (4 per 5 ms interval) ...
    assert 0 < after_change["imu_samples_missing"] <= 4 * 16
    assert 0 < after_change["camera_frames_missing"] <= 16
    out = feed(buffer, [m for m in interleaved(fast + slow, frames) if slow_start + 2_500_000_000 < m[1] <= slow_end])
    # ... and nothing after it.
    assert buffer.counters()["imu_samples_missing"] == after_change["imu_samples_missing"]
    assert buffer.counters()["camera_frames_missing"] == after_change["camera_frames_missing"]
    assert out and all(frame.dropped_frames == 0 for frame in out)
    # A real gap at the new rate is still counted, in new-rate samples.
    gap_buffer = SyncBuffer(SyncConfig())
    kept = [m for m in slow if not slow_start + 1_000_000_000 < m[1] < slow_start + 1_100_000_000]
    feed(gap_buffer, kept)
    assert gap_buffer.counters()["imu_samples_missing"] == 100_000_000 // IMU_PERIOD_NS - 1


def test_camera_stamp_smoothing_moves_jittered_frames_onto_the_camera_clock():
    """With ``camera_stamp_smoothing`` the frames of a camera stamped with +-2 ms of jitter carry stamps near the
    true ones, each frame's IMU window ending at its (smoothed) stamp; ``queued_stamp_ns`` says which stamp the
    last image was queued under. Off (the default), the stamps are the messages' own."""
    true = [T0_NS + 1_234_567 + k * FRAME_PERIOD_NS for k in range(200)]
    jitter = np.random.default_rng(5).integers(-2_000_000, 2_000_001, len(true))
    imu, _ = make_streams(10.0)
    messages = interleaved(imu, [("image", stamp + int(offset)) for stamp, offset in zip(true, jitter)])
    smoothed_buffer = SyncBuffer(SyncConfig(camera_stamp_smoothing=True))
    smoothed = feed(smoothed_buffer, messages)
    check_windows(smoothed)
    error = np.array([f.stamp_ns for f in smoothed]) - np.array(true[:len(smoothed)])
    assert len(smoothed) == len(true) and np.abs(error[80:]).std() < 0.5e6 and np.abs(error[80:]).max() < 1.2e6
    assert smoothed_buffer.queued_stamp_ns == smoothed[-1].stamp_ns != true[-1] + int(jitter[-1])
    raw = feed(SyncBuffer(SyncConfig()), messages)
    assert [f.stamp_ns for f in raw] == [stamp + int(offset) for stamp, offset in zip(true, jitter)]
