"""Metric velocity from a window of feature tracks and the IMU: a linear visual-inertial solve.

Over a window of camera frames ``i = 0..N-1`` the body's orientation ``R_i`` (world <- body) comes
from the estimator (the gyro) and the IMU gives, for each frame, the position the body would reach
with zero start velocity: ``s_i`` (gravity and the rotated, double-integrated specific force). The
camera centre is then linear in the world velocity ``v0`` at the window start and in a constant
world acceleration error ``a`` (accelerometer bias, and attitude error letting gravity leak in)::

    c_i = p_0 + v0 t_i + a t_i^2 / 2 + s_i + R_i t_body_cam,      p_0 = 0 (the window's origin)

A static landmark ``L_j`` seen at normalised coordinates ``(x, y)`` in frame ``i`` satisfies, in
that camera's axes ``q = R_cam_i^T (L_j - c_i)``, the two linear equations ``q_x - x q_z = 0`` and
``q_y - y q_z = 0`` (the direct linear transform of a projection). Stacked over all observations
they are linear in ``(v0, a, L_1..L_J)``; the landmarks are eliminated per feature (Schur
complement), which leaves a 6x6 system. Each row is divided by the landmark's depth from the
previous pass, so residuals are in normalised image units (pixels / focal length), and
Huber-weighted. The linear solution can then be refined by Gauss-Newton on the reprojection error
(``refine_iterations``, off by default for its cost): the algebraic residual has the measured
bearings inside its design matrix, which biases the velocity towards zero where parallax is small
(errors in variables; the speed gain on the real fr2/desk motion was 0.86 with the true orientation,
0.97-0.99 after refinement). This is the closed-form
structure of visual-inertial initialisation (Martinelli, "Closed-form solution of visual-inertial
structure from motion", IJCV 2014; Kaiser et al., RA-L 2017), run on a sliding window: the IMU fixes the metric scale, the camera the velocity that the
accelerometer can only integrate. Nothing here is learned.

Kaiser et al. also solve for the gyro bias. That was tried here (the bias rotating the bearings and
the specific force, linearised per pass) and made the estimator worse on the validation split: the
bias is weakly observed over a few seconds, and the velocity is very sensitive to it (README).

The covariance is the inverse of the reduced normal matrix times the robust residual variance, times
``measurement_scale`` (the windows of consecutive frames overlap, so their errors are correlated):
large along directions the window cannot see (e.g. motion along the optical axis with little
parallax).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowVelocityConfig:
    """Settings of the window solve (ROS parameters ``estimator.visual_velocity.solve.*``)."""

    min_observations: int = 3  # a feature counts when seen in at least this many window frames
    min_features: int = 12  # fewer usable features: no measurement
    huber_normalised: float = 0.01  # Huber threshold on residuals, normalised units (~0.8 px at f=80)
    reject_normalised: float = 0.04  # residuals above this are dropped from the next pass (~3 px at f=80)
    min_noise_normalised: float = 0.004  # floor on the residual std used for the covariance
    iterations: int = 3  # linear passes (depth reweighting, Huber): they make the start robust to mismatches
    # Gauss-Newton steps on the reprojection error after the linear passes (0: the linear solution alone).
    # 1 removes the small-parallax shrinkage and scored better on val, but costs ~0.45 ms a solve, which
    # took arvr-vio-infer below 10x real time on 2 cores: off by default (README, "The window itself is shrunk")
    refine_iterations: int = 0
    min_depth_m: float = 0.1  # landmarks nearer than this (or behind) are dropped
    max_speed_m_s: float = 5.0  # solutions faster than this are rejected as failures
    measurement_scale: float = 256.0  # multiplies the covariance: overlapping windows are correlated (tuned on val)
    acceleration_prior_m_s2: float = 0.3  # std of the prior on the constant acceleration error, m/s^2
    # added to the velocity's std in quadrature: errors the residuals do not show, m/s
    velocity_floor_m_s: float = 0.01


@dataclass(frozen=True)
class WindowObservations:
    """Feature observations in a window, one row each.

    Shape: frame (K,) int, feature (K,) int in 0..J-1, xy (K, 2) normalised camera coordinates.
    """

    frame: np.ndarray
    feature: np.ndarray
    xy: np.ndarray


@dataclass(frozen=True)
class WindowVelocity:
    """The solve's result at the window's first frame, its covariance, and its support."""

    velocity_xyz: np.ndarray  # (3,) world, m/s, at frame 0 of the window
    acceleration_xyz: np.ndarray  # (3,) world acceleration error the IMU left (bias, tilt), m/s^2
    covariance: np.ndarray  # (6, 6) of (velocity, acceleration error)
    features_used: int  # features that entered the solve
    residual_std: float  # robust residual std, normalised units

    def velocity_at(self, time_s: float) -> tuple[np.ndarray, np.ndarray]:
        """``v0 + a t`` at ``time_s`` after the window start and its (3, 3) covariance (the IMU's own
        velocity change since the window start is the caller's to add)."""
        jacobian = np.hstack([np.eye(3), time_s * np.eye(3)])
        return self.velocity_xyz + time_s * self.acceleration_xyz, jacobian @ self.covariance @ jacobian.T


def solve_window_velocity(observations: WindowObservations, times_s: np.ndarray,
                          rotations_world_cam: np.ndarray, offsets_xyz: np.ndarray,
                          config: WindowVelocityConfig = WindowVelocityConfig()) -> WindowVelocity | None:
    """Least-squares world velocity at the window start (see the module docstring), or None.

    Args:
        observations: feature observations; features seen in fewer than ``min_observations``
            frames are ignored.
        times_s: (N,) frame times from the window's first frame (``times_s[0] == 0``), s.
        rotations_world_cam: (N, 3, 3) camera orientations R_world_cam.
        offsets_xyz: (N, 3) camera centre minus ``v0 t_i`` (``s_i + R_i t_body_cam``), world, m.

    Returns:
        None when too few features are usable, the system is singular or the speed is implausible.
    """
    frame, feature, xy = _usable(observations, config.min_observations)
    if feature.size == 0 or feature.max() + 1 < config.min_features:
        return None
    count = int(feature.max()) + 1
    # Rows of the DLT: e_k^T R_cam^T (L - c), e_1 = (1, 0, -x), e_2 = (0, 1, -y): with the camera's
    # axes as the columns of R_cam, the rows are (x_axis - x z_axis, y_axis - y z_axis)  -> (K, 2, 3)
    cameras = rotations_world_cam[frame]  # (K, 3, 3)
    optical_axes = cameras[:, :, 2]  # (K, 3)
    rows = np.stack([cameras[:, :, 0] - xy[:, :1] * optical_axes, cameras[:, :, 1] - xy[:, 1:] * optical_axes],
                    axis=1)  # acting on world vectors
    system = _System(rows, times_s[frame], offsets_xyz[frame], feature, count)
    weights = np.ones(len(frame))
    keep = np.ones(count, dtype=bool)
    prior = np.zeros((6, 6))
    prior[3:, 3:] = np.eye(3) * (config.min_noise_normalised / config.acceleration_prior_m_s2) ** 2
    for _ in range(max(1, config.iterations)):
        solved = system.solve(weights * keep[feature], prior)
        if solved is None:
            return None
        solution, landmarks, reduced, valid = solved
        relative = landmarks[feature] - system.centres(solution)  # (K, 3) landmark from camera, world
        depth = np.einsum("kj,kj->k", optical_axes, relative)
        keep &= valid & (np.bincount(feature, depth < config.min_depth_m, minlength=count) == 0)
        residual = np.einsum("kaj,kj->ka", rows, relative) / np.maximum(depth, config.min_depth_m)[:, None]
        magnitude = np.sqrt(residual[:, 0] ** 2 + residual[:, 1] ** 2)  # normalised units
        huber = np.minimum(1.0, config.huber_normalised / np.maximum(magnitude, 1e-12))
        huber[magnitude > config.reject_normalised] = 0.0  # gross mismatches leave the next pass
        weights = huber / np.maximum(depth, config.min_depth_m) ** 2
    for _ in range(config.refine_iterations):
        refined = _reprojection_step(cameras, xy, system, feature, solution, landmarks, keep, config, prior)
        if refined is None:
            return None
        solution, landmarks, reduced, valid, magnitude = refined
        keep &= valid
    used = int(np.count_nonzero(keep & (np.bincount(feature, minlength=count) > 0)))
    if used < config.min_features or not np.all(np.isfinite(solution)):
        return None
    if float(np.linalg.norm(solution[:3])) > config.max_speed_m_s:
        return None
    inlier = keep[feature] & (magnitude < 3.0 * config.huber_normalised)
    dof = max(2 * int(np.count_nonzero(inlier)) - 3 * used - 6, 1)
    noise = max(float(np.sqrt(np.sum(magnitude[inlier] ** 2) / dof)), config.min_noise_normalised)
    # The reduced matrix was built with weights ~ 1 / depth^2: its inverse is the covariance per unit
    # normalised residual variance.
    covariance = config.measurement_scale * noise ** 2 * np.linalg.inv(reduced)  # (6, 6) of (v0, a)
    return WindowVelocity(solution[:3], solution[3:], covariance, used, noise)


def _reprojection_step(cameras: np.ndarray, xy: np.ndarray, linear: _System, feature: np.ndarray,
                       solution: np.ndarray, landmarks: np.ndarray, keep: np.ndarray, config: WindowVelocityConfig,
                       prior: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """One Gauss-Newton step of ``(v0, a)`` and the landmarks on the reprojection error (the linear
    solve's residual is algebraic, and with the measured bearings inside its design matrix it is
    biased towards zero motion where parallax is small).

    Linearised, observation k's residual is ``r_k + A_k (dL - B_k dx)`` with ``A_k = d pi / d q R^T``;
    writing ``r_k = -A_k o_k`` (``o_k = -A_k^+ r_k``, ``A_k`` has full row rank) gives the linear
    solve's form ``A_k (dL - B_k dx - o_k)``, so the same Schur-reduced normal equations solve it.

    Shape: cameras (K, 3, 3), xy (K, 2), feature (K,), solution (6,), landmarks (J, 3), keep (J,)
        -> solution (6,), landmarks (J, 3), reduced (6, 6), valid (J,), residual magnitudes (K,).
    """
    relative = landmarks[feature] - linear.centres(solution)  # (K, 3) world
    in_camera = np.einsum("kji,kj->ki", cameras, relative)  # (K, 3) R^T (L - c)
    ahead = in_camera[:, 2] > config.min_depth_m
    depth = np.where(ahead, in_camera[:, 2], 1.0)
    projected = in_camera[:, :2] / depth[:, None]
    residual = projected - xy  # (K, 2) normalised units
    # d pi / d q R^T = (1 / depth) (x_axis - u z_axis, y_axis - v z_axis): the linear solve's rows at the
    # projected point (u, v) instead of the measured one, over the depth -> (K, 2, 3) on world vectors
    optical_axes = cameras[:, :, 2]
    first = (cameras[:, :, 0] - projected[:, :1] * optical_axes) / depth[:, None]
    second = (cameras[:, :, 1] - projected[:, 1:] * optical_axes) / depth[:, None]
    # o = -A^T (A A^T)^-1 r, the 2x2 inverse in closed form
    aa, ab, bb = (first * first).sum(1), (first * second).sum(1), (second * second).sum(1)
    determinant = aa * bb - ab * ab
    along_first = (bb * residual[:, 0] - ab * residual[:, 1]) / determinant
    along_second = (aa * residual[:, 1] - ab * residual[:, 0]) / determinant
    offsets = -(first * along_first[:, None] + second * along_second[:, None])
    system = _System(np.stack([first, second], axis=1), linear.coefficients[:, 0], offsets, feature, len(landmarks))
    magnitude = np.sqrt(residual[:, 0] ** 2 + residual[:, 1] ** 2)
    weights = np.minimum(1.0, config.huber_normalised / np.maximum(magnitude, 1e-12))
    weights[(magnitude > config.reject_normalised) | ~ahead] = 0.0
    solved = system.solve(weights * keep[feature], prior, prior_at=solution)
    if solved is None:
        return None
    step, landmark_steps, reduced, valid = solved
    return solution + step, landmarks + landmark_steps, reduced, valid, magnitude


def _symmetric_inverse(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses of symmetric 3x3 matrices by the adjugate, and which were well enough conditioned
    (determinant above 1e-9 of the cube of the mean eigenvalue; the rest get zeros).

    Shape: (J, 3, 3) -> (J, 3, 3), (J,) bool.
    """
    a, b, c = matrices[:, 0, 0], matrices[:, 0, 1], matrices[:, 0, 2]
    d, e, f = matrices[:, 1, 1], matrices[:, 1, 2], matrices[:, 2, 2]
    cofactors = np.stack([d * f - e * e, c * e - b * f, b * e - c * d,
                          a * f - c * c, b * c - a * e, a * d - b * b], axis=1)  # (J, 6) upper triangle
    determinant = a * cofactors[:, 0] + b * cofactors[:, 1] + c * cofactors[:, 2]
    scale = (a + d + f) / 3.0
    valid = determinant > 1e-9 * np.maximum(scale, 1e-300) ** 3
    cofactors = cofactors / np.where(valid, determinant, np.inf)[:, None]
    inverse = cofactors[:, [0, 1, 2, 1, 3, 4, 2, 4, 5]].reshape(-1, 3, 3)
    return inverse, valid


def _usable(observations: WindowObservations, min_observations: int) -> tuple[np.ndarray, ...]:
    """The observations of features seen often enough, with features renumbered 0..J-1."""
    feature = np.asarray(observations.feature, dtype=np.int64)
    if feature.size == 0:
        return feature, feature, np.zeros((0, 2))
    _, inverse, counts = np.unique(feature, return_inverse=True, return_counts=True)
    seen = counts[inverse] >= min_observations
    _, renumbered = np.unique(feature[seen], return_inverse=True)
    renumbered = renumbered.reshape(-1)
    order = np.argsort(renumbered, kind="stable")  # grouped by feature (the solve sums per feature)
    return (np.asarray(observations.frame, dtype=np.int64)[seen][order], renumbered[order],
            np.asarray(observations.xy, dtype=np.float64)[seen][order])


class _System:
    """The normal equations of one window in ``x = (v0, a)`` and the landmarks, for given weights.

    ``a`` is a constant world acceleration error (accelerometer bias and attitude error seen as
    gravity leaking in), entering the camera centre as ``c = t v0 + t^2/2 a + o``. Per observation
    the residual is ``A (L - B x - o)`` with ``B = [t I, t^2/2 I]``; with ``M = w A^T A``:
    ``H_LL = sum M``, ``H_Lx = -sum M B``, ``H_xx = sum B^T M B``, ``b_L = sum M o``,
    ``b_x = -sum B^T M o``. The landmarks are eliminated per feature (Schur complement).
    """

    def __init__(self, rows: np.ndarray, times: np.ndarray, offsets: np.ndarray, feature: np.ndarray,
                 count: int) -> None:
        first, second = rows[:, 0], rows[:, 1]
        self.gram = first[:, :, None] * first[:, None, :] + second[:, :, None] * second[:, None, :]  # (K, 3, 3) A^T A
        self.coefficients = np.column_stack([times, 0.5 * times ** 2])  # (K, 2): B = coefficients (x) I
        self.pairs = (self.coefficients[:, :, None] * self.coefficients[:, None, :]).reshape(-1, 4)  # (K, 4)
        self.offsets = offsets
        self.starts = np.searchsorted(feature, np.arange(count))  # observations are sorted by feature

    def centres(self, solution: np.ndarray) -> np.ndarray:
        """(K, 3) camera centres for ``solution`` = (v0, a)."""
        return self.offsets + self.coefficients @ solution.reshape(2, 3)

    def solve(self, weights: np.ndarray, prior: np.ndarray, *,
              prior_at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """x (6,), landmarks (J, 3), the reduced matrix (6, 6) and which features were solvable (J,);
        ``prior`` (6, 6) is added to ``H_xx`` (it pulls ``x`` towards 0, or, when the unknowns are a
        step from ``prior_at``, pulls ``prior_at + x`` towards 0). None when singular."""
        gram = weights[:, None, None] * self.gram  # (K, 3, 3) M
        m_o = np.einsum("kij,kj->ki", gram, self.offsets)  # (K, 3)
        flat = gram.reshape(-1, 9)
        h_ll = np.add.reduceat(flat, self.starts, axis=0).reshape(-1, 3, 3)  # (J, 3, 3)
        # H_Lx (J, 3, 6): the blocks -sum c_p M, p = velocity, acceleration
        h_lx = -np.concatenate([np.add.reduceat(self.coefficients[:, p, None] * flat, self.starts, axis=0)
                                .reshape(-1, 3, 3) for p in range(2)], axis=2)
        b_l = np.add.reduceat(m_o, self.starts, axis=0)  # (J, 3)
        h_xx = (self.pairs.T @ flat).reshape(2, 2, 3, 3).transpose(0, 2, 1, 3).reshape(6, 6) + prior
        b_x = -(self.coefficients.T @ m_o).reshape(6)
        if prior_at is not None:
            b_x = b_x - prior @ prior_at
        inverse, valid = _symmetric_inverse(h_ll)  # (J, 3, 3), (J,)
        h_lx[~valid] = 0.0  # unsolvable features: no coupling, landmark 0
        b_l[~valid] = 0.0
        h_xl_inverse = np.transpose(h_lx, (0, 2, 1)) @ inverse  # (J, 6, 3): H_xL H_LL^-1
        reduced = h_xx - np.tensordot(h_xl_inverse, h_lx, axes=([0, 2], [0, 1]))
        rhs = b_x - np.tensordot(h_xl_inverse, b_l, axes=([0, 2], [0, 1]))
        if not np.all(np.isfinite(reduced)):
            return None
        eigenvalues = np.linalg.eigvalsh(reduced)  # ascending
        if eigenvalues[0] <= 1e-12 * eigenvalues[-1]:
            return None
        solution = np.linalg.solve(reduced, rhs)
        landmarks = (inverse @ (b_l - h_lx @ solution)[:, :, None])[:, :, 0]
        return solution, landmarks, reduced, valid
