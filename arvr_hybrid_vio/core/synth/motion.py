"""Smooth body trajectories: quintic B-splines on positions and ZYX Euler angles.

A :class:`MotionSpline` is the IMU/body frame in ``world`` (z up, gravity -z) as a
function of time. Positions and the Euler angles (yaw, pitch, roll) of the body
relative to a constant reference rotation ``R_ref`` are quintic (k=5, C^4)
interpolating splines, so velocity, acceleration and the body angular velocity are
exact derivatives of the ground truth, not finite differences:

    R_world_body(t) = R_ref @ Rz(yaw) @ Ry(pitch) @ Rx(roll)
    omega_body = [roll' - yaw' sin(pitch),
                  pitch' cos(roll) + yaw' cos(pitch) sin(roll),
                  -pitch' sin(roll) + yaw' cos(pitch) cos(roll)]

``R_ref`` keeps the Euler angles of real trajectories far from gimbal lock
(pitch stays within +-90 deg of it); yaw and roll are unwrapped, so any number of
full turns is fine.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline, make_interp_spline
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation, Slerp

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.geometry import quat_wxyz_from_rotation, rotation_from_quat_wxyz

GRAVITY_WORLD = np.array([0.0, 0.0, -9.81])  # m/s^2, world z up


@dataclass(frozen=True)
class MotionState:
    """Body states at a batch of times (all in world unless named body)."""

    times_s: np.ndarray  # (N,) seconds since the start of the motion
    positions_xyz: np.ndarray  # (N, 3) body origin in world, m
    rotations: np.ndarray  # (N, 3, 3) R_world_body
    quats_wxyz: np.ndarray  # (N, 4) R_world_body as quaternions, w >= 0
    velocity_xyz: np.ndarray  # (N, 3) m/s in world
    accel_xyz: np.ndarray  # (N, 3) kinematic acceleration in world, m/s^2 (no gravity)
    omega_body: np.ndarray  # (N, 3) angular velocity in the body frame, rad/s


@dataclass(frozen=True)
class MotionSpline:
    """The body trajectory as quintic splines over ``[0, duration_s]``."""

    duration_s: float  # length of the spline domain, s
    positions: BSpline  # t -> (3,) positions_xyz
    euler_zyx: BSpline  # t -> (3,) yaw, pitch, roll relative to rot_ref, rad
    rot_ref: np.ndarray  # (3, 3) constant reference rotation R_world_ref

    @staticmethod
    def from_samples(times_s: np.ndarray, positions_xyz: np.ndarray, euler_zyx: np.ndarray, *,
                     rot_ref: np.ndarray | None = None) -> MotionSpline:
        """Fit interpolating quintic splines through samples (times strictly increasing, >= 6 samples)."""
        times_s = np.asarray(times_s, dtype=np.float64)
        positions = make_interp_spline(times_s, positions_xyz, k=5, axis=0)
        angles = make_interp_spline(times_s, euler_zyx, k=5, axis=0)
        ref = np.eye(3) if rot_ref is None else np.asarray(rot_ref, dtype=np.float64)
        return MotionSpline(float(times_s[-1] - times_s[0]), positions, angles, ref)

    def evaluate(self, times_s: np.ndarray) -> MotionState:
        """Exact pose, velocity, acceleration and body rates at ``times_s`` (clipped to the domain)."""
        times_s = np.clip(np.asarray(times_s, dtype=np.float64), 0.0, self.duration_s)
        angles = self.euler_zyx(times_s)
        rates = self.euler_zyx(times_s, nu=1)
        rotations = self.rot_ref @ euler_zyx_to_matrix(angles)
        return MotionState(
            times_s=times_s,
            positions_xyz=self.positions(times_s),
            rotations=rotations,
            quats_wxyz=quat_wxyz_from_rotation(Rotation.from_matrix(rotations)),
            velocity_xyz=self.positions(times_s, nu=1),
            accel_xyz=self.positions(times_s, nu=2),
            omega_body=euler_zyx_rates_to_body_omega(angles, rates),
        )


def euler_zyx_to_matrix(angles: np.ndarray) -> np.ndarray:
    """Rz(yaw) @ Ry(pitch) @ Rx(roll). Shape: (N, 3) -> (N, 3, 3)."""
    return Rotation.from_euler("ZYX", np.asarray(angles).reshape(-1, 3)).as_matrix()


def euler_zyx_rates_to_body_omega(angles: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Body angular velocity of ZYX Euler angles and their rates. Shape: (N, 3), (N, 3) -> (N, 3)."""
    _, pitch, roll = np.moveaxis(np.asarray(angles).reshape(-1, 3), -1, 0)
    dyaw, dpitch, droll = np.moveaxis(np.asarray(rates).reshape(-1, 3), -1, 0)
    return np.stack([
        droll - dyaw * np.sin(pitch),
        dpitch * np.cos(roll) + dyaw * np.cos(pitch) * np.sin(roll),
        -dpitch * np.sin(roll) + dyaw * np.cos(pitch) * np.cos(roll),
    ], axis=-1)


