"""Motion-aware fusion of the three streams (LSTM, Transformer, multi-scale convolution).

The seed's rule weights the streams by a motion magnitude ``m``::

    m < 0.5 -> [0.6, 0.3, 0.1];   m < 2.0 -> [0.4, 0.4, 0.2];   else -> [0.2, 0.5, 0.3]

``MotionAwareFusion(mode="learned")`` is a smooth, trainable version of it: two
sigmoid steps at learnable thresholds with a learnable temperature blend three
learnable weight anchors, and a small MLP on the motion context adds a residual
to the log-weights. Its last layer starts at zero, the anchors at the rule's
weights and the temperature sharp, so at initialisation it reproduces the rule
(exactly away from the thresholds). ``mode="hard"`` is the rule itself (ablation).

The motion context per frame is ``(m, mean |gyro|, mean | |accel| - g |)``; ``m`` is
the sum of the last two (rad/s + m/s^2), see ``inputs.inertial_inputs``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from arvr_hybrid_vio.core.model.inputs import HARD_RULE_THRESHOLDS

RULE_WEIGHTS = ((0.6, 0.3, 0.1), (0.4, 0.4, 0.2), (0.2, 0.5, 0.3))
CONTEXT_DIM = 3


class MotionAwareFusion(nn.Module):
    """Weights three stream outputs from the motion context; exposes the weights it used."""

    def __init__(self, *, mode: str = "learned", init_temperature: float = 0.02) -> None:
        super().__init__()
        self.mode = mode
        self.anchor_logits = nn.Parameter(torch.log(torch.tensor(RULE_WEIGHTS)))  # (3 regimes, 3 streams)
        self.thresholds = nn.Parameter(torch.tensor(HARD_RULE_THRESHOLDS))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(init_temperature)))
        self.residual = nn.Sequential(nn.Linear(CONTEXT_DIM, 16), nn.Tanh(), nn.Linear(16, 3))
        nn.init.zeros_(self.residual[2].weight)
        nn.init.zeros_(self.residual[2].bias)

    def weights(self, context: Tensor) -> Tensor:
        """Stream weights, positive and summing to one. Shape: (..., CONTEXT_DIM) -> (..., 3)."""
        magnitude = context[..., :1]
        if self.mode == "hard":
            rule = torch.tensor(RULE_WEIGHTS, device=context.device)
            regime = (magnitude >= HARD_RULE_THRESHOLDS[0]).long() + (magnitude >= HARD_RULE_THRESHOLDS[1]).long()
            return rule[regime[..., 0]]
        temperature = self.log_temperature.exp()
        step_slow = torch.sigmoid((magnitude - self.thresholds[0]) / temperature)  # (..., 1)
        step_fast = torch.sigmoid((magnitude - self.thresholds[1]) / temperature)
        anchors = torch.softmax(self.anchor_logits, dim=-1)  # (3, 3)
        blended = (1 - step_slow) * anchors[0] + (step_slow - step_fast).clamp(min=0) * anchors[1] \
            + step_fast * anchors[2]
        logits = torch.log(blended.clamp(min=1e-6)) + self.residual(_scaled(context))
        return torch.softmax(logits, dim=-1)

    def forward(self, streams: tuple[Tensor, Tensor, Tensor], context: Tensor) -> tuple[Tensor, Tensor]:
        """Weighted sum of the streams and the weights used.

        Shape: 3 x (..., W), context (..., CONTEXT_DIM) -> (..., W), (..., 3).
        """
        weights = self.weights(context)
        fused = sum(weights[..., index:index + 1] * stream for index, stream in enumerate(streams))
        return fused, weights


def _scaled(context: Tensor) -> Tensor:
    """log1p of the (non-negative) context, for the residual MLP. Shape: (..., C) -> (..., C)."""
    return torch.log1p(context.clamp(min=0.0))
