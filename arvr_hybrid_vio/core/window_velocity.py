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
(``refine_iterations``, two steps by default): the algebraic residual has the measured
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

import copy
from dataclasses import dataclass

import numpy as np

_UPPER = np.triu_indices(3)  # the six distinct entries of a symmetric 3x3: a b c / d e / f
_FULL = np.array([0, 1, 2, 1, 3, 4, 2, 4, 5])  # the nine entries, row-major, from the six
# H_xx (6, 6) from the moments (t t, t t^2/2, t^2/2 t^2/2) (x) M's six entries, flattened to (18,)
_XX = np.array([[6 * (p + q) + _FULL[3 * (r % 3) + c % 3] for c in range(6) for p, q in [(r // 3, c // 3)]]
                for r in range(6)])


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
    # They remove the small-parallax shrinkage; on val (five seeds) 1 step beat 0 and 2 beat 1 for every
    # model, and 2 are also the most robust to mismatches (tests). With the solve in component-major arrays
    # they cost no measurable arvr-vio-infer time (docs/accuracy_history.md, "The window itself is shrunk"). Fewer than 3
    # linear passes before them were ruled out: not robust to mismatches
    refine_iterations: int = 2
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
    # Component-major (3, K) arrays throughout: numpy's per-call cost dominates at a few hundred to a
    # few thousand observations, and each operation here is then one pass over contiguous rows.
    # Rows of the DLT: e_k^T R_cam^T (L - c), e_1 = (1, 0, -x), e_2 = (0, 1, -y): with the camera's
    # axes as the columns of R_cam, the rows are (x_axis - x z_axis, y_axis - y z_axis), world vectors
    axes = np.ascontiguousarray(rotations_world_cam[frame].transpose(2, 1, 0))  # (3 axes, 3, K)
    x_measured, y_measured = xy[:, 0], xy[:, 1]
    first, second = axes[0] - x_measured * axes[2], axes[1] - y_measured * axes[2]  # (3, K) each
    system = _System(first, second, times_s[frame], np.ascontiguousarray(offsets_xyz[frame].T), feature, count)
    weights = np.ones(len(frame))
    keep = np.ones(count, dtype=bool)
    prior = np.zeros((6, 6))
    prior[3:, 3:] = np.eye(3) * (config.min_noise_normalised / config.acceleration_prior_m_s2) ** 2
    for _ in range(max(1, config.iterations)):
        solved = system.solve(weights * keep[feature], prior)
        if solved is None:
            return None
        solution, landmarks, reduced, valid = solved
        relative = system.from_cameras(landmarks, solution)  # (3, K) landmark from camera, world
        depth = _dot(axes[2], relative)
        keep &= valid & (np.bincount(feature, depth < config.min_depth_m, minlength=count) == 0)
        clipped = np.maximum(depth, config.min_depth_m)
        magnitude = np.hypot(_dot(first, relative), _dot(second, relative)) / clipped  # normalised units
        huber = np.minimum(1.0, config.huber_normalised / np.maximum(magnitude, 1e-12))
        huber[magnitude > config.reject_normalised] = 0.0  # gross mismatches leave the next pass
        weights = huber / clipped ** 2
    for _ in range(config.refine_iterations):
        refined = _reprojection_step(axes, x_measured, y_measured, system, solution, landmarks, keep, config, prior)
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


def _reprojection_step(axes: np.ndarray, x_measured: np.ndarray, y_measured: np.ndarray, linear: _System,
                       solution: np.ndarray, landmarks: np.ndarray, keep: np.ndarray, config: WindowVelocityConfig,
                       prior: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """One Gauss-Newton step of ``(v0, a)`` and the landmarks on the reprojection error (the linear
    solve's residual is algebraic, and with the measured bearings inside its design matrix it is
    biased towards zero motion where parallax is small).

    Linearised, observation k's residual is ``r_k + A_k (dL - B_k dx)`` with ``A_k = d pi / d q R^T``;
    writing ``r_k = -A_k o_k`` (``o_k = -A_k^+ r_k``, ``A_k`` has full row rank) gives the linear
    solve's form ``A_k (dL - B_k dx - o_k)``, so the same Schur-reduced normal equations solve it.

    Shape: axes (3, 3, K) (the cameras' x, y, z axes in world components), x_measured and y_measured
        (K,), solution (6,), landmarks (J, 3), keep (J,)
        -> solution (6,), landmarks (J, 3), reduced (6, 6), valid (J,), residual magnitudes (K,).
    """
    relative = linear.from_cameras(landmarks, solution)  # (3, K) world
    in_camera = [_dot(axis, relative) for axis in axes]  # R^T (L - c), three (K,)
    ahead = in_camera[2] > config.min_depth_m
    depth = np.where(ahead, in_camera[2], 1.0)
    x_projected, y_projected = in_camera[0] / depth, in_camera[1] / depth
    residual_x, residual_y = x_projected - x_measured, y_projected - y_measured  # normalised units
    # d pi / d q R^T = (1 / depth) (x_axis - u z_axis, y_axis - v z_axis): the linear solve's rows at the
    # projected point (u, v) instead of the measured one, over the depth -> (3, K) each, on world vectors
    first = (axes[0] - x_projected * axes[2]) / depth
    second = (axes[1] - y_projected * axes[2]) / depth
    # o = -A^T (A A^T)^-1 r, the 2x2 inverse in closed form
    aa, ab, bb = _dot(first, first), _dot(first, second), _dot(second, second)
    determinant = aa * bb - ab * ab
    along_first = (bb * residual_x - ab * residual_y) / determinant
    along_second = (aa * residual_y - ab * residual_x) / determinant
    offsets = -(first * along_first + second * along_second)  # (3, K)
    magnitude = np.hypot(residual_x, residual_y)
    weights = np.minimum(1.0, config.huber_normalised / np.maximum(magnitude, 1e-12))
    weights[(magnitude > config.reject_normalised) | ~ahead] = 0.0
    solved = linear.with_rows(first, second, offsets).solve(weights * keep[linear.feature], prior, prior_at=solution)
    if solved is None:
        return None
    step, landmark_steps, reduced, valid = solved
    return solution + step, landmarks + landmark_steps, reduced, valid, magnitude


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise dot products. Shape: (3, K), (3, K) -> (K,)."""
    return np.einsum("ik,ik->k", a, b)


def _symmetric_inverse(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses of symmetric 3x3 matrices by the adjugate, and which were well enough conditioned
    (determinant above 1e-9 of the cube of the mean eigenvalue; the rest get zeros).

    Shape: entries (6, J) (``_UPPER`` order: a b c / d e / f of [[a b c] [b d e] [c e f]])
        -> (J, 3, 3), (J,) bool.
    """
    a, b, c, d, e, f = entries
    cofactors = np.stack([d * f - e * e, c * e - b * f, b * e - c * d,
                          a * f - c * c, b * c - a * e, a * d - b * b])  # (6, J) upper triangle
    determinant = a * cofactors[0] + b * cofactors[1] + c * cofactors[2]
    scale = (a + d + f) / 3.0
    valid = determinant > 1e-9 * np.maximum(scale, 1e-300) ** 3
    cofactors = cofactors / np.where(valid, determinant, np.inf)
    return cofactors[_FULL].T.reshape(-1, 3, 3), valid


def _usable(observations: WindowObservations, min_observations: int) -> tuple[np.ndarray, ...]:
    """The observations of features seen often enough, with features renumbered 0..J-1."""
    feature = np.asarray(observations.feature, dtype=np.int64)
    if feature.size == 0:
        return feature, feature, np.zeros((0, 2))
    _, inverse, counts = np.unique(feature, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    often = counts >= min_observations
    seen = often[inverse]
    renumbered = (np.cumsum(often) - 1)[inverse[seen]]  # the kept features' rank among themselves
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

    Stored component-major: ``A``'s two rows as (3, K) arrays, ``M`` as its six distinct entries (6, K).
    """

    def __init__(self, first: np.ndarray, second: np.ndarray, times: np.ndarray, offsets: np.ndarray,
                 feature: np.ndarray, count: int) -> None:
        """Shape: first, second (3, K) the rows of A; times (K,); offsets (3, K); feature (K,) sorted."""
        self.feature = feature
        self.coefficients = np.stack([times, 0.5 * times ** 2])  # (2, K): B = coefficients (x) I
        velocity, acceleration = self.coefficients
        self.moments = np.stack([velocity * velocity, velocity * acceleration, acceleration * acceleration])  # (3, K)
        self.starts = np.searchsorted(feature, np.arange(count))  # observations are sorted by feature
        self._set_rows(first, second, offsets)

    def with_rows(self, first: np.ndarray, second: np.ndarray, offsets: np.ndarray) -> _System:
        """The same observations' times and features with other rows ``A`` and offsets ``o``."""
        other = copy.copy(self)
        other._set_rows(first, second, offsets)
        return other

    def _set_rows(self, first: np.ndarray, second: np.ndarray, offsets: np.ndarray) -> None:
        row, column = _UPPER
        self.gram = first[row] * first[column] + second[row] * second[column]  # (6, K) A^T A
        self.offsets = offsets
        self._gram_offsets = first * _dot(first, offsets) + second * _dot(second, offsets)  # (3, K) A^T A o
        # per observation, reduced per feature in one pass: M (6), t M (6), t^2/2 M (6), M o (3)
        self._per_observation = np.empty((21, first.shape[1]))

    def from_cameras(self, landmarks: np.ndarray, solution: np.ndarray) -> np.ndarray:
        """(3, K) each observation's landmark minus its camera centre for ``solution`` = (v0, a), world.
        Shape: landmarks (J, 3)."""
        return landmarks.T[:, self.feature] - (self.offsets + solution.reshape(2, 3).T @ self.coefficients)

    def solve(self, weights: np.ndarray, prior: np.ndarray, *,
              prior_at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """x (6,), landmarks (J, 3), the reduced matrix (6, 6) and which features were solvable (J,);
        ``prior`` (6, 6) is added to ``H_xx`` (it pulls ``x`` towards 0, or, when the unknowns are a
        step from ``prior_at``, pulls ``prior_at + x`` towards 0). None when singular."""
        stacked = self._per_observation
        gram = stacked[:6]
        np.multiply(self.gram, weights, out=gram)  # M
        np.multiply(self._gram_offsets, weights, out=stacked[18:])  # M o
        np.multiply(gram, self.coefficients[0], out=stacked[6:12])
        np.multiply(gram, self.coefficients[1], out=stacked[12:18])
        sums = np.add.reduceat(stacked, self.starts, axis=1)  # (21, J)
        h_xx = (self.moments @ gram.T).reshape(-1)[_XX] + prior  # (6, 6)
        b_x = -(self.coefficients @ stacked[18:].T).reshape(6)
        if prior_at is not None:
            b_x = b_x - prior @ prior_at
        inverse, valid = _symmetric_inverse(sums[:6])  # (J, 3, 3), (J,)
        # -H_Lx per feature: (J, 3, 6), the blocks sum t M and sum t^2/2 M
        minus_h_lx = np.concatenate([sums[6:12][_FULL].T.reshape(-1, 3, 3), sums[12:18][_FULL].T.reshape(-1, 3, 3)],
                                    axis=2)
        minus_h_lx[~valid] = 0.0  # unsolvable features: no coupling, landmark 0
        b_l = np.where(valid[:, None], sums[18:].T, 0.0)  # (J, 3)
        coupling = inverse @ minus_h_lx  # (J, 3, 6): -H_LL^-1 H_Lx
        landmarks_at_zero = (inverse @ b_l[:, :, None])[:, :, 0]  # (J, 3): H_LL^-1 b_L
        flat = minus_h_lx.reshape(-1, 6)
        reduced = h_xx - flat.T @ coupling.reshape(-1, 6)
        rhs = b_x + flat.T @ landmarks_at_zero.reshape(-1)
        if not np.all(np.isfinite(reduced)):
            return None
        eigenvalues = np.linalg.eigvalsh(reduced)  # ascending
        if eigenvalues[0] <= 1e-12 * eigenvalues[-1]:
            return None
        solution = np.linalg.solve(reduced, rhs)
        landmarks = landmarks_at_zero + coupling @ solution  # H_LL^-1 (b_L - H_Lx x)
        return solution, landmarks, reduced, valid