def matrix_to_euler_zyx(rotations: np.ndarray) -> np.ndarray:
    """Unwrapped (yaw, pitch, roll) of a rotation sequence. Shape: (N, 3, 3) -> (N, 3)."""
    angles = Rotation.from_matrix(rotations).as_euler("ZYX")
    angles[:, 0] = np.unwrap(angles[:, 0])
    angles[:, 2] = np.unwrap(angles[:, 2])
    return angles


def check_pose_samples(stamps_ns: np.ndarray, positions_xyz: np.ndarray, quats_wxyz: np.ndarray, *,
                       source: str, min_poses: int = 10) -> None:
    """Raise TrajectoryError naming ``source`` if poses are too few, non-finite or non-monotonic."""
    if len(stamps_ns) < min_poses:
        raise TrajectoryError(f"{source}: {len(stamps_ns)} poses, need at least {min_poses}")
    bad = ~(np.isfinite(positions_xyz).all(axis=1) & np.isfinite(quats_wxyz).all(axis=1))
    if bad.any():
        raise TrajectoryError(f"{source}: NaN/inf in pose {int(np.argmax(bad))} (of {len(bad)})")
    steps = np.diff(stamps_ns)
    if (steps <= 0).any():
        index = int(np.argmax(steps <= 0)) + 1
        raise TrajectoryError(f"{source}: stamps not strictly increasing at pose {index}")
    norms = np.linalg.norm(quats_wxyz, axis=1)
    if (norms < 1e-6).any():
        raise TrajectoryError(f"{source}: zero quaternion at pose {int(np.argmax(norms < 1e-6))}")


def motion_from_poses(stamps_ns: np.ndarray, positions_xyz: np.ndarray, quats_wxyz: np.ndarray, *,
                      smoothing_s: float = 0.04, knot_rate_hz: float = 50.0, source: str = "trajectory",
                      R_pose_body: np.ndarray | None = None) -> MotionSpline:
    """Fit a jitter-free spline to measured poses (e.g. motion capture).

    Poses are resampled on a uniform 200 Hz grid (linear positions, slerp rotations),
    low-pass filtered with a Gaussian of ``smoothing_s`` seconds (zero phase), then
    interpolated by quintic splines with knots at ``knot_rate_hz``.

    Args:
        stamps_ns: (N,) int64 stamps, strictly increasing.
        positions_xyz: (N, 3) positions in world.
        quats_wxyz: (N, 4) orientations of the pose frame in world.
        smoothing_s: standard deviation of the smoothing kernel, s (0 disables it).
        knot_rate_hz: spline knot rate after smoothing.
        source: name of the data for error messages.
        R_pose_body: (3, 3) rotation of the body frame in the pose frame (identity if None),
            e.g. to turn a camera-optical trajectory into an x-forward body trajectory.

    Raises:
        TrajectoryError: too few poses, NaN, or non-monotonic stamps.
    """
    stamps_ns = np.asarray(stamps_ns, dtype=np.int64)
    positions_xyz = np.asarray(positions_xyz, dtype=np.float64)
    quats_wxyz = np.asarray(quats_wxyz, dtype=np.float64)
    check_pose_samples(stamps_ns, positions_xyz, quats_wxyz, source=source)
    times = (stamps_ns - stamps_ns[0]) * 1e-9
    rotations = rotation_from_quat_wxyz(quats_wxyz)
    if R_pose_body is not None:
        rotations = rotations * Rotation.from_matrix(R_pose_body)
    grid = np.arange(0.0, times[-1], 1.0 / 200.0)
    dense_pos = np.stack([np.interp(grid, times, positions_xyz[:, i]) for i in range(3)], axis=-1)
    rot_ref = rotations.mean().as_matrix()
    dense_rot = Rotation.from_matrix(rot_ref).inv() * Slerp(times, rotations)(grid)
    dense_ang = matrix_to_euler_zyx(dense_rot.as_matrix())
    if smoothing_s > 0:
        dense_pos = gaussian_filter1d(dense_pos, smoothing_s * 200.0, axis=0, mode="nearest")
        dense_ang = gaussian_filter1d(dense_ang, smoothing_s * 200.0, axis=0, mode="nearest")
    step = max(1, int(round(200.0 / knot_rate_hz)))
    keep = np.unique(np.r_[np.arange(0, len(grid), step), len(grid) - 1])
    return MotionSpline.from_samples(grid[keep], dense_pos[keep], dense_ang[keep], rot_ref=rot_ref)
