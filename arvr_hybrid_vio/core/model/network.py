"""The VIO networks: the hybrid (Strategy #6) and its baselines, in one class.

Per frame a 768-d token = visual token (512, PointNet over feature tracks) +
inertial token (256). Families:

* ``hybrid``: LSTM + causal Transformer + multi-scale convolution streams, motion-aware
  fusion, specialised rotation and translation heads;
* ``multihead``: the same encoders, one LSTM stream, the specialised heads (the seed's
  "current champion");
* ``lstm``: the LSTM stream and one joint head;
* ``transformer``: the Transformer stream and one joint head.

Heads predict, per frame interval, the body-frame velocity at its start, a small
rotation correction of the gyro preintegration, and log-variances of both
(see ``inputs`` for how they become motion). ``forward`` runs a whole sequence,
``run`` a chunk of frames continuing a cached state, ``step`` one frame with a cached
state; all three give the same numbers.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from arvr_hybrid_vio.core.model.encoders import FLOW_SUMMARY_DIM, InertialEncoder, TrackEncoder, flow_summary
from arvr_hybrid_vio.core.model.fusion import MotionAwareFusion
from arvr_hybrid_vio.core.model.inputs import INERTIAL_DIM
from arvr_hybrid_vio.core.model.model_config import FAMILIES, ModelConfig
from arvr_hybrid_vio.core.model.streams import CausalTransformerStream, LstmStream, MultiScaleConvStream
from arvr_hybrid_vio.core.model.visual_tracks import TRACK_CHANNELS

TRANSLATION_LOGVAR_OFFSET = 2.0 * math.log(0.01)  # raw 0 -> 1 cm std per frame
ROTATION_LOGVAR_OFFSET = 2.0 * math.log(0.002)  # raw 0 -> 2 mrad std per frame


class NetworkOutput(NamedTuple):
    """Decoded predictions per frame interval (leading dims (B, T) or (B,))."""

    velocity: Tensor  # (..., 3) body-frame velocity at the interval start, m/s
    dtheta: Tensor  # (..., 3) rotation correction after the gyro preintegration, rad
    translation_logvar: Tensor  # (..., 3) log variance of the displacement error, log m^2
    rotation_logvar: Tensor  # (..., 3) log variance of the rotation error, log rad^2
    weights: Tensor | None  # (..., 3) fusion weights (hybrid), else None


class SpecialisedHeads(nn.Module):
    """Separate rotation and translation MLPs, each predicting a value and a log-variance."""

    def __init__(self, in_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.rotation = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, 6))
        self.translation = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden),
                                         nn.GELU(), nn.Linear(hidden, 6))
        for last in (self.rotation[-1], self.translation[-1]):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, features: Tensor) -> Tensor:
        """Shape: (..., in_dim) -> (..., 12) = velocity, dtheta, translation logvar, rotation logvar."""
        rot, trans = self.rotation(features), self.translation(features)
        return torch.cat([trans[..., :3], rot[..., :3], trans[..., 3:], rot[..., 3:]], dim=-1)


class JointHead(nn.Module):
    """One MLP for all outputs (the LSTM-only and Transformer-only baselines)."""

    def __init__(self, in_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, 12))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, features: Tensor) -> Tensor:
        """Shape: (..., in_dim) -> (..., 12)."""
        return self.mlp(features)


class VioNetwork(nn.Module):
    """Encoders, temporal stream(s), fusion and heads of one family; see the module docstring."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.visual = TrackEncoder(config.visual_dim, summary=config.track_summary)
        self.inertial = InertialEncoder(INERTIAL_DIM, config.inertial_dim)
        self.streams = nn.ModuleDict(_build_streams(config))
        self.fusion = MotionAwareFusion(mode=config.fusion) if config.family == "hybrid" else None
        head_in = config.width + config.inertial_dim + (FLOW_SUMMARY_DIM if config.track_summary else 0)
        self.head = SpecialisedHeads(head_in) if config.family in ("hybrid", "multihead") else JointHead(head_in)
        # [flow summary, normalised mean angular rate] -> normalised velocity (zero until initialised)
        self.visual_velocity = nn.Linear(FLOW_SUMMARY_DIM + 3, 3) if config.visual_velocity else None
        if self.visual_velocity is not None:
            nn.init.zeros_(self.visual_velocity.weight)
            nn.init.zeros_(self.visual_velocity.bias)
        self.register_buffer("inertial_mean", torch.zeros(INERTIAL_DIM))
        self.register_buffer("inertial_std", torch.ones(INERTIAL_DIM))
        self.register_buffer("track_scale", torch.ones(TRACK_CHANNELS))
        self.register_buffer("velocity_mean", torch.zeros(3))
        self.register_buffer("velocity_std", torch.ones(3))
        self.register_buffer("rotation_scale", torch.tensor(1e-3))

    def _tokens(self, tracks: Tensor, inertial: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Tokens, what the heads see of the frame directly besides the fused streams, and the
        visual velocity prior.

        Shape: (..., N, 6), (..., D) -> tokens (..., 768), head skip (..., 256 [+ FLOW_SUMMARY_DIM]):
        the inertial token, and the flow summary when ``track_summary``; prior (..., 3) in
        normalised velocity units when ``visual_velocity``, else None.
        """
        normalised = (inertial - self.inertial_mean) / self.inertial_std
        inertial_token = self.inertial(normalised)
        scaled = tracks * self.track_scale
        if not self.config.track_summary:
            return torch.cat([self.visual(scaled), inertial_token], dim=-1), inertial_token, None
        summary = flow_summary(scaled)
        visual_token = self.visual(scaled, summary)
        prior = None
        if self.visual_velocity is not None:
            prior = self.visual_velocity(torch.cat([summary, normalised[..., 0:3]], dim=-1))
        return (torch.cat([visual_token, inertial_token], dim=-1), torch.cat([inertial_token, summary], dim=-1),
                prior)

    def _decode(self, raw: Tensor, weights: Tensor | None, prior: Tensor | None) -> NetworkOutput:
        """Shape: (..., 12), (..., 3) or None, (..., 3) or None -> NetworkOutput with the same leading dims."""
        velocity = raw[..., 0:3] if prior is None else raw[..., 0:3] + prior
        return NetworkOutput(
            velocity=self.velocity_mean + self.velocity_std * velocity,
            dtheta=self.rotation_scale * raw[..., 3:6],
            translation_logvar=(raw[..., 6:9] + TRANSLATION_LOGVAR_OFFSET).clamp(-30.0, 5.0),
            rotation_logvar=(raw[..., 9:12] + ROTATION_LOGVAR_OFFSET).clamp(-30.0, 5.0),
            weights=weights)

    def _fuse(self, outputs: list[Tensor], context: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.fusion is None:
            return outputs[0], None
        return self.fusion((outputs[0], outputs[1], outputs[2]), context)

    def forward(self, tracks: Tensor, inertial: Tensor, context: Tensor) -> NetworkOutput:
        """Whole sequences.

        Shape: tracks (B, T, N, 6), inertial (B, T, INERTIAL_DIM), context (B, T, 3) -> NetworkOutput (B, T, .).
        """
        tokens, skip, prior = self._tokens(tracks, inertial)  # (B, T, 768), (B, T, 256 [+ 3]), (B, T, 3)
        fused, weights = self._fuse([stream(tokens) for stream in self.streams.values()], context)
        return self._decode(self.head(torch.cat([fused, skip], dim=-1)), weights, prior)

    def run(self, tracks: Tensor, inertial: Tensor, context: Tensor,
            state: dict[str, tuple[Tensor, ...]]) -> tuple[NetworkOutput, dict[str, tuple[Tensor, ...]]]:
        """A chunk of T frames that continues a cached state (T frames of ``step`` in one pass: the
        weights are read once per chunk, not once per frame).

        Shape: tracks (B, T, N, 6), inertial (B, T, INERTIAL_DIM), context (B, T, 3) -> NetworkOutput (B, T, .).
        """
        return self._continue(tracks, inertial, context, state, "run")

    def initial_state(self, batch: int = 1, device: torch.device | str = "cpu") -> dict[str, tuple[Tensor, ...]]:
        """Empty streaming state of every stream."""
        device = torch.device(device)
        return {name: stream.initial_state(batch, device) for name, stream in self.streams.items()}

    def step(self, tracks: Tensor, inertial: Tensor, context: Tensor,
             state: dict[str, tuple[Tensor, ...]]) -> tuple[NetworkOutput, dict[str, tuple[Tensor, ...]]]:
        """One frame per batch element with cached state.

        Shape: tracks (B, N, 6), inertial (B, INERTIAL_DIM), context (B, 3) -> NetworkOutput (B, .).
        """
        return self._continue(tracks, inertial, context, state, "step")

    def _continue(self, tracks: Tensor, inertial: Tensor, context: Tensor, state: dict[str, tuple[Tensor, ...]],
                  method: str) -> tuple[NetworkOutput, dict[str, tuple[Tensor, ...]]]:
        """Tokens, each stream's ``method`` from ``state`` ("run": a chunk (B, T, .), "step": one frame
        (B, .)), fusion and heads."""
        tokens, skip, prior = self._tokens(tracks, inertial)  # (..., 768), (..., 256 [+ 3]), (..., 3)
        outputs, new_state = [], {}
        for name, stream in self.streams.items():
            out, new_state[name] = getattr(stream, method)(tokens, state[name])
            outputs.append(out)
        fused, weights = self._fuse(outputs, context)
        return self._decode(self.head(torch.cat([fused, skip], dim=-1)), weights, prior), new_state


def _build_streams(config: ModelConfig) -> dict[str, nn.Module]:
    """The temporal streams of a family, in fusion order (LSTM, Transformer, multi-scale)."""
    if config.family not in FAMILIES:
        raise ValueError(f"unknown model family {config.family!r}; known: {FAMILIES}")
    streams: dict[str, nn.Module] = {}
    if config.family in ("hybrid", "multihead", "lstm"):
        streams["lstm"] = LstmStream(config.token_dim, config.width, config.lstm_layers, config.dropout)
    if config.family in ("hybrid", "transformer"):
        streams["transformer"] = CausalTransformerStream(config.token_dim, config.width, config.transformer_layers,
                                                         config.heads, config.window, config.ffn, config.dropout)
    if config.family == "hybrid":
        streams["multiscale"] = MultiScaleConvStream(config.token_dim, config.width, config.conv_kernels,
                                                     config.conv_branch)
    return streams


def parameter_count(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
