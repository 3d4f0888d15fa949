"""Rotation and rigid-transform helpers on numpy arrays.

Conventions: quaternions are Hamilton, scalar first (``quat_wxyz``); rotation
matrices act on column vectors; ``T_a_b`` maps points in frame b into frame a.
``matrix_to_quat_wxyz``, ``quat_wxyz_to_matrix``, ``so3_exp`` and ``so3_log`` are closed forms:
on Python floats for a single rotation (scipy's per-call overhead, ~100 us for ``from_matrix``,
dominated the estimator's IMU-rate path) and on arrays for a batch (Shepperd's method, Rodrigues'
formula). All agree with scipy's ``Rotation`` to 1e-12 (tested). scipy is used where a ``Rotation``
object is wanted (``rotation_from_quat_wxyz``, for slerp) and imported then, not with this module:
importing ``scipy.spatial`` takes 0.15-0.27 s, and neither ``arvr-vio-infer`` nor the evaluation of
a trajectory needs it (README, "Evaluating a trajectory").

Shapes: every function accepts a batch ``(..., k)`` and returns the same batch.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial.transform import Rotation


def quat_wxyz_to_xyzw(quat_wxyz: np.ndarray) -> np.ndarray:
    """Shape: (..., 4) -> (..., 4)."""
    return np.concatenate([quat_wxyz[..., 1:], quat_wxyz[..., :1]], axis=-1)


def quat_xyzw_to_wxyz(quat_xyzw: np.ndarray) -> np.ndarray:
    """Shape: (..., 4) -> (..., 4)."""
    return np.concatenate([quat_xyzw[..., 3:], quat_xyzw[..., :3]], axis=-1)


def _scipy_rotation() -> type[Rotation]:
    """scipy's ``Rotation``, imported on first use (see the module docstring)."""
    from scipy.spatial.transform import Rotation
    return Rotation


def rotation_from_quat_wxyz(quat_wxyz: np.ndarray) -> Rotation:
    """scipy Rotation from (..., 4) wxyz quaternions (normalised by scipy)."""
    return _scipy_rotation().from_quat(quat_wxyz_to_xyzw(np.asarray(quat_wxyz, dtype=np.float64)))


def quat_wxyz_from_rotation(rotation: Rotation) -> np.ndarray:
    """(..., 4) wxyz quaternions with w >= 0."""
    quat = quat_xyzw_to_wxyz(rotation.as_quat())
    return np.where(quat[..., :1] < 0.0, -quat, quat)


def quat_wxyz_to_matrix(quat_wxyz: np.ndarray) -> np.ndarray:
    """Shape: (..., 4) -> (..., 3, 3)."""
    quat_wxyz = np.asarray(quat_wxyz, dtype=np.float64)
    if quat_wxyz.size == 4:
        return _single_quat_wxyz_to_matrix(quat_wxyz.reshape(4)).reshape(quat_wxyz.shape[:-1] + (3, 3))
    return _batch_quat_wxyz_to_matrix(quat_wxyz.reshape(-1, 4)).reshape(quat_wxyz.shape[:-1] + (3, 3))


