"""IMU consistency: exact readings integrate back to the ground truth; noise matches its densities."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation

from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix, rotation_angle_deg
from arvr_hybrid_vio.core.synth.camera import CameraConfig
from arvr_hybrid_vio.core.synth.imu import ImuConfig, simulate_imu
from arvr_hybrid_vio.core.synth.motion import GRAVITY_WORLD
from arvr_hybrid_vio.core.synth.presets import procedural_motion
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, build_motion, generate_sequence

FR1 = Path(__file__).resolve().parents[1] / "data" / "trajectories" / "freiburg1_xyz-groundtruth.txt"


def imu_sequence(motion: str, duration_s: float, rate_hz: float, *, noise: bool = False, seed: int = 3):
    """States and IMU samples of a motion at ``rate_hz`` (no rendering)."""
    spline = (build_motion(MotionConfig(trajectory_file=str(FR1), duration_s=duration_s), seed)[0] if motion == "fr1"
              else procedural_motion(motion, duration_s, seed))
    times = np.arange(0, int(duration_s * rate_hz) + 1) / rate_hz
    states = spline.evaluate(times)
    return times, states, simulate_imu(states, ImuConfig(rate_hz=rate_hz, noise=noise), np.random.default_rng(seed))


def integrate_gyro(gyro: np.ndarray, dt: float, start: np.ndarray) -> np.ndarray:
    """R_world_body at the end: two-sample (coning-corrected) integration of body rates."""
    rotation = Rotation.from_matrix(start)
    increments = (gyro[:-1] + gyro[1:]) / 2 * dt + np.cross(gyro[:-1], gyro[1:]) * dt * dt / 12
    for increment in Rotation.from_rotvec(increments):
        rotation = rotation * increment
    return rotation.as_matrix()


@pytest.mark.parametrize("motion", ["head", "saccade", "walking", "fr1"])
def test_gyro_integrates_to_ground_truth_rotation(motion: str) -> None:
    times, states, imu = imu_sequence(motion, 20.0, 200.0)
    end = integrate_gyro(imu.gyro, times[1] - times[0], states.rotations[0])
    assert rotation_angle_deg(states.rotations[-1].T @ end) < 0.01
    assert np.degrees(np.abs(imu.gyro).max()) > 5.0  # the motion does rotate


@pytest.mark.parametrize("motion", ["walking", "head", "fr1"])
def test_accel_double_integrates_to_ground_truth_displacement(motion: str) -> None:
    times, states, imu = imu_sequence(motion, 20.0, 200.0)
    accel_world = np.einsum("nij,nj->ni", states.rotations, imu.accel) + GRAVITY_WORLD
    spline = CubicSpline(times, accel_world)
    velocity, position = spline.antiderivative(1), spline.antiderivative(2)
    errors, moves = [], []
    for start in range(0, len(times) - 200, 100):
        t0, t1 = times[start], times[start + 200]
        predicted = states.velocity_xyz[start] * (t1 - t0) + position(t1) - position(t0) - velocity(t0) * (t1 - t0)
        truth = states.positions_xyz[start + 200] - states.positions_xyz[start]
        errors.append(np.linalg.norm(predicted - truth))
        moves.append(np.linalg.norm(truth))
    assert max(errors) < 1e-3
    assert max(moves) > 0.05  # the windows do move


def test_rest_reads_gravity_only() -> None:
    _, states, imu = imu_sequence("head", 5.0, 200.0)
    rest = slice(0, 180)  # first 0.9 s of the 1 s rest
    assert np.abs(imu.gyro[rest]).max() < 1e-4
    assert np.allclose(np.linalg.norm(imu.accel[rest], axis=1), 9.81, atol=1e-3)
    assert np.allclose(imu.accel[rest], states.rotations[rest].transpose(0, 2, 1) @ -GRAVITY_WORLD, atol=1e-6)


@pytest.mark.parametrize("rate_hz", [200.0, 1000.0])
def test_noise_densities_match_configuration(rate_hz: float) -> None:
    config = ImuConfig(rate_hz=rate_hz)
    _, _, imu = imu_sequence("drift", 60.0, rate_hz, noise=True)
    for measured, exact, bias, white, walk in (
            (imu.gyro, imu.gyro_true, imu.gyro_bias, config.gyro_noise_density, config.gyro_random_walk),
            (imu.accel, imu.accel_true, imu.accel_bias, config.accel_noise_density, config.accel_random_walk)):
        error = measured - exact
        # first differences: var = 2 sigma_d^2 + walk^2 / rate; sigma_d = density * sqrt(rate)
        white_est = np.sqrt((np.var(np.diff(error, axis=0)) - walk ** 2 / rate_hz) / 2.0 / rate_hz)
        walk_est = np.std(np.diff(bias, axis=0)) * np.sqrt(rate_hz)
        assert white_est == pytest.approx(white, rel=0.1)
        assert walk_est == pytest.approx(walk, rel=0.1)
        assert np.abs(bias[0]).max() > 0.0  # a nonzero initial bias


def test_sequence_ground_truth_matches_imu_stamps_and_rates() -> None:
    config = SynthConfig(motion=MotionConfig(motion="walking", duration_s=2.0), imu=ImuConfig(rate_hz=400.0),
                         camera=CameraConfig(width=32, height=24))
    sequence = generate_sequence(config, 5)
    assert sequence.imu_stamps_ns.dtype == np.int64 and sequence.image_stamps_ns.dtype == np.int64
    assert len(sequence.imu_stamps_ns) == 801 and len(sequence.image_stamps_ns) == 61
    assert np.all(np.diff(sequence.imu_stamps_ns) == 2_500_000)
    rotations = quat_wxyz_to_matrix(sequence.gt_quats_wxyz)
    specific = np.einsum("nji,nj->ni", rotations, np.gradient(sequence.gt_velocity_xyz, 1 / 400.0, axis=0) - GRAVITY_WORLD)
    assert np.abs(specific - sequence.accel_true)[5:-5].max() < 0.05  # finite differences agree with the exact IMU
