"""IMU-only strapdown integration: static initialisation, preintegration, propagation.

The body (IMU) frame is integrated in a gravity-aligned ``world``/``odom`` frame
(z up, gravity ``-z``). Between two IMU samples the angular rate and the specific
force are taken as linear in time:

* rotation: midpoint rule, ``R_{i+1} = R_i exp(0.5 (w_i + w_{i+1}) h)``;
* velocity and position: the world acceleration ``a(t) = R(t) f(t) + g`` is linear
  between ``a_i`` and ``a_{i+1}``, integrated exactly:
  ``v_{i+1} = v_i + h (a_i + a_{i+1}) / 2``,
  ``p_{i+1} = p_i + h v_i + h^2 (a_i / 3 + a_{i+1} / 6)``.

The same arithmetic runs as *preintegration* in the frame of the first sample
(gravity left out), so a frame interval's IMU becomes one :class:`Preintegration`
(``delta_rotation``, ``delta_velocity``, ``delta_position``) that the estimator
applies to any start state, and that the learned model reads as input.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arvr_hybrid_vio.core.errors import SensorDataError
from arvr_hybrid_vio.core.geometry import so3_exp

GRAVITY_M_S2 = 9.81  # magnitude used by the synthetic IMU model (core/synth)


@dataclass(frozen=True)
class NavState:
    """Pose and velocity of the body in the gravity-aligned odometry frame."""

    stamp_ns: int  # time of this state, int64 ns
    rotation: np.ndarray  # (3, 3) R_odom_body
    position_xyz: np.ndarray  # (3,) body origin in odom, m
    velocity_xyz: np.ndarray  # (3,) body velocity in odom, m/s


@dataclass(frozen=True)
class Preintegration:
    """IMU motion over an interval, expressed in the body frame at its start, without gravity."""

    dt_s: float  # interval length, s
    delta_rotation: np.ndarray  # (3, 3) R_start_end
    delta_velocity: np.ndarray  # (3,) integral of R_start_t f(t) dt, m/s
    delta_position: np.ndarray  # (3,) double integral of R_start_t f(t), m


def check_imu_arrays(stamps_ns: np.ndarray, gyro_rad_s: np.ndarray, accel_m_s2: np.ndarray) -> None:
    """Raise SensorDataError unless stamps are (K,) increasing and gyro/accel are finite (K, 3).

    Raises:
        SensorDataError: shapes disagree, stamps do not increase, or a value is NaN/Inf.
    """
    stamps_ns, gyro, accel = np.asarray(stamps_ns), np.asarray(gyro_rad_s), np.asarray(accel_m_s2)
    count = stamps_ns.shape[0] if stamps_ns.ndim == 1 else -1
    if count < 1 or gyro.shape != (count, 3) or accel.shape != (count, 3):
        raise SensorDataError(
            f"IMU arrays disagree: stamps {stamps_ns.shape}, gyro {gyro.shape}, accel {accel.shape}; "
            "expected (K,), (K, 3), (K, 3)")
    if not (np.all(np.isfinite(gyro)) and np.all(np.isfinite(accel))):
        raise SensorDataError("IMU sample contains NaN or Inf")
    if count > 1 and np.any(np.diff(stamps_ns.astype(np.int64)) <= 0):
        raise SensorDataError("IMU stamps are not strictly increasing")


def preintegrate(stamps_ns: np.ndarray, gyro_rad_s: np.ndarray, accel_m_s2: np.ndarray) -> Preintegration:
    """Preintegrate IMU samples (linear between samples) in the frame of the first sample.

    Shape:
        stamps_ns (K,), gyro_rad_s (K, 3), accel_m_s2 (K, 3) with K >= 1 -> Preintegration.
    """
    stamps_ns = np.asarray(stamps_ns, dtype=np.int64)
    gyro = np.asarray(gyro_rad_s, dtype=np.float64)
    accel = np.asarray(accel_m_s2, dtype=np.float64)
    steps_s = np.diff(stamps_ns).astype(np.float64) * 1e-9  # (K-1,)
    increments = so3_exp(0.5 * (gyro[:-1] + gyro[1:]) * steps_s[:, None])  # (K-1, 3, 3)
    rotation, velocity, position, accel_start = np.eye(3), np.zeros(3), np.zeros(3), accel[0]
    for index, step in enumerate(steps_s):
        rotation, velocity, position, accel_start = _integrate_interval(
            rotation, velocity, position, accel_start, increments[index], accel[index + 1], step)
    return Preintegration(float(steps_s.sum()), rotation, velocity, position)


def preintegrate_interval(start_ns: int, end_ns: int, gyro_start: np.ndarray, gyro_end: np.ndarray,
                          accel_start: np.ndarray, accel_end: np.ndarray) -> Preintegration:
    """:func:`preintegrate` of two samples, for one sample at a time (IMU-rate propagation): the same
    arithmetic without building the arrays, equal to it bit for bit.

    Shape: gyro_* and accel_* (3,) float64 -> Preintegration.
    """
    step = float(int(end_ns) - int(start_ns)) * 1e-9
    increment = so3_exp(0.5 * (gyro_start + gyro_end) * step)
    rotation, velocity, position, _ = _integrate_interval(np.eye(3), np.zeros(3), np.zeros(3), accel_start,
                                                          increment, accel_end, step)
    return Preintegration(step, rotation, velocity, position)


def _integrate_interval(rotation: np.ndarray, velocity: np.ndarray, position: np.ndarray, accel_start: np.ndarray,
                        increment: np.ndarray, accel_next: np.ndarray,
                        step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One interval of the module docstring's scheme in the start sample's frame: the rotation,
    velocity and position after it and the rotated specific force at its end (the next start)."""
    next_rotation = rotation @ increment
    accel_end = next_rotation @ accel_next
    position = position + (step * velocity + step * step * (accel_start / 3.0 + accel_end / 6.0))
    velocity = velocity + 0.5 * step * (accel_start + accel_end)
    return next_rotation, velocity, position, accel_end


