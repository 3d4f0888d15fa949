"""Model files: round trip, and a clear ModelFileError naming the file for every bad case."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from arvr_hybrid_vio.core.errors import ModelFileError
from arvr_hybrid_vio.core.model.network import VioNetwork
from arvr_hybrid_vio.core.model_header import MODEL_FORMAT, read_metadata
from arvr_hybrid_vio.core.model_io import load_model, save_model
from test_model import perturbed_network, random_inputs


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, VioNetwork]:
    network = perturbed_network("multihead")
    path = save_model(tmp_path_factory.mktemp("models") / "multihead.safetensors", network, training={"epochs": 3})
    return path, network


def test_round_trip_rebuilds_the_same_network(saved: tuple[Path, VioNetwork]) -> None:
    path, network = saved
    loaded, training = load_model(path)
    assert loaded.config == network.config and training == {"epochs": 3}
    tracks, inertial, context = random_inputs(1, 5)
    with torch.no_grad():
        expected = network(tracks, inertial, context).velocity
        torch.testing.assert_close(loaded(tracks, inertial, context).velocity, expected)
    metadata = read_metadata(path)
    assert metadata["format"] == MODEL_FORMAT and json.loads(metadata["config"])["family"] == "multihead"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"nothing\.safetensors: model file not found"):
        load_model(tmp_path / "nothing.safetensors")


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated_file(saved: tuple[Path, VioNetwork], tmp_path: Path, keep: float) -> None:
    data = saved[0].read_bytes()
    broken = tmp_path / "truncated.safetensors"
    broken.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ModelFileError, match=r"truncated\.safetensors: .*(truncated|corrupt)"):
        load_model(broken)


def test_not_safetensors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="junk.safetensors"):
        load_model(junk)


def _rewrite(source: Path, target: Path, **metadata: str) -> Path:
    from safetensors import safe_open
    with safe_open(str(source), framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        merged = {**handle.metadata(), **metadata}
    save_file(tensors, str(target), metadata=merged)
    return target


def test_other_format_version(saved: tuple[Path, VioNetwork], tmp_path: Path) -> None:
    other = _rewrite(saved[0], tmp_path / "v2.safetensors", format_version="2")
    with pytest.raises(ModelFileError, match=r"v2\.safetensors: model format version '2'.*reads version 1"):
        load_model(other)


def test_other_format(saved: tuple[Path, VioNetwork], tmp_path: Path) -> None:
    other = _rewrite(saved[0], tmp_path / "other.safetensors", format="someone.else")
    with pytest.raises(ModelFileError, match="not an arvr_hybrid_vio model"):
        load_model(other)


def test_other_architecture(saved: tuple[Path, VioNetwork], tmp_path: Path) -> None:
    hybrid_config = json.dumps({**json.loads(read_metadata(saved[0])["config"]), "family": "hybrid"})
    other = _rewrite(saved[0], tmp_path / "arch.safetensors", config=hybrid_config)
    with pytest.raises(ModelFileError, match=r"arch\.safetensors: weights do not match the architecture 'hybrid'"):
        load_model(other)
    unknown = _rewrite(saved[0], tmp_path / "unknown.safetensors",
                       config=json.dumps({**json.loads(hybrid_config), "family": "gru"}))
    with pytest.raises(ModelFileError, match="unknown architecture family 'gru'"):
        load_model(unknown)
    wider = _rewrite(saved[0], tmp_path / "wider.safetensors",
                     config=json.dumps({**json.loads(read_metadata(saved[0])["config"]), "width": 128}))
    with pytest.raises(ModelFileError, match="shape"):
        load_model(wider)


def test_saved_file_is_small(saved: tuple[Path, VioNetwork]) -> None:
    assert saved[0].stat().st_size < 25 * 2**20
