"""Token encoders: feature tracks -> 512-d visual token, inertial vector -> 256-d inertial token.

Both take already-normalised inputs (the network holds the normalisation
statistics as buffers) and work per frame, so they stream trivially.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from arvr_hybrid_vio.core.model.visual_tracks import TRACK_CHANNELS


FLOW_SUMMARY_DIM = 3  # median dx, median dy, median radial flow x*dx + y*dy of the valid tracks


def flow_summary(tracks: Tensor) -> Tensor:
    """Robust flow statistics of the valid tracks: medians of dx, dy and x*dx + y*dy (0 without tracks).

    With derotated tracks these are the translational flow's mean direction and its expansion,
    which a linear fit maps to the camera's translation (the README's probe).
    The median is ``torch.nanmedian``'s over the valid, finite-or-inf entries (the lower middle value
    of an even count), written as a sort and a gather so that the network exports to ONNX
    (``core.model.onnx_export``; no ONNX function exists for ``nanmedian``); the tests check they agree.
    Shape: (..., N, TRACK_CHANNELS) -> (..., FLOW_SUMMARY_DIM).
    """
    x, y, dx, dy = tracks[..., 0], tracks[..., 1], tracks[..., 2], tracks[..., 3]
    values = torch.stack([dx, dy, x * dx + y * dy], dim=-2)  # (..., 3, N)
    kept = (tracks[..., 5].unsqueeze(-2) > 0) & ~torch.isnan(values)  # (..., 3, N)
    ordered = torch.where(kept, values, torch.full_like(values, float("inf"))).sort(dim=-1).values
    count = kept.sum(dim=-1, keepdim=True)  # (..., 3, 1)
    middle = ordered.gather(-1, (count - 1).clamp(min=0) // 2)  # (..., 3, 1)
    return torch.where(count > 0, middle, torch.zeros_like(middle)).squeeze(-1)


class TrackEncoder(nn.Module):
    """PointNet over a frame pair's feature tracks: shared per-track MLP, masked max and mean pooling,
    and optionally the robust flow summary (``flow_summary``) beside the pooled features."""

    def __init__(self, out_dim: int, point_dim: int = 128, *, summary: bool = False) -> None:
        super().__init__()
        extra = FLOW_SUMMARY_DIM if summary else 0
        self.point_mlp = nn.Sequential(nn.Linear(TRACK_CHANNELS, 64), nn.GELU(), nn.Linear(64, point_dim), nn.GELU())
        self.head = nn.Sequential(nn.Linear(2 * point_dim + 1 + extra, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, tracks: Tensor, summary: Tensor | None = None) -> Tensor:
        """Shape: (..., N, TRACK_CHANNELS) with channel 5 = valid [, (..., FLOW_SUMMARY_DIM)] -> (..., out_dim).

        ``summary`` (``flow_summary(tracks)``) is given exactly when the encoder was built with ``summary=True``.
        """
        valid = tracks[..., 5:6]  # (..., N, 1)
        points = self.point_mlp(tracks) * valid  # (..., N, point_dim)
        count = valid.sum(dim=-2)  # (..., 1)
        mean = points.sum(dim=-2) / count.clamp(min=1.0)
        maximum = (points - 1e4 * (1.0 - valid)).amax(dim=-2) * (count > 0)
        pooled = [maximum, mean, count / tracks.shape[-2]] + ([] if summary is None else [summary])
        return self.head(torch.cat(pooled, dim=-1))


class InertialEncoder(nn.Module):
    """MLP over the per-frame inertial vector (preintegration, resampled IMU, gravity direction)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim), nn.GELU(),
                                 nn.Linear(out_dim, out_dim))

    def forward(self, inertial: Tensor) -> Tensor:
        """Shape: (..., in_dim) -> (..., out_dim)."""
        return self.mlp(inertial)
