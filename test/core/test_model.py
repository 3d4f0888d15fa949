"""The networks: size budget, streaming == whole-sequence forward, fusion gate initialisation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.model.encoders import flow_summary
from arvr_hybrid_vio.core.model.fusion import MotionAwareFusion
from arvr_hybrid_vio.core.model.inputs import INERTIAL_DIM, hard_rule_weights
from arvr_hybrid_vio.core.model.model_config import FAMILIES, ModelConfig
from arvr_hybrid_vio.core.model.network import VioNetwork, parameter_count
from arvr_hybrid_vio.core.model.visual_tracks import TRACK_CHANNELS
from arvr_hybrid_vio.core.training.data import visual_velocity_init
from arvr_hybrid_vio.core.training.sequences import SequenceArrays


def random_inputs(batch: int, steps: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    tracks = torch.randn(batch, steps, 64, TRACK_CHANNELS, generator=generator)
    tracks[..., 5] = (torch.rand(batch, steps, 64, generator=generator) > 0.3).float()
    inertial = torch.randn(batch, steps, INERTIAL_DIM, generator=generator)
    context = torch.rand(batch, steps, 3, generator=generator) * 3.0
    return tracks, inertial, context


def perturbed_network(family: str, **options: bool) -> VioNetwork:
    """A network whose zero-initialised heads (and visual velocity path) are randomised, so outputs
    depend on every stream."""
    torch.manual_seed(1)
    network = VioNetwork(ModelConfig(family=family, **options)).eval()
    zero_initialised = [network.head] + ([network.visual_velocity] if network.visual_velocity is not None else [])
    for module in zero_initialised:
        for parameter in module.parameters():
            torch.nn.init.normal_(parameter, std=0.1)
    return network


def test_hybrid_parameter_count_is_within_budget() -> None:
    counts = {family: parameter_count(VioNetwork(ModelConfig(family=family))) for family in FAMILIES}
    assert counts["hybrid"] <= 10_000_000
    assert counts["hybrid"] > counts["multihead"] > counts["lstm"]


@pytest.mark.parametrize("family,summary,visual_velocity", [(family, False, False) for family in FAMILIES]
                         + [("hybrid", True, False), ("hybrid", True, True), ("multihead", True, True)])
def test_streaming_steps_and_chunks_equal_the_whole_sequence_forward(family: str, summary: bool,
                                                                     visual_velocity: bool) -> None:
    network = perturbed_network(family, track_summary=summary, visual_velocity=visual_velocity)
    tracks, inertial, context = random_inputs(2, 80)  # longer than the Transformer window (32), twice
    with torch.no_grad():
        full = network(tracks, inertial, context)
        state = network.initial_state(2)
        steps = []
        for t in range(80):
            out, state = network.step(tracks[:, t], inertial[:, t], context[:, t], state)
            steps.append(out)
        state, chunks = network.initial_state(2), []
        for start, end in ((0, 5), (5, 6), (6, 45), (45, 80)):  # chunks shorter and longer than the window
            out, state = network.run(tracks[:, start:end], inertial[:, start:end], context[:, start:end], state)
            chunks.append(out)
    for index in range(4):
        streamed = torch.stack([s[index] for s in steps], dim=1)
        torch.testing.assert_close(streamed, full[index], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(torch.cat([c[index] for c in chunks], dim=1), full[index], atol=1e-5, rtol=1e-5)
    if family == "hybrid":
        torch.testing.assert_close(torch.stack([s.weights for s in steps], 1), full.weights, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(torch.cat([c.weights for c in chunks], 1), full.weights, atol=1e-6, rtol=1e-6)


def test_flow_summary_is_the_median_of_the_valid_tracks_only() -> None:
    tracks = torch.zeros(2, 5, TRACK_CHANNELS)
    tracks[0, :, 0:4] = torch.tensor([[0.1, 0.2, 1.0, -1.0], [0.0, 0.0, 2.0, -2.0], [0.3, -0.1, 3.0, -3.0],
                                      [0.0, 0.0, 50.0, 50.0], [0.0, 0.0, -9.0, 9.0]])
    tracks[0, :3, 5] = 1.0  # the outlier tracks 3 and 4 are invalid
    summary = flow_summary(tracks)
    radial = torch.tensor([0.1 * 1.0 - 0.2, 0.0, 0.3 * 3.0 + 0.1 * 3.0]).median()
    torch.testing.assert_close(summary[0], torch.stack([torch.tensor(2.0), torch.tensor(-2.0), radial]))
    torch.testing.assert_close(summary[1], torch.zeros(3))  # no valid track: zeros, not NaN


def test_flow_summary_equals_torch_nanmedian_of_the_valid_entries() -> None:
    """The sort-and-gather median (exportable to ONNX) is torch.nanmedian's, lower middle of even counts
    included, over every track count, validity pattern and NaN in a valid track."""
    generator = torch.Generator().manual_seed(3)
    for trial in range(300):
        count = int(torch.randint(1, 70, (1,), generator=generator))
        tracks = torch.randn(2, 4, count, TRACK_CHANNELS, generator=generator)
        tracks[..., 5] = (torch.rand(2, 4, count, generator=generator) < trial / 300).float()
        if trial % 3 == 0:
            tracks[0, 1, ::2, 2] = float("nan")
        x, y, dx, dy = (tracks[..., c] for c in range(4))
        values = torch.stack([dx, dy, x * dx + y * dy], dim=-2)
        masked = torch.where(tracks[..., 5].unsqueeze(-2) > 0, values, torch.full_like(values, float("nan")))
        expected = torch.nan_to_num(torch.nanmedian(masked, dim=-1).values, nan=0.0)
        assert torch.equal(flow_summary(tracks), expected), trial


def test_track_summary_carries_the_flow_when_the_pointnet_is_blind() -> None:
    assert not ModelConfig().track_summary  # model files written before the option load unchanged
    tracks, inertial, context = random_inputs(1, 6)
    shifted = tracks.clone()
    shifted[..., 3] += 0.5 * shifted[..., 5]  # move every valid track's dy
    changes = {}
    for summary in (False, True):
        network = perturbed_network("hybrid", track_summary=summary)
        for parameter in network.visual.point_mlp.parameters():
            torch.nn.init.zeros_(parameter)  # per-track features are all zero: the PointNet sees no flow
        with torch.no_grad():
            changes[summary] = float((network(shifted, inertial, context).velocity
                                      - network(tracks, inertial, context).velocity).abs().max())
    assert changes[False] == 0.0 and changes[True] > 1e-4


def test_visual_velocity_needs_the_flow_summary() -> None:
    with pytest.raises(ConfigError, match="track_summary"):
        ModelConfig(visual_velocity=True)


def test_visual_velocity_init_recovers_a_linear_map_across_the_optical_axis() -> None:
    rng = np.random.default_rng(3)
    frames = 300
    tracks = np.zeros((frames, 64, TRACK_CHANNELS), np.float32)
    tracks[..., 0:2] = rng.uniform(-0.8, 0.8, (frames, 64, 2))
    tracks[..., 2:4] = rng.normal(0.0, 1.0, (frames, 1, 2))  # one flow per frame: the medians are known
    tracks[..., 5] = 1.0
    inertial = rng.normal(0.0, 1.0, (frames, INERTIAL_DIM)).astype(np.float32)
    features = np.concatenate([flow_summary(torch.from_numpy(tracks)).numpy(), inertial[:, 0:3]], axis=1)
    true_weight, true_bias = rng.normal(0.0, 0.1, (3, 6)), np.array([0.02, -0.01, 0.03])
    velocity = features @ true_weight.T + true_bias
    dt = np.full(frames, 1.0 / 30.0, np.float32)
    sequence = SequenceArrays("fit", tracks, inertial, np.zeros((frames, 3), np.float32), np.zeros((frames, 3), np.float32),
                              dt, (velocity * dt[:, None]).astype(np.float32), np.tile(np.eye(3, dtype=np.float32), (frames, 1, 1)),
                              np.tile(np.eye(3, dtype=np.float32), (frames, 1, 1)), np.arange(frames, dtype=np.int64))
    stats = {"track_scale": torch.ones(TRACK_CHANNELS), "inertial_mean": torch.zeros(INERTIAL_DIM),
             "inertial_std": torch.ones(INERTIAL_DIM), "velocity_mean": torch.zeros(3), "velocity_std": torch.ones(3)}
    config = ModelConfig(track_summary=True, visual_velocity=True)
    fitted = visual_velocity_init([sequence], stats, config)
    axis = config.optical_axis_imu
    across = np.eye(3) - np.outer(axis, axis)
    np.testing.assert_allclose(fitted["weight"].numpy(), across @ true_weight, atol=1e-4)
    np.testing.assert_allclose(fitted["bias"].numpy(), across @ true_bias, atol=1e-4)
    assert abs(float(axis @ fitted["weight"].numpy().sum(axis=1))) < 1e-5  # nothing along the optical axis


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