def matrix_to_quat_wxyz(matrix: np.ndarray) -> np.ndarray:
    """Shape: (..., 3, 3) -> (..., 4), w >= 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.size == 9:
        return _single_matrix_to_quat_wxyz(matrix.reshape(3, 3)).reshape(matrix.shape[:-2] + (4,))
    return _batch_matrix_to_quat_wxyz(matrix.reshape(-1, 3, 3)).reshape(matrix.shape[:-2] + (4,))


def quat_wxyz_multiply(q_a: np.ndarray, q_b: np.ndarray) -> np.ndarray:
    """Hamilton product q_a * q_b. Shape: (..., 4), (..., 4) -> (..., 4)."""
    w1, x1, y1, z1 = np.moveaxis(np.asarray(q_a, dtype=np.float64), -1, 0)
    w2, x2, y2, z2 = np.moveaxis(np.asarray(q_b, dtype=np.float64), -1, 0)
    return np.stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ], axis=-1)


def quat_wxyz_conjugate(quat_wxyz: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion. Shape: (..., 4) -> (..., 4)."""
    return np.asarray(quat_wxyz, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def _single_matrix_to_quat_wxyz(matrix: np.ndarray) -> np.ndarray:
    """One rotation matrix to a unit wxyz quaternion, w >= 0 (Shepperd's method)."""
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = matrix.tolist()
    trace = m00 + m11 + m22
    if trace >= max(m00, m11, m22):
        scale = 2.0 * math.sqrt(max(1.0 + trace, 0.0))
        quat = (0.25 * scale, (m21 - m12) / scale, (m02 - m20) / scale, (m10 - m01) / scale)
    elif m00 >= m11 and m00 >= m22:
        scale = 2.0 * math.sqrt(max(1.0 + m00 - m11 - m22, 0.0))
        quat = ((m21 - m12) / scale, 0.25 * scale, (m01 + m10) / scale, (m02 + m20) / scale)
    elif m11 >= m22:
        scale = 2.0 * math.sqrt(max(1.0 + m11 - m00 - m22, 0.0))
        quat = ((m02 - m20) / scale, (m01 + m10) / scale, 0.25 * scale, (m12 + m21) / scale)
    else:
        scale = 2.0 * math.sqrt(max(1.0 + m22 - m00 - m11, 0.0))
        quat = ((m10 - m01) / scale, (m02 + m20) / scale, (m12 + m21) / scale, 0.25 * scale)
    norm = math.sqrt(sum(value * value for value in quat))
    sign = -1.0 if quat[0] < 0.0 else 1.0
    return np.array([sign * value / norm for value in quat])


def _batch_matrix_to_quat_wxyz(matrices: np.ndarray) -> np.ndarray:
    """``_single_matrix_to_quat_wxyz`` on arrays: (N, 3, 3) -> (N, 4), w >= 0."""
    m = matrices
    diagonal = np.stack([m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)  # (N, 3)
    trace = diagonal.sum(axis=1)
    case = np.argmax(np.column_stack([trace, diagonal]), axis=1)  # ties to the first, as the single form
    quat = np.empty((len(m), 4))
    for which, (lead, signs) in enumerate([(None, None), (0, (1, 2)), (1, (0, 2)), (2, (0, 1))]):
        rows = case == which
        if not rows.any():
            continue
        r = m[rows]
        if lead is None:  # the trace is largest: w leads
            scale = 2.0 * np.sqrt(np.maximum(1.0 + trace[rows], 0.0))
            quat[rows] = np.column_stack([0.25 * scale, (r[:, 2, 1] - r[:, 1, 2]) / scale,
                                          (r[:, 0, 2] - r[:, 2, 0]) / scale, (r[:, 1, 0] - r[:, 0, 1]) / scale])
            continue
        other, third = signs
        scale = 2.0 * np.sqrt(np.maximum(1.0 + r[:, lead, lead] - r[:, other, other] - r[:, third, third], 0.0))
        # w from the skew part across the two other axes, the lead axis' own component from the scale, and
        # the other two from the symmetric parts with the lead axis (as in the single form, per case)
        column = [(r[:, 2, 1] - r[:, 1, 2]), (r[:, 0, 2] - r[:, 2, 0]), (r[:, 1, 0] - r[:, 0, 1])][lead]
        out = np.empty((len(r), 4))
        out[:, 0] = column / scale
        out[:, 1 + lead] = 0.25 * scale
        out[:, 1 + other] = (r[:, lead, other] + r[:, other, lead]) / scale
        out[:, 1 + third] = (r[:, lead, third] + r[:, third, lead]) / scale
        quat[rows] = out
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    return np.where(quat[:, :1] < 0.0, -quat, quat)


def _batch_quat_wxyz_to_matrix(quats_wxyz: np.ndarray) -> np.ndarray:
    """``_single_quat_wxyz_to_matrix`` on arrays: (N, 4) (normalised here) -> (N, 3, 3)."""
    w, x, y, z = quats_wxyz.T
    norm_sq = w * w + x * x + y * y + z * z
    if np.any(norm_sq == 0.0):
        raise ValueError(f"quaternion {quats_wxyz[int(np.argmax(norm_sq == 0.0))].tolist()} has no rotation "
                         "(zero norm)")
    s = 2.0 / norm_sq
    out = np.empty((len(quats_wxyz), 3, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 0, 2] = 1.0 - s * (y * y + z * z), s * (x * y - w * z), s * (x * z + w * y)
    out[:, 1, 0], out[:, 1, 1], out[:, 1, 2] = s * (x * y + w * z), 1.0 - s * (x * x + z * z), s * (y * z - w * x)
    out[:, 2, 0], out[:, 2, 1], out[:, 2, 2] = s * (x * z - w * y), s * (y * z + w * x), 1.0 - s * (x * x + y * y)
    return out


def _batch_so3_log(matrices: np.ndarray) -> np.ndarray:
    """``_single_so3_log`` on arrays: (N, 3, 3) -> (N, 3), angles in [0, pi]."""
    quat = _batch_matrix_to_quat_wxyz(matrices)
    w, vector = quat[:, 0], quat[:, 1:]
    sin_half = np.linalg.norm(vector, axis=1)
    small = sin_half < 1e-8
    scale = np.where(small, 2.0 / np.where(small, w, 1.0),
                     2.0 * np.arctan2(sin_half, w) / np.where(small, 1.0, sin_half))
    return scale[:, None] * vector


def _single_quat_wxyz_to_matrix(quat_wxyz: np.ndarray) -> np.ndarray:
    """One wxyz quaternion (normalised here, as scipy does) to a rotation matrix."""
    w, x, y, z = quat_wxyz.tolist()
    norm_sq = w * w + x * x + y * y + z * z
    if not norm_sq > 0.0:
        raise ValueError(f"quaternion {quat_wxyz.tolist()} has no rotation (zero norm)")
    s = 2.0 / norm_sq
    return np.array([
        [1.0 - s * (y * y + z * z), s * (x * y - w * z), s * (x * z + w * y)],
        [s * (x * y + w * z), 1.0 - s * (x * x + z * z), s * (y * z - w * x)],
        [s * (x * z - w * y), s * (y * z + w * x), 1.0 - s * (x * x + y * y)]])


def _single_so3_log(matrix: np.ndarray) -> np.ndarray:
    """One rotation matrix to a rotation vector, angle in [0, pi], via Shepperd's quaternion (w >= 0)."""
    w, x, y, z = _single_matrix_to_quat_wxyz(matrix).tolist()
    sin_half = math.sqrt(x * x + y * y + z * z)
    if sin_half < 1e-8:  # angle / sin_half = 2 atan(sin_half / w) / sin_half = (2 / w) (1 - sin_half^2 / (3 w^2) ...)
        scale = 2.0 / w
    else:
        scale = 2.0 * math.atan2(sin_half, w) / sin_half
    return np.array([scale * x, scale * y, scale * z])


def _batch_so3_exp(rotvecs: np.ndarray) -> np.ndarray:
    """Rotation vectors (N, 3) to matrices (N, 3, 3): Rodrigues, ``R = (1 - b t^2) I + a [v]x + b v v^T``
    (``t`` the angle, ``a = sin t / t``, ``b = (1 - cos t) / t^2``, Taylor terms near zero)."""
    angle_sq = np.einsum("ni,ni->n", rotvecs, rotvecs)
    small = angle_sq < 1e-12
    safe_sq = np.where(small, 1.0, angle_sq)
    angle = np.sqrt(safe_sq)
    a = np.where(small, 1.0 - angle_sq / 6.0, np.sin(angle) / angle)
    b = np.where(small, 0.5 - angle_sq / 24.0, (1.0 - np.cos(angle)) / safe_sq)
    out = b[:, None, None] * (rotvecs[:, :, None] * rotvecs[:, None, :])
    diagonal = 1.0 - b * angle_sq
    for k in range(3):
        out[:, k, k] += diagonal
    ax, ay, az = (a[:, None] * rotvecs).T
    out[:, 0, 1] -= az
    out[:, 1, 0] += az
    out[:, 0, 2] += ay
    out[:, 2, 0] -= ay
    out[:, 1, 2] -= ax
    out[:, 2, 1] += ax
    return out


def _single_so3_exp(rotvec: np.ndarray) -> np.ndarray:
    """One rotation vector to a rotation matrix (Rodrigues; Taylor terms near zero)."""
    x, y, z = rotvec.tolist()
    angle_sq = x * x + y * y + z * z
    if angle_sq < 1e-12:
        a, b = 1.0 - angle_sq / 6.0, 0.5 - angle_sq / 24.0
    else:
        angle = math.sqrt(angle_sq)
        a, b = math.sin(angle) / angle, (1.0 - math.cos(angle)) / angle_sq
    return np.array([
        [1.0 - b * (y * y + z * z), b * x * y - a * z, b * x * z + a * y],
        [b * x * y + a * z, 1.0 - b * (x * x + z * z), b * y * z - a * x],
        [b * x * z - a * y, b * y * z + a * x, 1.0 - b * (x * x + y * y)]])


def so3_exp(rotvec: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, rad) to rotation matrix. Shape: (..., 3) -> (..., 3, 3)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    if rotvec.size == 3:
        return _single_so3_exp(rotvec.reshape(3)).reshape(rotvec.shape[:-1] + (3, 3))
    return _batch_so3_exp(rotvec.reshape(-1, 3)).reshape(rotvec.shape[:-1] + (3, 3))


def so3_log(matrix: np.ndarray) -> np.ndarray:
    """Rotation matrix to rotation vector (rad). Shape: (..., 3, 3) -> (..., 3)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.size == 9:
        return _single_so3_log(matrix.reshape(3, 3)).reshape(matrix.shape[:-2] + (3,))
    return _batch_so3_log(matrix.reshape(-1, 3, 3)).reshape(matrix.shape[:-2] + (3,))


def nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation matrix nearest to a (3, 3) matrix (SVD), so round-off never accumulates over long runs."""
    left, _, right = np.linalg.svd(matrix)
    return left @ np.diag([1.0, 1.0, np.linalg.det(left @ right)]) @ right


def hat(vector: np.ndarray) -> np.ndarray:
    """Skew-symmetric matrix of a 3-vector. Shape: (..., 3) -> (..., 3, 3)."""
    vector = np.asarray(vector, dtype=np.float64)
    x, y, z = np.moveaxis(vector, -1, 0)
    zero = np.zeros_like(x)
    return np.stack([
        np.stack([zero, -z, y], axis=-1),
        np.stack([z, zero, -x], axis=-1),
        np.stack([-y, x, zero], axis=-1),
    ], axis=-2)


def vee(matrix: np.ndarray) -> np.ndarray:
    """Inverse of ``hat``. Shape: (..., 3, 3) -> (..., 3)."""
    return np.stack([matrix[..., 2, 1], matrix[..., 0, 2], matrix[..., 1, 0]], axis=-1)


def se3_from_rotation_translation(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Homogeneous 4x4 transforms. Shape: (..., 3, 3), (..., 3) -> (..., 4, 4)."""
    rotation = np.asarray(rotation, dtype=np.float64)
    batch = rotation.shape[:-2]
    transform = np.zeros(batch + (4, 4))
    transform[..., :3, :3] = rotation
    transform[..., :3, 3] = translation
    transform[..., 3, 3] = 1.0
    return transform


def se3_from_pose(positions_xyz: np.ndarray, quats_wxyz: np.ndarray) -> np.ndarray:
    """Homogeneous transforms from positions and wxyz quaternions. Shape: (..., 3), (..., 4) -> (..., 4, 4)."""
    return se3_from_rotation_translation(quat_wxyz_to_matrix(quats_wxyz), positions_xyz)


def se3_inverse(transform: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms. Shape: (..., 4, 4) -> (..., 4, 4)."""
    rotation_t = np.swapaxes(transform[..., :3, :3], -1, -2)
    translation = -np.einsum("...ij,...j->...i", rotation_t, transform[..., :3, 3])
    return se3_from_rotation_translation(rotation_t, translation)


def rotation_angle_deg(matrix: np.ndarray) -> np.ndarray:
    """Angle of rotation matrices in degrees, robust near 0 and 180. Shape: (..., 3, 3) -> (...)."""
    return np.degrees(np.linalg.norm(so3_log(matrix), axis=-1))
