"""Export a training checkpoint to a self-describing safetensors model file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from arvr_hybrid_vio.core.config_io import config_from_mapping
from arvr_hybrid_vio.core.errors import ModelFileError
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.network import VioNetwork
from arvr_hybrid_vio.core.model_io import save_model
from arvr_hybrid_vio.core.training.config import SELECTION_METRIC

PREFIX = "network."


def export_checkpoint(checkpoint: Path, out: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Network weights and configs of a Lightning checkpoint -> ``out`` (safetensors).

    Raises:
        ModelFileError: the checkpoint is missing or lacks the network.
    """
    if not checkpoint.is_file():
        raise ModelFileError(f"{checkpoint}: checkpoint not found")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    hparams = state.get("hyper_parameters", {})
    config = config_from_mapping(ModelConfig, hparams["model_config"])
    network = VioNetwork(config)
    weights = {k[len(PREFIX):]: v for k, v in state["state_dict"].items() if k.startswith(PREFIX)}
    network.load_state_dict(weights)
    callbacks = state.get("callbacks", {})
    best = next((v.get("best_model_score") for k, v in callbacks.items() if "ModelCheckpoint" in k), None)
    training = {"checkpoint": checkpoint.name, "epoch": int(state.get("epoch", -1)),
                SELECTION_METRIC: float(best) if best is not None else None,
                "train_config": hparams.get("train_config", {}), **(extra or {})}
    return save_model(out, network, training=training)