def apply_preintegration(state: NavState, pre: Preintegration, *, stamp_ns: int,
                         gravity_m_s2: float = GRAVITY_M_S2) -> NavState:
    """Propagate a state across a preintegrated interval that starts at ``state.stamp_ns``."""
    gravity = np.array([0.0, 0.0, -gravity_m_s2])
    dt_s = pre.dt_s
    position = (state.position_xyz + state.velocity_xyz * dt_s + 0.5 * gravity * dt_s * dt_s
                + state.rotation @ pre.delta_position)
    velocity = state.velocity_xyz + gravity * dt_s + state.rotation @ pre.delta_velocity
    rotation = state.rotation @ pre.delta_rotation
    return NavState(int(stamp_ns), rotation, position, velocity)


def gravity_body(rotation_world_body: np.ndarray) -> np.ndarray:
    """Unit gravity direction (down) in the body frame, ``R^T (0, 0, -1)``. Shape: (..., 3, 3) -> (..., 3)."""
    return -np.asarray(rotation_world_body)[..., 2, :]


def displacement_at_rest(rotation: np.ndarray, pre: Preintegration, *,
                         gravity_m_s2: float = GRAVITY_M_S2) -> np.ndarray:
    """Where the body would be after the interval of ``pre`` with zero start velocity, in the start's
    body frame: the IMU's displacement with gravity's fall removed along ``rotation`` (world from body
    at the start), ``R0^T g dt^2 / 2 + dp``."""
    return displacement_at_rest_along(gravity_body(rotation), pre, gravity_m_s2=gravity_m_s2)


def displacement_at_rest_along(down_body: np.ndarray, pre: Preintegration, *,
                               gravity_m_s2: float = GRAVITY_M_S2) -> np.ndarray:
    """:func:`displacement_at_rest` for a gravity direction: ``down_body`` (3,) the unit downward
    direction in the start's body frame (:func:`gravity_body`), ``dp + g down dt^2 / 2``."""
    return pre.delta_position + 0.5 * gravity_m_s2 * np.asarray(down_body) * pre.dt_s * pre.dt_s


def velocity_from_displacement(state: NavState, pre: Preintegration, displacement_xyz: np.ndarray, *,
                               gravity_m_s2: float = GRAVITY_M_S2) -> tuple[np.ndarray, np.ndarray]:
    """Start and end world velocities that make a world displacement consistent with the IMU.

    Inverts ``p1 - p0 = v0 dt + g dt^2 / 2 + R0 dp`` for ``v0``, then ``v1 = v0 + g dt + R0 dv``.
    """
    gravity = np.array([0.0, 0.0, -gravity_m_s2])
    dt_s = max(pre.dt_s, 1e-6)
    start = (displacement_xyz - 0.5 * gravity * dt_s * dt_s - state.rotation @ pre.delta_position) / dt_s
    end = start + gravity * dt_s + state.rotation @ pre.delta_velocity
    return start, end


