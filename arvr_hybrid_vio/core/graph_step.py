"""An optional CUDA-graph replay of a network's streaming step (batch 1, steady state).

At batch 1 a streaming step is a few hundred tiny kernels, so on a GPU it is bound by
kernel launches. Once the Transformer's key/value cache is full (``window - 1``
tokens) every tensor of the step keeps its shape, so the whole step -- and the copy of
the new state into the state buffers -- can be captured once in a CUDA graph and
replayed with a single launch. ``GraphedStep`` does that; ``compare_with_eager``
checks it against the eager fp32 step on the same inputs and state.

Only for CUDA: on the CPU there is nothing to capture and the eager step is used.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from arvr_hybrid_vio.core.step_shadow import StepShadow
from arvr_hybrid_vio.core.timing import BenchmarkError

LOGGER = logging.getLogger(__name__)
GRAPH_ATOL = 1e-4  # largest |graph - eager| accepted on any output (fp32, same kernels), in output units
_SIDE_STREAM_WARMUP = 3  # eager steps on a side stream before capture, as torch.cuda.graphs asks


def eager_step(network: Any) -> Any:
    """The network class's own ``step`` bound to ``network`` (ignores any instance-level wrapper)."""
    return type(network).step.__get__(network)


def _flatten_state(state: dict[str, tuple[Tensor, ...]]) -> list[Tensor]:
    return [tensor for name in sorted(state) for tensor in state[name]]


def _same_shapes(state_a: dict[str, tuple[Tensor, ...]], state_b: dict[str, tuple[Tensor, ...]]) -> bool:
    shapes_a = [tuple(t.shape) for t in _flatten_state(state_a)]
    return shapes_a == [tuple(t.shape) for t in _flatten_state(state_b)]


class GraphedStep:
    """``network.step`` captured in a CUDA graph; the state lives in static buffers."""

    def __init__(self, network: Any, tracks: Tensor, inertial: Tensor, context: Tensor,
                 state: dict[str, tuple[Tensor, ...]]) -> None:
        """Capture from a steady-state ``state`` (shapes unchanged by a step) on a CUDA device.

        Raises:
            BenchmarkError: not on CUDA, or the state is not yet at its steady shape.
        """
        if tracks.device.type != "cuda":
            raise BenchmarkError(f"CUDA graphs need a CUDA device, the inputs are on {tracks.device}")
        self.network = network
        self._eager = eager_step(network)
        with torch.inference_mode():
            _, probe = self._eager(tracks, inertial, context, state)
        if not _same_shapes(state, probe):
            raise BenchmarkError("CUDA graph: the streaming state still grows (fill the Transformer cache first)")
        with torch.inference_mode():  # every static buffer is an inference tensor, updated in inference mode
            self.inputs = (tracks.clone(), inertial.clone(), context.clone())  # static input buffers
            self.state = {name: tuple(t.clone() for t in tensors) for name, tensors in state.items()}
        self.graph = torch.cuda.CUDAGraph()
        self._capture()

    def _step_and_update(self) -> Any:
        out, new_state = self._eager(*self.inputs, self.state)
        for static, new in zip(_flatten_state(self.state), _flatten_state(new_state)):
            static.copy_(new)  # runs after every read of the old state, in stream order
        return out

    def _capture(self) -> None:
        with torch.inference_mode():
            saved = [t.clone() for t in _flatten_state(self.state)]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(_SIDE_STREAM_WARMUP):
                self._step_and_update()
        torch.cuda.current_stream().wait_stream(side)
        with torch.inference_mode(), torch.cuda.graph(self.graph):
            self.outputs = self._step_and_update()
        self._copy(_flatten_state(self.state), saved)  # undo the warm-up steps: the state is the caller's again
        torch.cuda.synchronize()

    @staticmethod
    def _copy(targets: list[Tensor], values: list[Tensor]) -> None:
        with torch.inference_mode():
            for target, value in zip(targets, values):
                target.copy_(value)

    def load_state(self, state: dict[str, tuple[Tensor, ...]]) -> None:
        """Copy a (steady-shape) state into the static buffers."""
        self._copy(_flatten_state(self.state), _flatten_state(state))

    def step(self, tracks: Tensor, inertial: Tensor, context: Tensor) -> Any:
        """One step: copy the inputs in, replay, return the (static) outputs; the state advances.

        Shape: tracks (1, N, 6), inertial (1, D), context (1, 3) -> NetworkOutput (1, .).
        """
        self._copy(list(self.inputs), [tracks, inertial, context])
        self.graph.replay()
        return self.outputs


