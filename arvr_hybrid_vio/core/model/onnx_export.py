"""Export of a network's streaming pass to ONNX, for onnxruntime (``core.model.onnx_network``).

Per model, two graphs with the same weights: one frame (the live ``step``) and
``onnx_network.CHUNK_FRAMES`` frames (offline inference's lookahead, ``VioNetwork.run``). Batch 1 and every shape are fixed
except the Transformer's key/value cache length, which grows from 0 to ``window - 1`` tokens.
The state goes in and comes out as named tensors: ``state.<stream>.<i>`` in, ``next.<stream>.<i>``
out, in the order of ``VioNetwork.initial_state``; the outputs first, named after
``NetworkOutput``'s fields (``weights`` for the hybrid only).

The graphs are traced with the math attention kernel: the CPU flash kernel's output layout lets
the tracer turn the heads' reshape into a view that the ONNX decomposition cannot keep.
Needs torch, ``onnx`` and ``onnxscript`` (the exporter); running the result needs only onnxruntime.
"""
from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from arvr_hybrid_vio.core.model.network import NetworkOutput, VioNetwork, parameter_count
from arvr_hybrid_vio.core.model.onnx_network import EXPORT_VERSION

LOGGER = logging.getLogger(__name__)
OPSET = 18
INPUT_NAMES = ("tracks", "inertial", "context")
_EXPORTER_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx", "torch.export", "torch._export")


def state_names(network: VioNetwork, prefix: str) -> list[str]:
    """``<prefix>.<stream>.<i>`` for every state tensor, in ``initial_state``'s order."""
    return [f"{prefix}.{name}.{index}" for name, tensors in network.initial_state(1).items()
            for index in range(len(tensors))]


def output_names(network: VioNetwork) -> list[str]:
    """The decoded outputs a graph returns (``NetworkOutput``'s fields; ``weights`` for the hybrid)."""
    return [name for name in NetworkOutput._fields if name != "weights" or network.fusion is not None]


class _StreamingPass(nn.Module):
    """``VioNetwork.run`` with its state as flat positional tensors (what an ONNX graph takes)."""

    def __init__(self, network: VioNetwork) -> None:
        super().__init__()
        self.network = network
        self.layout = [(name, len(tensors)) for name, tensors in network.initial_state(1).items()]

    def forward(self, tracks: Tensor, inertial: Tensor, context: Tensor, *flat: Tensor) -> tuple[Tensor, ...]:
        state, start = {}, 0
        for name, count in self.layout:
            state[name] = tuple(flat[start:start + count])
            start += count
        out, new_state = self.network.run(tracks, inertial, context, state)
        decoded = [value for value in out if value is not None]
        return (*decoded, *(tensor for tensors in new_state.values() for tensor in tensors))


def _example(network: VioNetwork, frames: int) -> tuple[Tensor, ...]:
    """Inputs of ``frames`` frames and a state with a partly filled cache (the tracer needs C > 1)."""
    config = network.config
    generator = torch.Generator().manual_seed(0)
    tracks = torch.randn(1, frames, config.tracks.max_tracks, 6, generator=generator)
    tracks[..., 5] = 1.0
    inertial = torch.randn(1, frames, network.inertial_mean.shape[0], generator=generator)
    context = torch.rand(1, frames, 3, generator=generator)
    with torch.inference_mode():
        warm = 3
        _, state = network.run(tracks[:, :1].expand(1, warm, -1, -1), inertial[:, :1].expand(1, warm, -1),
                               context[:, :1].expand(1, warm, -1), network.initial_state(1))
    flat = [tensor.clone() for tensors in state.values() for tensor in tensors]
    return (tracks, inertial, context, *flat)


def export_graph(network: VioNetwork, path: Path, *, frames: int, metadata: dict[str, str]) -> Path:
    """Write the ONNX graph of ``frames`` frames to ``path`` (atomically: a partial file, then renamed)."""
    network = network.cpu().eval()
    module = _StreamingPass(network).eval()
    cache = torch.export.Dim("cache", min=0, max=network.config.window - 1)
    dynamic = tuple({2: cache} if name == "transformer" else None
                    for name, count in module.layout for _ in range(count))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{time.monotonic_ns()}.partial")
    with sdpa_kernel(SDPBackend.MATH), _exporter_quiet():
        program = torch.onnx.export(module, _example(network, frames), dynamo=True, opset_version=OPSET,
                                    input_names=[*INPUT_NAMES, *state_names(network, "state")],
                                    output_names=[*output_names(network), *state_names(network, "next")],
                                    dynamic_shapes=(None, None, None, dynamic), verbose=False)
    program.model.metadata_props.update({**metadata, "frames": str(frames), "export_version": EXPORT_VERSION,
                                         "params_total": str(parameter_count(network))})
    program.save(str(partial))
    partial.replace(path)
    return path


@contextlib.contextmanager
def _exporter_quiet() -> Iterator[None]:
    """The exporter's own logs (hundreds of rewrite notes, absent torchvision ops) and warnings held back."""
    loggers = [logging.getLogger(name) for name in _EXPORTER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)  # real failures raise
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_graphs(network: VioNetwork, paths: dict[int, Path], *, metadata: dict[str, str]) -> dict[int, Path]:
    """Export every graph of ``paths`` ({frames: path}); logs how long it took."""
    started = time.perf_counter()
    for frames, path in paths.items():
        export_graph(network, path, frames=frames, metadata=metadata)
    LOGGER.info("exported %s to ONNX in %.1f s: %s", network.config.family, time.perf_counter() - started,
                ", ".join(str(p) for p in paths.values()))
    return paths


ONNX_ATOL = 1e-4  # largest |onnxruntime - torch| accepted on any decoded output (fp32, other kernels)


def largest_difference(network: VioNetwork, exported: Any, *, chunks: tuple[int, ...] = (1, 1, 40, 1, 3, 16, 1, 70, 1),
                       seed: int = 0) -> float:
    """Largest |exported - torch| over every decoded output of a stream of frames, ``run`` in ``chunks``
    (one frame: ``step``), each side carrying its own state, from empty through a full cache.

    ``exported``: a ``core.model.onnx_network.OnnxNetwork`` of ``network``'s model file.
    """
    generator = torch.Generator().manual_seed(seed)
    config = network.config
    torch_state, onnx_state = network.initial_state(1), exported.initial_state(1)
    worst = 0.0
    with torch.inference_mode():
        for frames in chunks:
            tracks = 0.1 * torch.randn(1, frames, config.tracks.max_tracks, 6, generator=generator)
            tracks[..., 5] = (torch.rand(1, frames, config.tracks.max_tracks, generator=generator) > 0.3).float()
            inertial = torch.randn(1, frames, network.inertial_mean.shape[0], generator=generator)
            context = 3.0 * torch.rand(1, frames, 3, generator=generator)
            if frames == 1:
                expected, torch_state = network.step(tracks[:, 0], inertial[:, 0], context[:, 0], torch_state)
                found, onnx_state = exported.step(tracks[:, 0].numpy(), inertial[:, 0].numpy(), context[:, 0].numpy(),
                                                  onnx_state)
            else:
                expected, torch_state = network.run(tracks, inertial, context, torch_state)
                found, onnx_state = exported.run(tracks.numpy(), inertial.numpy(), context.numpy(), onnx_state)
            for name in NetworkOutput._fields:
                want, got = getattr(expected, name), getattr(found, name)
                if (want is None) != (got is None):
                    return float("inf")
                if want is not None:
                    worst = max(worst, float(np.abs(want.numpy() - got).max()))
    return worst
