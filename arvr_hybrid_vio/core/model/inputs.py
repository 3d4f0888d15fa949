"""Per-frame inertial inputs of the network and the decoding of its outputs into motion.

One function, :func:`inertial_inputs`, turns the IMU samples of a frame interval
and the gravity direction in the body frame (from the estimator's state online,
from ground truth in training) into a fixed-length vector. Gravity is removed
in the body frame so the network sees kinematic quantities:

    dv_gc = dv + g * gravity_body * dt          (velocity change, body frame at start)
    dp_gc = dp + g * gravity_body * dt^2 / 2     (displacement with zero start velocity)

The network predicts the body-frame velocity at the start of the interval ``v_b``
(open loop: no estimator state but gravity goes in, so it cannot feed on its own
errors) with a variance, and a small rotation correction ``dtheta``. The estimator
fuses ``v_b`` with its IMU-propagated velocity (a Kalman update, see
``learned_motion``), and the motion is

    delta_position = v_fused * dt + dp_gc,      delta_rotation = R_gyro @ exp(dtheta).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arvr_hybrid_vio.core.geometry import so3_log
from arvr_hybrid_vio.core.strapdown import Preintegration, displacement_at_rest_along, preintegrate

IMU_RESAMPLES = 8  # gyro and accel are resampled at this many evenly spaced times per interval
INERTIAL_DIM = 3 + 3 + 3 + 1 + 3 + 6 * IMU_RESAMPLES + 2  # see inertial_inputs
NOMINAL_FRAME_S = 1.0 / 30.0  # dt is fed as dt / NOMINAL_FRAME_S
HARD_RULE_THRESHOLDS = (0.5, 2.0)  # motion magnitude thresholds of the seed's fusion rule


@dataclass(frozen=True)
class FrameInertial:
    """Inertial quantities of one frame interval (float64 numpy)."""

    features: np.ndarray  # (INERTIAL_DIM,) network input before normalisation
    pre: Preintegration  # raw preintegration (gravity not removed)
    dp_gc: np.ndarray  # (3,) gravity-compensated displacement for zero start velocity, m
    motion_magnitude: float  # mean |gyro| (rad/s) + mean | |accel| - g | (m/s^2)


def _resample(stamps_ns: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear resampling at IMU_RESAMPLES evenly spaced times. Shape: (K,), (K, 3) -> (IMU_RESAMPLES, 3)."""
    times = (stamps_ns - stamps_ns[0]).astype(np.float64)
    grid = np.linspace(0.0, times[-1], IMU_RESAMPLES)
    return np.stack([np.interp(grid, times, values[:, axis]) for axis in range(3)], axis=-1)


def inertial_inputs(stamps_ns: np.ndarray, gyro_rad_s: np.ndarray, accel_m_s2: np.ndarray,
                    gravity_dir_body: np.ndarray, *, gravity_m_s2: float,
                    pre: Preintegration | None = None) -> FrameInertial:
    """Network inputs of one frame interval (K >= 2 samples, stamps increasing).

    Features, in order: mean angular rate from the preintegrated rotation (3, rad/s),
    dv_gc / dt (3, m/s^2), 2 dp_gc / dt^2 (3, m/s^2), dt / NOMINAL_FRAME_S (1), gravity
    direction (3), resampled gyro (3 x IMU_RESAMPLES), resampled accel + g * gravity
    direction (3 x IMU_RESAMPLES), mean |gyro| and mean | |accel| - g | (2).

    ``pre``: the preintegration of these samples when the caller already has it (else computed).

    Shape:
        stamps_ns (K,), gyro_rad_s (K, 3), accel_m_s2 (K, 3), gravity_dir_body (3,) -> FrameInertial.
    """
    stamps_ns = np.asarray(stamps_ns, dtype=np.int64)
    gyro = np.asarray(gyro_rad_s, dtype=np.float64)
    accel = np.asarray(accel_m_s2, dtype=np.float64)
    down = np.asarray(gravity_dir_body, dtype=np.float64)
    pre = preintegrate(stamps_ns, gyro, accel) if pre is None else pre
    dt_s = max(pre.dt_s, 1e-6)
    dv_gc = pre.delta_velocity + gravity_m_s2 * down * dt_s
    dp_gc = displacement_at_rest_along(down, pre, gravity_m_s2=gravity_m_s2)
    gyro_norm = float(np.mean(np.linalg.norm(gyro, axis=1)))
    accel_dyn = float(np.mean(np.abs(np.linalg.norm(accel, axis=1) - gravity_m_s2)))
    features = np.concatenate([
        so3_log(pre.delta_rotation) / dt_s, dv_gc / dt_s,
        2.0 * dp_gc / dt_s ** 2, [dt_s / NOMINAL_FRAME_S],
        down, _resample(stamps_ns, gyro).reshape(-1),
        (_resample(stamps_ns, accel) + gravity_m_s2 * down).reshape(-1), [gyro_norm, accel_dyn]])
    return FrameInertial(features, pre, dp_gc, gyro_norm + accel_dyn)


def hard_rule_weights(motion_magnitude: np.ndarray) -> np.ndarray:
    """The seed's fusion rule: LSTM/Transformer/multi-scale weights. Shape: (...) -> (..., 3)."""
    magnitude = np.asarray(motion_magnitude, dtype=np.float64)[..., None]
    slow, medium = HARD_RULE_THRESHOLDS
    return np.where(magnitude < slow, [0.6, 0.3, 0.1], np.where(magnitude < medium, [0.4, 0.4, 0.2], [0.2, 0.5, 0.3]))
