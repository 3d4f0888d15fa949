"""The networks: size budget, streaming == whole-sequence forward, fusion gate initialisation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from arvr_hybrid_vio.core.model.fusion import MotionAwareFusion
from arvr_hybrid_vio.core.model.inputs import INERTIAL_DIM, hard_rule_weights
from arvr_hybrid_vio.core.model.network import FAMILIES, ModelConfig, VioNetwork, parameter_count
from arvr_hybrid_vio.core.model.visual_tracks import TRACK_CHANNELS


def random_inputs(batch: int, steps: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    tracks = torch.randn(batch, steps, 64, TRACK_CHANNELS, generator=generator)
    tracks[..., 5] = (torch.rand(batch, steps, 64, generator=generator) > 0.3).float()
    inertial = torch.randn(batch, steps, INERTIAL_DIM, generator=generator)
    context = torch.rand(batch, steps, 3, generator=generator) * 3.0
    return tracks, inertial, context


def perturbed_network(family: str) -> VioNetwork:
    """A network whose zero-initialised heads are randomised, so outputs depend on every stream."""
    torch.manual_seed(1)
    network = VioNetwork(ModelConfig(family=family)).eval()
    for parameter in network.head.parameters():
        torch.nn.init.normal_(parameter, std=0.1)
    return network


def test_hybrid_parameter_count_is_within_budget() -> None:
    counts = {family: parameter_count(VioNetwork(ModelConfig(family=family))) for family in FAMILIES}
    assert counts["hybrid"] <= 10_000_000
    assert counts["hybrid"] > counts["multihead"] > counts["lstm"]


@pytest.mark.parametrize("family", FAMILIES)
def test_streaming_steps_equal_the_whole_sequence_forward(family: str) -> None:
    network = perturbed_network(family)
    tracks, inertial, context = random_inputs(2, 40)  # longer than the Transformer window (32)
    with torch.no_grad():
        full = network(tracks, inertial, context)
        state = network.initial_state(2)
        steps = []
        for t in range(40):
            out, state = network.step(tracks[:, t], inertial[:, t], context[:, t], state)
            steps.append(out)
    for index in range(4):
        streamed = torch.stack([s[index] for s in steps], dim=1)
        torch.testing.assert_close(streamed, full[index], atol=1e-5, rtol=1e-5)
    if family == "hybrid":
        torch.testing.assert_close(torch.stack([s.weights for s in steps], 1), full.weights, atol=1e-6, rtol=1e-6)


def test_transformer_context_is_bounded() -> None:
    """Each of the 3 layers attends to the last 32 tokens: a token's influence ends 3 * 31 steps later."""
    network = perturbed_network("transformer")
    tracks, inertial, context = random_inputs(1, 100)
    changed = inertial.clone()
    changed[:, 0] += 5.0
    with torch.no_grad():
        before = network(tracks, inertial, context).velocity
        after = network(tracks, changed, context).velocity
    assert not torch.allclose(before[:, 31], after[:, 31])
    torch.testing.assert_close(before[:, 94:], after[:, 94:])


def test_learned_gate_starts_as_the_seed_rule() -> None:
    magnitudes = torch.tensor([0.0, 0.3, 0.7, 1.2, 1.8, 2.2, 4.0, 9.0])
    context = torch.stack([magnitudes, magnitudes / 2, magnitudes / 2], dim=-1)
    rule = torch.tensor(hard_rule_weights(magnitudes.numpy()), dtype=torch.float32)
    learned = MotionAwareFusion(mode="learned").weights(context)
    torch.testing.assert_close(learned, rule, atol=1e-3, rtol=0)
    torch.testing.assert_close(MotionAwareFusion(mode="hard").weights(context), rule)
    assert torch.allclose(learned.sum(-1), torch.ones(len(magnitudes)))


def test_learned_gate_is_smooth_and_trainable() -> None:
    fusion = MotionAwareFusion(mode="learned")
    context = torch.tensor([[0.5, 0.25, 0.25]], requires_grad=True)
    weights = fusion.weights(context)
    weights[0, 0].backward()
    assert context.grad is not None and torch.isfinite(context.grad).all() and context.grad.abs().sum() > 0
    assert all(p.grad is not None for p in (fusion.thresholds, fusion.log_temperature, fusion.anchor_logits))


def test_hard_rule_weights_match_the_seed() -> None:
    np.testing.assert_allclose(hard_rule_weights(np.array([0.1, 0.5, 1.99, 2.0])),
                               [[0.6, 0.3, 0.1], [0.4, 0.4, 0.2], [0.4, 0.4, 0.2], [0.2, 0.5, 0.3]])
