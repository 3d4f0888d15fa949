"""The networks' ONNX export on onnxruntime (``estimator.network_runtime: onnxruntime``).

Every shipped model is exported (real weights) and run against its torch network on a stream of
frames: single steps and chunks, from an empty Transformer cache through a full one. The export
cache keeps one export per model file: reused while the file is unchanged, replaced when it is
stale or damaged. A process that runs the estimator on a cached export never imports torch.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from arvr_hybrid_vio.core.errors import ConfigError, ModelFileError
from arvr_hybrid_vio.core.model import learned_motion, onnx_network
from arvr_hybrid_vio.core.model.learned_motion import network_runtime
from arvr_hybrid_vio.core.model.onnx_export import ONNX_ATOL, largest_difference
from arvr_hybrid_vio.core.model.onnx_network import OnnxNetwork, file_sha256, graph_paths, optimized_path
from arvr_hybrid_vio.core.model_io import load_model, save_model

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.mark.parametrize("model", ["hybrid", "hybrid_hard", "multihead", "lstm", "transformer"])
def test_every_shipped_model_runs_on_onnxruntime_as_on_torch(model: str, tmp_path: Path) -> None:
    network, _ = load_model(MODELS / f"{model}.safetensors")
    exported = OnnxNetwork.from_file(MODELS / f"{model}.safetensors", threads=1, cache_dir=tmp_path)
    assert exported.config == network.config
    assert exported.params_total == sum(p.numel() for p in network.parameters() if p.requires_grad)
    assert largest_difference(network, exported) <= ONNX_ATOL
    out, _ = exported.step(*_one_frame(network.config), exported.initial_state(1))
    assert (out.weights is None) == (network.fusion is None)  # fusion weights exposed by the hybrids only
    if out.weights is not None:
        np.testing.assert_allclose(out.weights.sum(axis=-1), 1.0, atol=1e-6)


def _one_frame(config: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tracks = np.zeros((1, config.tracks.max_tracks, 6), dtype=np.float32)
    return tracks, np.zeros((1, 63), dtype=np.float32), np.ones((1, 3), dtype=np.float32)


def test_the_cache_keeps_one_export_per_model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exported once and reused; a model file with other bytes gets its own export; a graph that is another
    file's (stale) or truncated is exported again."""
    source = tmp_path / "lstm.safetensors"
    shutil.copy(MODELS / "lstm.safetensors", source)
    cache = tmp_path / "cache"
    OnnxNetwork.from_file(source, cache_dir=cache)
    exports: list[Path] = []
    real_export = onnx_network._export
    monkeypatch.setattr(onnx_network, "_export", lambda path, *args: exports.append(path) or real_export(path, *args))
    OnnxNetwork.from_file(source, cache_dir=cache)
    assert exports == []  # unchanged file: the cached graphs

    network, _ = load_model(source)
    retrained = save_model(tmp_path / "other" / "lstm.safetensors", network, training={"note": "other bytes"})
    old, new = graph_paths(source, file_sha256(source), cache), graph_paths(retrained, file_sha256(retrained), cache)
    assert old != new
    for frames in old:  # the other file's graphs where this file's belong: stale, never used
        shutil.copy(old[frames], new[frames])
    OnnxNetwork.from_file(retrained, cache_dir=cache)
    assert exports == [retrained]
    for damaged in (new[1], optimized_path(new[1], onnxruntime.__version__)):  # the graph and its optimised copy
        damaged.write_bytes(damaged.read_bytes()[:1000])  # truncated
    OnnxNetwork.from_file(retrained, cache_dir=cache)
    assert exports == [retrained, retrained]
    graphs = [*old.values(), *new.values()]
    loaded = [old[1], new[1]]  # the chunk graphs were never loaded here: no optimised copies of them
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [p.name for p in graphs] + [optimized_path(p, onnxruntime.__version__).name for p in loaded])


def test_the_cache_loads_each_graph_from_its_optimised_copy(tmp_path: Path) -> None:
    """The first load writes each graph's copy optimised by onnxruntime (``ORT_ENABLE_EXTENDED``), later loads
    read it (onnxruntime then optimises less at load); its outputs are the graph's, bit for bit. A damaged copy, or
    one of another model file's graph, is passed over for the graph and written again."""
    source = tmp_path / "lstm.safetensors"
    shutil.copy(MODELS / "lstm.safetensors", source)
    cache = tmp_path / "cache"
    paths = graph_paths(source, file_sha256(source), cache)
    copy = optimized_path(paths[1], onnxruntime.__version__)
    network, _ = load_model(source)
    first = OnnxNetwork.from_file(source, cache_dir=cache)  # exports, loads the graph, writes the copy
    assert copy.is_file() and not optimized_path(paths[onnx_network.CHUNK_FRAMES], onnxruntime.__version__).exists()
    written = copy.stat().st_mtime_ns
    second = OnnxNetwork.from_file(source, cache_dir=cache)  # loads the copy
    assert copy.stat().st_mtime_ns == written
    inputs = (*_one_frame(network.config), first.initial_state(1))
    for one, other in zip(first.step(*inputs)[0], second.step(*inputs)[0]):
        if one is not None:
            np.testing.assert_array_equal(one, other)
    assert largest_difference(network, second) <= ONNX_ATOL

    copy.write_bytes(copy.read_bytes()[:1000])  # damaged
    OnnxNetwork.from_file(source, cache_dir=cache)
    assert copy.stat().st_size > 1000  # written again from the graph
    other = save_model(tmp_path / "other" / "lstm.safetensors", network, training={"note": "other bytes"})
    OnnxNetwork.from_file(other, cache_dir=cache)
    theirs = optimized_path(graph_paths(other, file_sha256(other), cache)[1], onnxruntime.__version__)
    shutil.copy(theirs, copy)  # another file's optimised graph where this file's belongs: stale
    OnnxNetwork.from_file(source, cache_dir=cache)
    assert copy.read_bytes() != theirs.read_bytes()