def gravity_aligned_rotation(mean_accel_m_s2: np.ndarray) -> np.ndarray:
    """R_odom_body with zero yaw whose roll and pitch make the mean specific force point up.

    At rest the accelerometer reads ``R^T (0, 0, g)``; roll and pitch follow from it
    (ZYX Euler convention, yaw 0).

    Raises:
        SensorDataError: the mean specific force is near zero (free fall or no data).
    """
    fx, fy, fz = np.asarray(mean_accel_m_s2, dtype=np.float64)
    if not np.isfinite([fx, fy, fz]).all() or np.hypot(np.hypot(fx, fy), fz) < 1.0:
        raise SensorDataError(f"cannot find gravity: mean specific force {[fx, fy, fz]} m/s^2")
    roll = np.arctan2(fy, fz)
    pitch = np.arctan2(-fx, np.hypot(fy, fz))
    cp, sp, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    return np.array([[cp, sp * sr, sp * cr], [0.0, cr, -sr], [-sp, cp * sr, cp * cr]])  # R_y(pitch) R_x(roll)


# Time constant of SpecificForceMean, s: longer than a 2 Hz head bob's period, so the bob averages
# out, and shorter than a multirotor's sustained accelerations (1-3 s), so they do not.
SPECIFIC_FORCE_MEAN_S = 1.0


@dataclass(frozen=True)
class SpecificForceMean:
    """Exponential mean (time constant ``SPECIFIC_FORCE_MEAN_S``) of the world-frame specific force of
    one attitude track, m/s^2. Its lean from the vertical is sustained acceleration (or a tilt error
    as large): a multirotor accelerating for a second or more leans its specific force by
    ``atan(a / g)`` without changing its length, and ``tilt_corrected`` must not level towards it."""

    world_xyz: np.ndarray | None = None  # (3,), None before the first interval

    def updated(self, rotation: np.ndarray, pre: Preintegration) -> SpecificForceMean:
        """The mean after an interval ``pre`` that starts at body orientation ``rotation``."""
        if pre.dt_s <= 0.0:
            return self
        measured = rotation @ pre.delta_velocity / pre.dt_s
        if self.world_xyz is None:
            return SpecificForceMean(measured)
        weight = min(1.0, pre.dt_s / SPECIFIC_FORCE_MEAN_S)
        return SpecificForceMean(self.world_xyz + weight * (measured - self.world_xyz))

    @property
    def lean_rad(self) -> float:
        """Angle between the mean and the world vertical, rad (0 before the first interval)."""
        if self.world_xyz is None:
            return 0.0
        x, y, z = self.world_xyz.tolist()
        return float(np.arctan2(np.hypot(x, y), z))


def tilt_corrected(rotation: np.ndarray, pre: Preintegration, delta_rotation: np.ndarray, *, rate_per_s: float,
                   gravity_m_s2: float = GRAVITY_M_S2, lean_rad: float = 0.0,
                   max_lean_rad: float = 0.0, acceleration_xyz: np.ndarray | None = None) -> np.ndarray:
    """``delta_rotation`` with roll/pitch nudged towards the interval's mean specific force (world
    ``R dv / dt`` should point up), for a body at ``rotation`` at the interval start.

    ``acceleration_xyz``: the body's world acceleration as the caller estimates it (m/s^2), subtracted from
    the specific force first (``R dv / dt - a`` should point up); None assumes none, which a sustained
    acceleration (a multirotor's lean) turns into a tilt error.

    Applied only in calm intervals (mean specific force within 0.5 m/s^2 of g), as a world-frame
    rotation of the new orientation by ``rate_per_s * dt * (m_hat x e_z)``; ``rate_per_s <= 0`` is off.
    With ``max_lean_rad > 0`` it is also skipped while ``lean_rad`` (the lean of the track's
    ``SpecificForceMean``) exceeds it: sustained acceleration, not a tilt error.
    """
    if rate_per_s <= 0.0 or pre.dt_s <= 0.0 or (max_lean_rad > 0.0 and lean_rad > max_lean_rad):
        return delta_rotation
    measured_up = rotation @ pre.delta_velocity / pre.dt_s  # (3,) world, m/s^2
    if acceleration_xyz is not None:
        measured_up = measured_up - acceleration_xyz
    norm = float(np.linalg.norm(measured_up))
    if abs(norm - gravity_m_s2) > 0.5:
        return delta_rotation
    up_x, up_y, _ = (measured_up / norm).tolist()
    # (measured up) x e_z in closed form: np.cross costs ~40 us a call, and this runs twice a frame
    correction = so3_exp(rate_per_s * pre.dt_s * np.array([up_y, -up_x, 0.0]))
    return rotation.T @ correction @ rotation @ delta_rotation


