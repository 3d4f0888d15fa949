"""Umeyama alignment of an estimated trajectory to a reference (SE3, Sim3 or none).

S. Umeyama, "Least-squares estimation of transformation parameters between two
point patterns", IEEE TPAMI 13(4), 1991. For points x_i (estimate) and y_i
(reference), i = 1..n, find c, R, t minimising sum |y_i - (c R x_i + t)|^2:

    mu_x = 1/n sum x_i,  mu_y = 1/n sum y_i                       (eq. 34, 35)
    sigma_x^2 = 1/n sum |x_i - mu_x|^2                             (eq. 36)
    Sigma_xy = 1/n sum (y_i - mu_y)(x_i - mu_x)^T = U D V^T        (eq. 38, SVD)
    S = I, or diag(1, 1, -1) if det(U) det(V) < 0                  (eq. 43)
    R = U S V^T                                                    (eq. 40)
    c = tr(D S) / sigma_x^2   (Sim3; c = 1 for SE3)                (eq. 42)
    t = mu_y - c R mu_x                                            (eq. 41)

The aligned estimate pose is ``T' = [R | t] [c R_i | c p_i]``: positions
``c R p_i + t`` and orientations ``R R_i`` (evo applies it the same way).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arvr_hybrid_vio.core.errors import EvaluationError
from arvr_hybrid_vio.core.trajectory import Trajectory

ALIGN_MODES = ("se3", "sim3", "none")


@dataclass(frozen=True)
class Alignment:
    """A similarity transform ``y = scale * rotation @ x + translation``.

    Attributes:
        rotation: (3, 3) rotation matrix.
        translation: (3,) translation (m).
        scale: scale factor (1.0 for SE3 and none).
        mode: "se3", "sim3" or "none".
    """

    rotation: np.ndarray
    translation: np.ndarray
    scale: float
    mode: str

    @classmethod
    def identity(cls) -> Alignment:
        return cls(np.eye(3), np.zeros(3), 1.0, "none")

    def apply_points(self, points_xyz: np.ndarray) -> np.ndarray:
        """Transform points. Shape: (N, 3) -> (N, 3)."""
        return self.scale * points_xyz @ self.rotation.T + self.translation

    def apply_poses(self, poses: np.ndarray) -> np.ndarray:
        """Transform (N, 4, 4) poses: translations scaled then all left-multiplied by [R | t]."""
        out = np.array(poses, dtype=np.float64, copy=True)
        out[:, :3, 3] *= self.scale
        transform = np.eye(4)
        transform[:3, :3] = self.rotation
        transform[:3, 3] = self.translation
        return np.einsum("ij,njk->nik", transform, out)


def umeyama(points_src: np.ndarray, points_dst: np.ndarray, *, with_scale: bool) -> Alignment:
    """Least-squares similarity (or rigid) transform mapping ``points_src`` onto ``points_dst``.

    Shape: (N, 3), (N, 3) -> Alignment.

    Raises:
        EvaluationError: fewer than 3 points, mismatched shapes, or a degenerate (collinear) point set.
    """
    src = np.asarray(points_src, dtype=np.float64)
    dst = np.asarray(points_dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3:
        raise EvaluationError(f"umeyama: need two (N, 3) point sets of one shape, got {src.shape} and {dst.shape}")
    if src.shape[0] < 3:
        raise EvaluationError(f"umeyama: need at least 3 point pairs to align, got {src.shape[0]}")
    mean_src, mean_dst = src.mean(axis=0), dst.mean(axis=0)
    centred_src, centred_dst = src - mean_src, dst - mean_dst
    variance_src = float(np.sum(centred_src ** 2)) / src.shape[0]  # eq. 36
    covariance = centred_dst.T @ centred_src / src.shape[0]  # eq. 38, (3, 3)
    u, d, vt = np.linalg.svd(covariance)
    if np.count_nonzero(d > np.finfo(d.dtype).eps) < 2:
        raise EvaluationError("umeyama: degenerate point set (all points on a line or one point); cannot align")
    s = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0.0:
        s[2, 2] = -1.0  # eq. 43: keep a proper rotation
    rotation = u @ s @ vt  # eq. 40
    scale = float(np.trace(np.diag(d) @ s) / variance_src) if with_scale else 1.0  # eq. 42
    translation = mean_dst - scale * rotation @ mean_src  # eq. 41
    return Alignment(rotation, translation, scale, "sim3" if with_scale else "se3")


def align_trajectory(est: Trajectory, ref: Trajectory, *, mode: str, first_n: int = 0) -> tuple[Alignment, np.ndarray]:
    """Align associated ``est`` poses to ``ref`` poses (pair k with pair k).

    Args:
        est: associated estimate (same length as ``ref``).
        ref: associated reference.
        mode: "se3", "sim3" or "none".
        first_n: align on the first ``first_n`` pairs only (0: all).

    Returns:
        The alignment and the aligned estimate poses, shape (N, 4, 4).

    Raises:
        EvaluationError: unknown mode, or as ``umeyama``.
    """
    if mode not in ALIGN_MODES:
        raise EvaluationError(f"unknown alignment '{mode}' (use {', '.join(ALIGN_MODES)})")
    poses = est.poses_se3()
    if mode == "none":
        return Alignment.identity(), poses
    count = len(est) if first_n <= 0 else min(first_n, len(est))
    alignment = umeyama(est.positions_xyz[:count], ref.positions_xyz[:count], with_scale=mode == "sim3")
    return alignment, alignment.apply_poses(poses)
