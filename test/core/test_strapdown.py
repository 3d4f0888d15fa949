"""Strapdown integration and preintegration on exact (noise-free) IMU."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from arvr_hybrid_vio.core.errors import SensorDataError
from arvr_hybrid_vio.core.geometry import rotation_angle_deg
from arvr_hybrid_vio.core.strapdown import (
    NavState, apply_preintegration, check_imu_arrays, displacement_at_rest, gravity_aligned_rotation,
    integrate_states, preintegrate, preintegrate_interval, static_initial_state, velocity_from_displacement)
from test_strapdown_helpers import exact_motion


def test_strapdown_reproduces_ground_truth_from_true_start() -> None:
    motion = exact_motion(6.0)
    start = NavState(int(motion.stamps_ns[0]), motion.rotations[0], motion.positions_xyz[0], motion.velocity_xyz[0])
    states = integrate_states(start, motion.stamps_ns, motion.gyro, motion.accel, gravity_m_s2=9.81)
    positions = np.stack([s.position_xyz for s in states])
    rotations = np.stack([s.rotation for s in states])
    assert np.max(np.linalg.norm(positions - motion.positions_xyz[1:], axis=1)) < 1e-3
    assert np.max(rotation_angle_deg(np.swapaxes(rotations, 1, 2) @ motion.rotations[1:])) < 0.005


def test_preintegration_over_a_frame_equals_sample_by_sample() -> None:
    motion = exact_motion(2.0)
    start = NavState(int(motion.stamps_ns[200]), motion.rotations[200], motion.positions_xyz[200],
                     motion.velocity_xyz[200])
    window = slice(200, 211)
    pre = preintegrate(motion.stamps_ns[window], motion.gyro[window], motion.accel[window])
    frame_state = apply_preintegration(start, pre, stamp_ns=int(motion.stamps_ns[210]))
    sample_state = integrate_states(start, motion.stamps_ns[window], motion.gyro[window], motion.accel[window])[-1]
    np.testing.assert_allclose(frame_state.position_xyz, sample_state.position_xyz, atol=1e-12)
    np.testing.assert_allclose(frame_state.velocity_xyz, sample_state.velocity_xyz, atol=1e-12)
    np.testing.assert_allclose(frame_state.rotation, sample_state.rotation, atol=1e-12)
    assert pre.dt_s == pytest.approx(0.05)


def test_one_interval_preintegration_equals_preintegrate_on_two_samples_bit_for_bit() -> None:
    """The IMU-rate propagation's per-sample step is the same arithmetic as the frame preintegration."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        stamps = np.cumsum(rng.integers(200_000, 20_000_000, 2)).astype(np.int64)
        gyro = rng.standard_normal((2, 3)) * rng.choice([1e-4, 0.5, 8.0])
        accel = rng.standard_normal((2, 3)) * 4.0 + np.array([0.0, 0.0, 9.81])
        one = preintegrate_interval(int(stamps[0]), int(stamps[1]), gyro[0], gyro[1], accel[0], accel[1])
        two = preintegrate(stamps, gyro, accel)
        assert one.dt_s == two.dt_s
        for name in ("delta_rotation", "delta_velocity", "delta_position"):
            np.testing.assert_array_equal(getattr(one, name), getattr(two, name))


def test_velocity_from_displacement_inverts_propagation() -> None:
    motion = exact_motion(2.0)
    start = NavState(0, motion.rotations[300], motion.positions_xyz[300], motion.velocity_xyz[300])
    pre = preintegrate(motion.stamps_ns[300:307], motion.gyro[300:307], motion.accel[300:307])
    end = apply_preintegration(start, pre, stamp_ns=1)
    v_start, v_end = velocity_from_displacement(start, pre, end.position_xyz - start.position_xyz)
    np.testing.assert_allclose(v_start, start.velocity_xyz, atol=1e-9)
    np.testing.assert_allclose(v_end, end.velocity_xyz, atol=1e-9)


def test_displacement_at_rest_plus_start_velocity_is_the_true_displacement() -> None:
    """``R0 (v0 dt + displacement_at_rest)`` is where the body went, on exact IMU; with a tilted ``R0`` the
    fall of gravity is removed along the wrong vertical: the error is ``g dt^2 / 2`` times the tilt."""
    motion = exact_motion(2.0)
    rotation, velocity = motion.rotations[300], motion.velocity_xyz[300]
    pre = preintegrate(motion.stamps_ns[300:307], motion.gyro[300:307], motion.accel[300:307])
    at_rest = displacement_at_rest(rotation, pre, gravity_m_s2=9.81)
    moved = motion.positions_xyz[306] - motion.positions_xyz[300]
    np.testing.assert_allclose(velocity * pre.dt_s + rotation @ at_rest, moved, atol=1e-6)
    tilt = Rotation.from_rotvec([0.01, 0.0, 0.0]).as_matrix()  # 10 mrad of roll error
    wrong = rotation @ displacement_at_rest(tilt @ rotation, pre, gravity_m_s2=9.81) - rotation @ at_rest
    assert np.linalg.norm(wrong) == pytest.approx(0.5 * 9.81 * pre.dt_s ** 2 * 0.01, rel=1e-3)


@pytest.mark.parametrize("roll_pitch", [(0.0, 0.0), (0.3, -0.2), (-1.0, 0.7)])
def test_gravity_aligned_rotation_recovers_roll_and_pitch(roll_pitch: tuple[float, float]) -> None:
    truth = Rotation.from_euler("ZYX", [0.0, roll_pitch[1], roll_pitch[0]]).as_matrix()
    rest_accel = truth.T @ np.array([0.0, 0.0, 9.81])
    np.testing.assert_allclose(gravity_aligned_rotation(rest_accel), truth, atol=1e-12)


def test_static_initial_state_and_strapdown_track_the_rest_start() -> None:
    motion = exact_motion(5.0)
    rest = motion.stamps_ns <= motion.stamps_ns[0] + 500_000_000
    start = static_initial_state(motion.stamps_ns[rest], motion.accel[rest])
    np.testing.assert_allclose(start.rotation, motion.rotations[0], atol=1e-12)
    index = int(np.sum(rest)) - 1
    states = integrate_states(start, motion.stamps_ns[index:], motion.gyro[index:], motion.accel[index:])
    error = states[-1].position_xyz - (motion.positions_xyz[-1] - motion.positions_xyz[0])
    assert np.linalg.norm(error) < 1e-3


def test_bad_imu_arrays_are_named() -> None:
    with pytest.raises(SensorDataError, match="NaN"):
        check_imu_arrays(np.array([0, 1]), np.array([[0.0, np.nan, 0.0]] * 2), np.zeros((2, 3)))
    with pytest.raises(SensorDataError, match="disagree"):
        check_imu_arrays(np.array([0, 1]), np.zeros((3, 3)), np.zeros((2, 3)))
    with pytest.raises(SensorDataError, match="gravity"):
        gravity_aligned_rotation(np.zeros(3))
