"""Token encoders: feature tracks -> 512-d visual token, inertial vector -> 256-d inertial token.

Both take already-normalised inputs (the network holds the normalisation
statistics as buffers) and work per frame, so they stream trivially.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from arvr_hybrid_vio.core.model.visual_tracks import TRACK_CHANNELS


class TrackEncoder(nn.Module):
    """PointNet over a frame pair's feature tracks: shared per-track MLP, masked max and mean pooling."""

    def __init__(self, out_dim: int, point_dim: int = 128) -> None:
        super().__init__()
        self.point_mlp = nn.Sequential(nn.Linear(TRACK_CHANNELS, 64), nn.GELU(), nn.Linear(64, point_dim), nn.GELU())
        self.head = nn.Sequential(nn.Linear(2 * point_dim + 1, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, tracks: Tensor) -> Tensor:
        """Shape: (..., N, TRACK_CHANNELS) with channel 5 = valid -> (..., out_dim)."""
        valid = tracks[..., 5:6]  # (..., N, 1)
        points = self.point_mlp(tracks) * valid  # (..., N, point_dim)
        count = valid.sum(dim=-2)  # (..., 1)
        mean = points.sum(dim=-2) / count.clamp(min=1.0)
        maximum = (points - 1e4 * (1.0 - valid)).amax(dim=-2) * (count > 0)
        return self.head(torch.cat([maximum, mean, count / tracks.shape[-2]], dim=-1))


class InertialEncoder(nn.Module):
    """MLP over the per-frame inertial vector (preintegration, resampled IMU, gravity direction)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim), nn.GELU(),
                                 nn.Linear(out_dim, out_dim))

    def forward(self, inertial: Tensor) -> Tensor:
        """Shape: (..., in_dim) -> (..., out_dim)."""
        return self.mlp(inertial)
