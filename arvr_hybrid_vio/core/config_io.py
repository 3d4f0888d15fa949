"""Load typed, frozen dataclass configs from the ROS parameter YAML the nodes read.

A parameter file looks like::

    /**:                      # or a node name, e.g. vio_node
      ros__parameters:
        sync:                 # one section per dataclass, flattened to sync.capacity ...
          capacity: 64

``load_section(path, "sync", SyncConfig)`` returns ``SyncConfig(capacity=64, ...)``.
Offline tools call this; the ROS adapter (``arvr_hybrid_vio.ros.params``) declares
the same fields as ROS parameters, so one YAML serves both readers.
"""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from arvr_hybrid_vio.core.errors import ConfigError

ConfigT = TypeVar("ConfigT")


def read_parameters(path: str | Path, *, node_name: str | None = None) -> dict[str, Any]:
    """Merged ``ros__parameters`` of ``/**`` and, if given, ``node_name`` (node wins).

    Raises:
        ConfigError: the file is missing, is not YAML, or has no ``ros__parameters``.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: parameter file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of node names to ros__parameters")
    merged: dict[str, Any] = {}
    for key in ("/**", node_name, f"/{node_name}" if node_name else None):
        section = document.get(key) if key else None
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            merged.update(section["ros__parameters"])
    if not merged:
        raise ConfigError(f"{path}: no '/**: ros__parameters:' section found")
    return merged


def config_from_mapping(config_type: type[ConfigT], values: dict[str, Any], *, where: str = "") -> ConfigT:
    """Build a (possibly nested) frozen dataclass from a mapping, checking names and types.

    Raises:
        ConfigError: an unknown key, or a value of the wrong type.
    """
    hints = typing.get_type_hints(config_type)
    fields = {f.name: f for f in dataclasses.fields(config_type)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where or config_type.__name__}: unknown parameter(s) {unknown}; known: {sorted(fields)}")
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}".lstrip(".")) for name, value in values.items()}
    return config_type(**kwargs)


def load_section(path: str | Path, section: str, config_type: type[ConfigT], *, node_name: str | None = None) -> ConfigT:
    """Load one dataclass from the ``section`` of a parameter file (defaults where absent)."""
    parameters = read_parameters(path, node_name=node_name)
    values = parameters.get(section, {})
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: '{section}' must be a mapping")
    return config_from_mapping(config_type, values, where=f"{path}:{section}")


def config_to_mapping(config: Any) -> dict[str, Any]:
    """Plain nested dict of a dataclass config (tuples become lists), for YAML and checkpoints."""
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value
    return plain(config)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return config_from_mapping(hint, value, where=where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_type = typing.get_args(hint)[0]
        return tuple(_coerce(item_type, v, where) for v in value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value
