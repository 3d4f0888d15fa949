"""Gyro and accelerometer from two streams joined into IMU samples: interpolation, order, bounds."""
from __future__ import annotations

import numpy as np

from arvr_hybrid_vio.core.imu_join import ACCEL_KEPT, ImuJoiner


def accel_signal(t_s: np.ndarray) -> np.ndarray:
    """A smooth specific force, m/s^2. Shape: (N,) -> (N, 3)."""
    return np.stack([0.8 * np.sin(2.1 * t_s), 9.81 + 0.3 * np.cos(3.7 * t_s), 0.5 * np.sin(1.3 * t_s + 0.4)], axis=-1)


def streams(gyro_hz: float = 200.0, accel_hz: float = 62.5, duration_s: float = 3.0, accel_start_s: float = 0.013):
    gyro_ns = np.arange(0, int(duration_s * 1e9), int(1e9 / gyro_hz), dtype=np.int64)
    accel_ns = np.arange(int(accel_start_s * 1e9), int(duration_s * 1e9), int(1e9 / accel_hz), dtype=np.int64)
    gyro = np.stack([np.sin(gyro_ns * 1e-9), np.cos(gyro_ns * 1e-9), gyro_ns * 1e-10], axis=-1)
    return gyro_ns, gyro, accel_ns, accel_signal(accel_ns * 1e-9)


def arrival_order(gyro_ns: np.ndarray, accel_ns: np.ndarray, seed: int) -> list[tuple[str, int]]:
    """Both streams as they reach a subscriber: each sample 0-8 ms after its stamp, each stream in order."""
    rng = np.random.default_rng(seed)
    events = []
    for name, stamps in (("gyro", gyro_ns), ("accel", accel_ns)):
        arrival = np.maximum.accumulate(stamps + rng.uniform(0, 8e6, len(stamps)).astype(np.int64))
        events += [(int(a), name, i) for i, a in enumerate(arrival)]
    return [(name, index) for _, name, index in sorted(events)]


def join(joiner: ImuJoiner, order, gyro_ns, gyro, accel_ns, accel) -> list[tuple[int, np.ndarray, np.ndarray]]:
    out = []
    for name, index in order:
        if name == "gyro":
            out += joiner.add_gyro(gyro_ns[index], gyro[index])
        else:
            out += joiner.add_accel(accel_ns[index], accel[index])
    return out


def test_each_gyro_sample_gets_the_accelerometer_interpolated_at_its_stamp():
    gyro_ns, gyro, accel_ns, accel = streams()
    for seed in range(3):
        joiner = ImuJoiner()
        joined = join(joiner, arrival_order(gyro_ns, accel_ns, seed), gyro_ns, gyro, accel_ns, accel)
        stamps = np.array([s for s, _, _ in joined])
        usable = gyro_ns[(gyro_ns >= accel_ns[0]) & (gyro_ns <= accel_ns[-1])]
        np.testing.assert_array_equal(stamps, usable)  # every usable gyro sample, once, in order
        assert joiner.counters.gyro_before_first_accel == int(np.sum(gyro_ns < accel_ns[0])) == 3
        assert joiner.counters.dropped == 0  # the streams started apart: nothing lost
        assert joiner.waiting == int(np.sum(gyro_ns > accel_ns[-1]))  # the tail waits for an accelerometer sample
        np.testing.assert_array_equal(np.array([g for _, g, _ in joined]), gyro[np.isin(gyro_ns, usable)])
        expected = np.stack([np.interp(stamps, accel_ns, accel[:, k]) for k in range(3)], axis=-1)
        np.testing.assert_allclose(np.array([a for _, _, a in joined]), expected, rtol=0, atol=1e-12)
        # linear interpolation of a 62.5 Hz accelerometer stays close to the true specific force
        assert np.abs(expected - accel_signal(stamps * 1e-9)).max() < 2e-3


def test_samples_out_of_order_are_dropped_and_counted():
    joiner = ImuJoiner()
    assert joiner.add_accel(0, np.zeros(3)) == []
    assert joiner.add_accel(10, np.full(3, 10.0)) == []
    assert [s for s, _, _ in joiner.add_gyro(5, np.ones(3))] == [5]
    assert joiner.add_gyro(5, np.ones(3)) == [] and joiner.add_gyro(4, np.ones(3)) == []
    assert joiner.add_accel(10, np.zeros(3)) == [] and joiner.add_accel(3, np.zeros(3)) == []
    assert joiner.counters.out_of_order == 4 == joiner.counters.dropped  # what the node's dropped_total counts
    ((stamp, _, accel),) = joiner.add_gyro(7, np.ones(3))
    assert stamp == 7 and np.allclose(accel, 7.0)  # the dropped samples did not enter the interpolation


def test_gyro_waits_while_the_accelerometer_is_late_and_the_wait_is_bounded():
    joiner = ImuJoiner(max_waiting=50)
    joiner.add_accel(0, np.zeros(3))
    for k in range(1, 81):  # the accelerometer stops: 80 gyro samples arrive
        assert joiner.add_gyro(k * 5_000_000, np.ones(3)) == []
    assert joiner.waiting == 50 and joiner.counters.gyro_wait_overflow == 30 == joiner.counters.dropped
    released = joiner.add_accel(1_000_000_000, np.ones(3))  # it resumes after 1 s
    assert [s for s, _, _ in released] == [k * 5_000_000 for k in range(31, 81)] and joiner.waiting == 0
    joiner.reset()
    assert joiner.add_gyro(5, np.ones(3)) == [] and joiner.waiting == 1  # after a reset, waits for a new accelerometer


def test_a_replay_from_the_start_restarts_both_streams():
    gyro_ns, gyro, accel_ns, accel = streams(duration_s=2.0)
    order = arrival_order(gyro_ns, accel_ns, 0)
    joiner = ImuJoiner()
    first = join(joiner, order, gyro_ns, gyro, accel_ns, accel)
    again = join(joiner, order, gyro_ns, gyro, accel_ns, accel)  # the bag loops: stamps 2 s back
    assert joiner.counters.jump_backs >= 1 and joiner.counters.out_of_order == joiner.counters.dropped == 0
    assert joiner.counters.gyro_before_first_accel > 0  # both starts: gyro samples before the accelerometer's first
    assert [s for s, _, _ in again] == [s for s, _, _ in first]
    np.testing.assert_array_equal(np.array([a for _, _, a in again]), np.array([a for _, _, a in first]))


def test_gyro_before_the_first_accelerometer_sample_is_start_up_and_older_ones_are_dropped():
    joiner = ImuJoiner()
    assert joiner.add_gyro(1, np.ones(3)) == [] and joiner.add_accel(2, np.zeros(3)) == []
    assert joiner.counters.gyro_before_first_accel == 1 and joiner.counters.dropped == 0  # the streams start apart
    for k in range(1, ACCEL_KEPT + 1):  # the gyro stalls while the accelerometer goes on past what is kept
        joiner.add_accel(2 + 10 * k, np.zeros(3))
    assert joiner.add_gyro(5, np.ones(3)) == []  # after the first accelerometer sample, older than every one kept
    assert joiner.counters.gyro_without_accel == 1 == joiner.counters.dropped
