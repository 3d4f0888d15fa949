"""The header of a model file: format, version and architecture, read without torch.

A model file (see ``core.model_io``) is safetensors with string metadata: ``format``,
``format_version``, ``config`` (the :class:`ModelConfig` as JSON) and ``training``. This
module reads that header only, so that a process which needs the architecture but not the
weights (the visual front-end of ``arvr-vio-infer``'s bag reader) does not import torch.
"""
from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open

from arvr_hybrid_vio.core.config_io import config_from_mapping
from arvr_hybrid_vio.core.errors import ConfigError, ModelFileError
from arvr_hybrid_vio.core.model.model_config import FAMILIES, ModelConfig

MODEL_FORMAT = "arvr_hybrid_vio.model"
MODEL_FORMAT_VERSION = "1"


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a model file, checked for format and version.

    Raises:
        ModelFileError: missing, unreadable, or of another format or version.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found (train one with arvr-vio-train, or use 'imu-only')")
    try:
        with safe_open(str(path), framework="numpy") as handle:  # the header only: no torch
            metadata = handle.metadata() or {}
    except Exception as exc:  # safetensors raises several types for corrupt headers
        raise ModelFileError(f"{path}: not a readable safetensors file (truncated or corrupt: {exc})") from exc
    if metadata.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not an arvr_hybrid_vio model (format {metadata.get('format')!r})")
    if metadata.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {metadata.get('format_version')!r}, "
                             f"this version of arvr_hybrid_vio reads version {MODEL_FORMAT_VERSION}")
    return metadata


def read_config(path: str | Path, metadata: dict[str, str] | None = None) -> ModelConfig:
    """The architecture a model file was saved with (``metadata``: its already read metadata).

    Raises:
        ModelFileError: as ``read_metadata``, or a config that is missing, invalid or of an unknown family.
    """
    path = Path(path)
    metadata = read_metadata(path) if metadata is None else metadata
    try:
        config = config_from_mapping(ModelConfig, json.loads(metadata["config"]), where=f"{path}:config")
    except (KeyError, ValueError, ConfigError) as exc:
        raise ModelFileError(f"{path}: model config missing or invalid ({exc})") from exc
    if config.family not in FAMILIES:
        raise ModelFileError(f"{path}: unknown architecture family {config.family!r}; known: {FAMILIES}")
    return config
