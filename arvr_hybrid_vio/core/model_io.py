"""Model files: safetensors weights with the architecture and format version in the metadata.

A model file is self-describing: its safetensors metadata (string to string) holds

* ``format``: ``"arvr_hybrid_vio.model"``;
* ``format_version``: ``MODEL_FORMAT_VERSION``;
* ``config``: the :class:`ModelConfig` as JSON, enough to rebuild the network;
* ``training``: JSON about how it was trained (free form, optional).

Loading never unpickles anything. Every failure is a :class:`ModelFileError` that
names the file and what is wrong (missing, truncated/corrupt, another format or
version, another architecture).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from arvr_hybrid_vio.core.config_io import config_to_mapping
from arvr_hybrid_vio.core.errors import ModelFileError
from arvr_hybrid_vio.core.model_header import MODEL_FORMAT, MODEL_FORMAT_VERSION, read_config, read_metadata
from arvr_hybrid_vio.core.model.network import VioNetwork

def save_model(path: str | Path, network: VioNetwork, *, training: dict[str, Any] | None = None) -> Path:
    """Write ``network`` (weights, buffers, config) to a safetensors file; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in network.state_dict().items()}
    metadata = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
                "config": json.dumps(config_to_mapping(network.config)),
                "training": json.dumps(training or {})}
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    partial.chmod(0o644)  # safetensors creates 0600 files; models are installed data
    partial.replace(path)
    return path


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as exc:
        raise ModelFileError(f"{path}: weights unreadable (truncated or corrupt: {exc})") from exc


def _check_architecture(path: Path, network: VioNetwork, tensors: dict[str, torch.Tensor]) -> None:
    expected = {name: tuple(t.shape) for name, t in network.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in tensors.items()}
    missing, unexpected = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    wrong = [f"{n}: file {found[n]} vs model {expected[n]}" for n in expected if n in found and found[n] != expected[n]]
    if missing or unexpected or wrong:
        raise ModelFileError(
            f"{path}: weights do not match the architecture '{network.config.family}' in its config "
            f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}"
            f"{'...' if len(unexpected) > 3 else ''}, shape {wrong[:3]})")


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> tuple[VioNetwork, dict[str, Any]]:
    """Rebuild the network of a model file, in eval mode on ``device``; also returns its training info.

    Raises:
        ModelFileError: missing, truncated, other format/version, or weights of another architecture.
    """
    path = Path(path)
    metadata = read_metadata(path)
    config = read_config(path, metadata)
    network = VioNetwork(config)
    tensors = _read_tensors(path)
    _check_architecture(path, network, tensors)
    network.load_state_dict(tensors)
    try:
        training = json.loads(metadata.get("training", "{}"))
    except ValueError:
        training = {}
    return network.to(device).eval(), training
