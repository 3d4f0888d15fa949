"""Training losses: scale-aware translation (per interval and window-integrated), geodesic rotation, Gaussian NLL."""
from __future__ import annotations

import torch
from torch import Tensor

ROTATION_UNIT_RAD = 1.0e-3  # rotation errors are divided by this so the loss is O(1)


def hat(vectors: Tensor) -> Tensor:
    """Skew matrices. Shape: (..., 3) -> (..., 3, 3)."""
    x, y, z = vectors.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(vectors.shape + (3,))


def so3_exp(rotvec: Tensor) -> Tensor:
    """Rodrigues' formula, series-expanded near zero. Shape: (..., 3) -> (..., 3, 3)."""
    angle_sq = (rotvec * rotvec).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    angle = angle_sq.clamp(min=1e-12).sqrt()
    small = angle_sq < 1e-8
    a = torch.where(small, 1.0 - angle_sq / 6.0, torch.sin(angle) / angle)
    b = torch.where(small, 0.5 - angle_sq / 24.0, (1.0 - torch.cos(angle)) / angle_sq.clamp(min=1e-12))
    skew = hat(rotvec)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(skew)
    return eye + a * skew + b * (skew @ skew)


def geodesic_angle(rotation: Tensor) -> Tensor:
    """Rotation angle (rad), stable near 0 and pi. Shape: (..., 3, 3) -> (...)."""
    skew = rotation - rotation.transpose(-1, -2)
    sin_part = 0.5 * torch.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], -1).norm(dim=-1)
    cos_part = 0.5 * (rotation.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0)
    return torch.atan2(sin_part + 1e-12, cos_part)


def translation_loss(error: Tensor, target: Tensor, *, offset_m: float) -> Tensor:
    """Scale-aware translation loss ``|e| / (|dp| + c)``: relative for large motions, absolute / c for small.

    Shape: (..., 3), (..., 3) -> ().
    """
    return (error.norm(dim=-1) / (target.norm(dim=-1) + offset_m)).mean()


def integrated_translation_loss(predicted_dp: Tensor, target_dp: Tensor, true_rotation: Tensor, *,
                                offset_m: float) -> Tensor:
    """Scale-aware loss on the displacement accumulated from each window's start, ``|E_j| / (|P_j| + c)``.

    Per-interval displacements are expressed in the body frame at each interval's start; both the
    predicted and the true ones are chained into the window's first body frame with the true
    rotations, so a velocity bias that costs little per frame (slow motion) grows with the window,
    as it does in the trajectory (ATE, RPE, drift).
    Shape: (B, T, 3), (B, T, 3), (B, T, 3, 3) -> ().
    """
    frame = torch.eye(3, dtype=predicted_dp.dtype, device=predicted_dp.device).expand(predicted_dp.shape[0], 3, 3)
    predicted_sum = torch.zeros_like(predicted_dp[:, 0])
    target_sum = torch.zeros_like(target_dp[:, 0])
    losses = []
    for step in range(predicted_dp.shape[1]):
        predicted_sum = predicted_sum + (frame @ predicted_dp[:, step, :, None])[..., 0]
        target_sum = target_sum + (frame @ target_dp[:, step, :, None])[..., 0]
        losses.append((predicted_sum - target_sum).norm(dim=-1) / (target_sum.norm(dim=-1) + offset_m))
        frame = frame @ true_rotation[:, step]
    return torch.stack(losses, dim=1).mean()


def rotation_loss(dtheta: Tensor, rot_error: Tensor) -> tuple[Tensor, Tensor]:
    """Geodesic angle between the corrected and the true rotation, and the residual rotation vector.

    ``rot_error`` is ``R_gyro^T R_true``; the prediction is ``R_gyro exp(dtheta)``.
    Shape: (..., 3), (..., 3, 3) -> loss (), residual (..., 3) rad.
    """
    residual_rotation = so3_exp(-dtheta) @ rot_error
    angle = geodesic_angle(residual_rotation)
    skew = residual_rotation - residual_rotation.transpose(-1, -2)
    residual = 0.5 * torch.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], -1)
    return angle.mean() / ROTATION_UNIT_RAD, residual


def gaussian_nll(error: Tensor, logvar: Tensor) -> Tensor:
    """Gaussian NLL of (detached) errors under diagonal log-variances. Shape: (..., 3), (..., 3) -> ()."""
    error = error.detach()
    return 0.5 * (error * error * torch.exp(-logvar) + logvar).mean()