def gated_tilt_corrected(rotation: np.ndarray, pre: Preintegration, delta_rotation: np.ndarray,
                         force_mean: SpecificForceMean, *, rate_per_s: float, max_lean_deg: float,
                         gravity_m_s2: float = GRAVITY_M_S2,
                         acceleration_xyz: np.ndarray | None = None) -> tuple[np.ndarray, SpecificForceMean]:
    """``tilt_corrected`` behind the lean gate of one attitude track: the track's ``force_mean`` takes
    this interval (only while a gate is set, ``max_lean_deg > 0``; without one it is never read), and
    the pull is skipped while the mean leans more than ``max_lean_deg``. Returns the corrected
    ``delta_rotation`` and the track's new mean. ``acceleration_xyz``: as in ``tilt_corrected`` (the gate's
    mean stays the raw specific force's)."""
    if max_lean_deg > 0.0:
        force_mean = force_mean.updated(rotation, pre)
    corrected = tilt_corrected(rotation, pre, delta_rotation, rate_per_s=rate_per_s, gravity_m_s2=gravity_m_s2,
                               lean_rad=force_mean.lean_rad, max_lean_rad=float(np.radians(max_lean_deg)),
                               acceleration_xyz=acceleration_xyz)
    return corrected, force_mean


def static_gyro_bias(gyro_rad_s: np.ndarray, accel_m_s2: np.ndarray, *, max_std_rad_s: float) -> np.ndarray | None:
    """The gyro bias read from a span at rest: its mean gyro, when every axis's gyro std is below
    ``max_std_rad_s`` and every axis's accelerometer std below ``10 * max_std_rad_s`` m/s^2; else None (the
    span moved, its mean is motion). ``max_std_rad_s <= 0``: None.

    Shape: gyro_rad_s (K, 3), accel_m_s2 (K, 3) -> (3,).
    """
    gyro, accel = np.asarray(gyro_rad_s, dtype=np.float64), np.asarray(accel_m_s2, dtype=np.float64)
    if max_std_rad_s <= 0.0 or len(gyro) < 2:
        return None
    if gyro.std(axis=0).max() >= max_std_rad_s or accel.std(axis=0).max() >= 10.0 * max_std_rad_s:
        return None
    return gyro.mean(axis=0)


def static_initial_state(stamps_ns: np.ndarray, accel_m_s2: np.ndarray) -> NavState:
    """State at the last stamp of a (near-)static window: roll/pitch from mean accel, zero velocity.

    Shape:
        stamps_ns (K,), accel_m_s2 (K, 3) -> NavState at stamps_ns[-1], position 0.
    """
    rotation = gravity_aligned_rotation(np.mean(np.asarray(accel_m_s2, dtype=np.float64), axis=0))
    return NavState(int(stamps_ns[-1]), rotation, np.zeros(3), np.zeros(3))


def integrate_states(state: NavState, stamps_ns: np.ndarray, gyro_rad_s: np.ndarray,
                     accel_m_s2: np.ndarray, *, gravity_m_s2: float = GRAVITY_M_S2) -> list[NavState]:
    """Strapdown states at every sample after the first (``stamps_ns[0] == state.stamp_ns``).

    Shape:
        stamps_ns (K,), gyro_rad_s (K, 3), accel_m_s2 (K, 3) -> K-1 states.
    """
    stamps_ns = np.asarray(stamps_ns, dtype=np.int64)
    gyro, accel = np.asarray(gyro_rad_s, dtype=np.float64), np.asarray(accel_m_s2, dtype=np.float64)
    states = []
    for index in range(1, len(stamps_ns)):
        pre = preintegrate_interval(stamps_ns[index - 1], stamps_ns[index], gyro[index - 1], gyro[index],
                                    accel[index - 1], accel[index])
        state = apply_preintegration(state, pre, stamp_ns=int(stamps_ns[index]), gravity_m_s2=gravity_m_s2)
        states.append(state)
    return states
