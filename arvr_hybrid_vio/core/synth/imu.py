"""IMU model: exact angular velocity and specific force from a motion spline, plus noise.

Continuous-time noise model (Kalibr / EuRoC convention), discretised at rate ``f``:

    gyro  = omega_body + b_g + n_g,   n_g ~ N(0, sigma_g^2 f),   b_g[k+1] = b_g[k] + N(0, sigma_bg^2 / f)
    accel = R^T (a - g) + b_a + n_a,  n_a ~ N(0, sigma_a^2 f),   b_a[k+1] = b_a[k] + N(0, sigma_ba^2 / f)

with ``g = (0, 0, -9.81)`` in world: an IMU at rest and level reads ``(0, 0, +9.81)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.synth.motion import GRAVITY_WORLD, MotionState


@dataclass(frozen=True)
class ImuConfig:
    """IMU rate and noise (EuRoC-like defaults, ADIS16448)."""

    rate_hz: float = 200.0  # sample rate, Hz (up to 1000)
    gyro_noise_density: float = 1.7e-4  # white noise, rad/s/sqrt(Hz)
    gyro_random_walk: float = 1.9e-5  # bias random walk, rad/s^2/sqrt(Hz)
    accel_noise_density: float = 2.0e-3  # white noise, m/s^2/sqrt(Hz)
    accel_random_walk: float = 3.0e-3  # bias random walk, m/s^3/sqrt(Hz)
    gyro_bias_init_std: float = 2.0e-3  # std of the initial gyro bias per axis, rad/s
    accel_bias_init_std: float = 2.0e-2  # std of the initial accel bias per axis, m/s^2
    noise: bool = True  # False: noisy outputs equal the exact ones (no noise, no bias)

    def validate(self) -> None:
        """Raise ConfigError for a non-positive rate or negative noise."""
        if not 0.0 < self.rate_hz <= 1000.0:
            raise ConfigError(f"IMU rate must be in (0, 1000] Hz, got {self.rate_hz}")
        values = (self.gyro_noise_density, self.gyro_random_walk, self.accel_noise_density,
                  self.accel_random_walk, self.gyro_bias_init_std, self.accel_bias_init_std)
        if min(values) < 0.0:
            raise ConfigError("IMU noise parameters must be >= 0")


@dataclass(frozen=True)
class ImuSamples:
    """Exact and measured IMU samples at common stamps (body frame)."""

    gyro_true: np.ndarray  # (N, 3) exact angular velocity, rad/s
    accel_true: np.ndarray  # (N, 3) exact specific force, m/s^2
    gyro: np.ndarray  # (N, 3) measured: exact + bias + white noise
    accel: np.ndarray  # (N, 3) measured
    gyro_bias: np.ndarray  # (N, 3) true gyro bias
    accel_bias: np.ndarray  # (N, 3) true accel bias


def exact_imu(states: MotionState) -> tuple[np.ndarray, np.ndarray]:
    """Exact (gyro, specific force) in the body frame. Shape: N states -> (N, 3), (N, 3)."""
    specific_world = states.accel_xyz - GRAVITY_WORLD
    accel = np.einsum("nji,nj->ni", states.rotations, specific_world)  # R^T f
    return states.omega_body.copy(), accel


def _bias_walk(rng: np.random.Generator, count: int, init_std: float, walk: float, rate_hz: float) -> np.ndarray:
    start = rng.normal(0.0, init_std, 3)
    steps = rng.normal(0.0, walk / np.sqrt(rate_hz), (count, 3))
    steps[0] = 0.0
    return start + np.cumsum(steps, axis=0)


def simulate_imu(states: MotionState, config: ImuConfig, rng: np.random.Generator) -> ImuSamples:
    """Exact and noisy IMU samples at the times of ``states`` (sampled at ``config.rate_hz``)."""
    gyro_true, accel_true = exact_imu(states)
    count = len(gyro_true)
    if not config.noise:
        zeros = np.zeros((count, 3))
        return ImuSamples(gyro_true, accel_true, gyro_true.copy(), accel_true.copy(), zeros, zeros.copy())
    rate = config.rate_hz
    gyro_bias = _bias_walk(rng, count, config.gyro_bias_init_std, config.gyro_random_walk, rate)
    accel_bias = _bias_walk(rng, count, config.accel_bias_init_std, config.accel_random_walk, rate)
    gyro = gyro_true + gyro_bias + rng.normal(0.0, config.gyro_noise_density * np.sqrt(rate), (count, 3))
    accel = accel_true + accel_bias + rng.normal(0.0, config.accel_noise_density * np.sqrt(rate), (count, 3))
    return ImuSamples(gyro_true, accel_true, gyro, accel, gyro_bias, accel_bias)