def test_the_chunk_graph_loads_on_first_use_and_a_stale_one_is_exported_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stepping frame by frame (the node) never loads the 16-frame graph (~25 MB, 0.07 s); the first run of 16
    frames loads it. A stale chunk graph beside a good single-frame one is found then and exported again."""
    source = tmp_path / "lstm.safetensors"
    shutil.copy(MODELS / "lstm.safetensors", source)
    cache = tmp_path / "cache"
    network, _ = load_model(source)
    exported = OnnxNetwork.from_file(source, cache_dir=cache)
    assert not exported.chunk_loaded
    assert largest_difference(network, exported, chunks=(1, 1, 3)) <= ONNX_ATOL  # steps and single-frame runs
    assert not exported.chunk_loaded
    assert largest_difference(network, exported, chunks=(1, 16, 1, 40)) <= ONNX_ATOL
    assert exported.chunk_loaded

    other = save_model(tmp_path / "other" / "lstm.safetensors", network, training={"note": "other bytes"})
    OnnxNetwork.from_file(other, cache_dir=cache)  # exports the other file's graphs
    chunk = onnx_network.CHUNK_FRAMES
    mine, theirs = graph_paths(source, file_sha256(source), cache), graph_paths(other, file_sha256(other), cache)
    shutil.copy(theirs[chunk], mine[chunk])  # another file's chunk graph where this file's belongs
    optimized_path(mine[chunk], onnxruntime.__version__).unlink()  # and no optimised copy of it (a good one would serve)
    exports: list[Path] = []
    real_export = onnx_network._export
    monkeypatch.setattr(onnx_network, "_export", lambda path, *args: exports.append(path) or real_export(path, *args))
    exported = OnnxNetwork.from_file(source, cache_dir=cache)
    assert exports == []  # the single-frame graph is good: nothing exported yet
    assert largest_difference(network, exported, chunks=(1, 16)) <= ONNX_ATOL
    assert exports == [source] and exported.chunk_loaded


def test_a_missing_or_corrupt_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="missing.safetensors: model file not found"):
        OnnxNetwork.from_file(tmp_path / "missing.safetensors", cache_dir=tmp_path)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes((MODELS / "lstm.safetensors").read_bytes()[:500])
    with pytest.raises(ModelFileError, match="broken.safetensors"):
        OnnxNetwork.from_file(broken, cache_dir=tmp_path)


def test_the_runtime_follows_the_device(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(learned_motion, "NVIDIA_DRIVER", str(tmp_path / "no_driver"))
    assert network_runtime("auto", "cpu") == "onnxruntime"
    assert network_runtime("auto", "auto") == "onnxruntime"  # no NVIDIA driver: the CPU, torch not asked
    assert network_runtime("auto", "cuda") == "torch"
    assert network_runtime("torch", "cpu") == "torch"
    assert network_runtime("onnxruntime", "auto") == "onnxruntime"
    with pytest.raises(ConfigError, match="runs on the CPU"):
        network_runtime("onnxruntime", "cuda")
    with pytest.raises(ConfigError, match="network_runtime must be one of"):
        network_runtime("tensorrt", "cpu")
    with pytest.raises(ConfigError, match="device must be auto, cpu or cuda"):
        network_runtime("auto", "gpu")


_NO_TORCH = """
import sys
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence
from arvr_hybrid_vio.core.training.replay import run_estimator, synced_frames
sequence = generate_sequence(SynthConfig(motion=MotionConfig(motion="head", duration_s=2.0, rest_s=0.6)), seed=3)
frames = synced_frames(sequence.image_stamps_ns, sequence.images, sequence.imu_stamps_ns, sequence.gyro, sequence.accel)
estimator = VioEstimator.from_file(sys.argv[1], EstimatorConfig(device="cpu", network_runtime="auto",
                                                                onnx_cache_dir=sys.argv[2]))
trajectory = run_estimator(estimator, frames)
assert estimator.source.network_path == "cpu onnxruntime", estimator.source.network_path
assert len(trajectory) > 30, len(trajectory)
print("torch imported" if "torch" in sys.modules else "torch not imported")
"""


def test_a_cached_export_runs_without_importing_torch(tmp_path: Path) -> None:
    """The point of the runtime for offline inference: torch's import is 1.4-1.8 s of a 2.7 s run."""
    model = MODELS / "hybrid.safetensors"
    OnnxNetwork.from_file(model, cache_dir=tmp_path)
    result = subprocess.run([sys.executable, "-c", _NO_TORCH, str(model), str(tmp_path)], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "torch not imported"


def test_export_command_exports_checks_and_names_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from arvr_hybrid_vio.tools.export_onnx import main
    model = str(MODELS / "lstm.safetensors")
    assert main([model, "--cache-dir", str(tmp_path)]) == 0
    graphs = graph_paths(Path(model), file_sha256(Path(model)), tmp_path).values()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in graphs] + [optimized_path(p, onnxruntime.__version__).name for p in graphs])
    assert main([model, "--cache-dir", str(tmp_path), "--check"]) == 0
    assert "largest |onnxruntime - torch|" in capsys.readouterr().out
    assert main([str(tmp_path / "nope.safetensors"), "--cache-dir", str(tmp_path)]) == 1
    assert "nope.safetensors: model file not found" in capsys.readouterr().err
