"""core.graph_step on the CPU: no capture there, and the graph-backed step is a transparent drop-in.

The CUDA replay itself is checked against eager fp32 by ``arvr-vio-bench --device cuda``
(``cuda_graph_max_abs_diff``), which needs a GPU.
"""
from __future__ import annotations

import pytest
import torch

from arvr_hybrid_vio.core.graph_step import GraphBackedStep, GraphedStep, eager_step
from arvr_hybrid_vio.core.model.inputs import INERTIAL_DIM
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.network import VioNetwork
from arvr_hybrid_vio.core.timing import BenchmarkError

TINY = ModelConfig(visual_dim=32, inertial_dim=32, width=32, transformer_layers=1, heads=2, window=4, ffn=64,
                   conv_branch=8)


def _inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    tracks = torch.rand(1, 64, 6, generator=generator)
    return tracks, torch.randn(1, INERTIAL_DIM, generator=generator), torch.rand(1, 3, generator=generator)


def test_capture_refuses_cpu() -> None:
    network = VioNetwork(TINY).eval()
    with pytest.raises(BenchmarkError, match="CUDA"):
        GraphedStep(network, *_inputs(0), network.initial_state(1, "cpu"))


def test_graph_backed_step_on_cpu_equals_eager_and_uninstalls() -> None:
    torch.manual_seed(0)
    network = VioNetwork(TINY).eval()
    backed = GraphBackedStep.install(network)
    assert network.step is backed
    state_a = state_b = network.initial_state(1, "cpu")
    with torch.inference_mode():
        for seed in range(2 * TINY.window):
            out_a, state_a = network.step(*_inputs(seed), state_a)
            out_b, state_b = eager_step(network)(*_inputs(seed), state_b)
            assert torch.equal(out_a.velocity, out_b.velocity) and torch.equal(out_a.dtheta, out_b.dtheta)
    assert backed.graphed is None and backed.eager_steps == 2 * TINY.window
    backed.remove()
    assert "step" not in network.__dict__
