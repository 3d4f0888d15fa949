"""Analytic rigid-body motion with exact IMU readings, shared by the strapdown and estimator tests.

The body is at rest for ``rest_s`` seconds, then moves smoothly: positions and
ZYX Euler angles are ``c (1 - cos(w tau))^2`` with ``tau = t - rest_s`` (zero
velocity and acceleration at the start), so the IMU readings are exact
derivatives, not finite differences.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

GRAVITY = np.array([0.0, 0.0, -9.81])
POS_AMPLITUDE = np.array([0.4, -0.3, 0.15])  # m
POS_FREQ = np.array([1.1, 0.8, 1.7])  # rad/s
ANG_AMPLITUDE = np.array([0.5, 0.15, -0.2])  # yaw, pitch, roll, rad
ANG_FREQ = np.array([0.9, 1.6, 2.3])  # rad/s
REF_ROLL_PITCH = (0.12, -0.08)  # constant tilt of the rest pose, rad


@dataclass(frozen=True)
class ExactMotion:
    """Ground truth and noise-free IMU at ``stamps_ns``."""

    stamps_ns: np.ndarray  # (N,)
    positions_xyz: np.ndarray  # (N, 3)
    rotations: np.ndarray  # (N, 3, 3) R_world_body
    velocity_xyz: np.ndarray  # (N, 3)
    gyro: np.ndarray  # (N, 3) body rates
    accel: np.ndarray  # (N, 3) specific force in body


def _bump(t: np.ndarray, amp: np.ndarray, freq: np.ndarray) -> tuple[np.ndarray, ...]:
    """c (1 - cos w t)^2 and its first two derivatives. Shape: (N,) -> 3 x (N, 3)."""
    wt = t[:, None] * freq
    one_minus = 1.0 - np.cos(wt)
    value = amp * one_minus ** 2
    first = amp * 2.0 * freq * np.sin(wt) * one_minus
    second = amp * 2.0 * freq ** 2 * (np.cos(wt) * one_minus + np.sin(wt) ** 2)
    return value, first, second


def exact_motion(duration_s: float = 6.0, *, rate_hz: float = 200.0, rest_s: float = 0.6,
                 start_ns: int = 1_000_000_000) -> ExactMotion:
    """Rest, then smooth 6-DoF motion, sampled at ``rate_hz``."""
    count = int(round(duration_s * rate_hz)) + 1
    stamps_ns = start_ns + np.round(np.arange(count) * 1e9 / rate_hz).astype(np.int64)
    tau = np.maximum((stamps_ns - start_ns) * 1e-9 - rest_s, 0.0)
    pos, vel, acc = _bump(tau, POS_AMPLITUDE, POS_FREQ)
    ang, rate, _ = _bump(tau, ANG_AMPLITUDE, ANG_FREQ)
    ref = Rotation.from_euler("ZYX", [0.0, REF_ROLL_PITCH[1], REF_ROLL_PITCH[0]])
    rotations = (ref * Rotation.from_euler("ZYX", ang)).as_matrix()
    _, pitch, roll = ang.T
    dyaw, dpitch, droll = rate.T
    gyro = np.stack([droll - dyaw * np.sin(pitch),
                     dpitch * np.cos(roll) + dyaw * np.cos(pitch) * np.sin(roll),
                     -dpitch * np.sin(roll) + dyaw * np.cos(pitch) * np.cos(roll)], axis=-1)
    accel = np.einsum("nji,nj->ni", rotations, acc - GRAVITY)
    return ExactMotion(stamps_ns, pos, rotations, vel, gyro, accel)