@dataclass(frozen=True)
class GraphCheck:
    """How far the graph replay is from the eager step."""

    steps: int  # steps compared
    max_abs_diff: float  # largest |graph - eager| over all outputs and steps
    tolerance: float  # GRAPH_ATOL

    @property
    def ok(self) -> bool:
        """True when every difference is within the tolerance."""
        return self.max_abs_diff <= self.tolerance


def compare_with_eager(network: Any, graphed: GraphedStep, inputs: list[tuple[Tensor, Tensor, Tensor]],
                       state: dict[str, tuple[Tensor, ...]]) -> GraphCheck:
    """Run eager and graphed steps side by side from ``state`` over ``inputs``; the largest difference."""
    graphed.load_state(state)
    worst, step = 0.0, eager_step(network)
    with torch.inference_mode():
        for tracks, inertial, context in inputs:
            eager, state = step(tracks, inertial, context, state)
            replayed = graphed.step(tracks, inertial, context)
            for a, b in zip(eager, replayed):
                if a is not None and b is not None:
                    worst = max(worst, float((a.float() - b.float()).abs().max()))
    return GraphCheck(steps=len(inputs), max_abs_diff=worst, tolerance=GRAPH_ATOL)


class GraphBackedStep(StepShadow):
    """A drop-in for ``network.step`` that replays a CUDA graph once the state is steady.

    ``install`` puts it on a network instance, so the estimator's own code path
    (``LearnedMotion.relative_motion`` calling ``network.step``) runs the graph
    unchanged. Before the cache is full, or after a reset, the eager step runs; the
    graph is captured at the first steady state. The returned outputs are the graph's
    static tensors: read them before the next step (the estimator does).
    """

    def __init__(self, network: Any) -> None:
        super().__init__(network)
        self._eager = eager_step(network)
        self.graphed: GraphedStep | None = None
        self.replays = 0  # steps served by the graph
        self.eager_steps = 0  # steps served eagerly (filling the cache, after resets)
        self.capture_error: str | None = None  # set when capture failed: every later step is eager

    @classmethod
    def install(cls, network: Any) -> GraphBackedStep:
        """Shadow ``network.step`` with a graph-backed step (undo with ``remove``)."""
        backed = cls(network)
        network.step = backed
        return backed

    def __call__(self, tracks: Tensor, inertial: Tensor, context: Tensor,
                 state: dict[str, tuple[Tensor, ...]]) -> tuple[Any, dict[str, tuple[Tensor, ...]]]:
        """Same contract as ``VioNetwork.step`` (batch 1)."""
        if self.graphed is not None and state is self.graphed.state:
            self.replays += 1
            return self.graphed.step(tracks, inertial, context), self.graphed.state
        out, new_state = self._eager(tracks, inertial, context, state)
        self.eager_steps += 1
        if self.capture_error is not None or not _same_shapes(state, new_state) or tracks.device.type != "cuda":
            return out, new_state
        if self.graphed is None:
            try:
                self.graphed = GraphedStep(self.network, tracks, inertial, context, new_state)
            except RuntimeError as exc:  # capture unsupported by a kernel or driver: stay eager, say so once
                self.capture_error = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
                LOGGER.warning("CUDA graph capture failed, the network steps eagerly: %s", self.capture_error)
                return out, new_state
        else:
            self.graphed.load_state(new_state)
        return out, self.graphed.state
