"""A model file's network run by onnxruntime on the CPU, without torch.

:class:`OnnxNetwork` has the streaming interface of ``VioNetwork`` that the estimator uses
(``config``, ``initial_state``, ``step``, ``run``) on numpy arrays, over the ONNX graphs that
``core.model.onnx_export`` writes from the same weights. At batch 1 on the CPU onnxruntime runs a
step in about half of torch's time and imports in a tenth of it (docs/performance_history.md, "ONNX Runtime on the CPU").

The graphs are exported once per model file and kept in a cache directory, named after the
file's SHA-256, so a retrained model is exported again and a stale graph is never used. Exporting
needs torch (and ``onnx``/``onnxscript``); a cached graph needs only onnxruntime. Beside each graph the
cache keeps the copy onnxruntime optimised at ``ORT_ENABLE_EXTENDED`` (written at the first load, per
onnxruntime version), which loads faster: ``arvr-vio-infer`` on the bench's 20 s bag 2.024 -> 1.986 s, median
of 8 interleaved runs, outputs byte-identical (2026-11-29, 2-core Intel Xeon).

The single-frame graph is loaded at once; the ``CHUNK_FRAMES`` graph only when a caller first runs
that many frames at a time (offline, with frames known ahead). The node steps frame by frame and
never loads it: ``VioEstimator.from_file`` takes 0.16 instead of 0.23 s and 85-95 instead of 107-110 MB
(2026-11-28, 2-core Intel Xeon).
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from arvr_hybrid_vio.core.errors import ConfigError, ModelFileError
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model_header import read_config, read_metadata

LOGGER = logging.getLogger(__name__)
CHUNK_FRAMES = 16  # frames of the offline graph (run over chunks of the lookahead; single steps after)
EXPORT_VERSION = "1"  # of the graphs' names, inputs and outputs: bump when core.model.onnx_export changes them
_HASH_BLOCK = 1 << 20


class OnnxOutput(NamedTuple):
    """``NetworkOutput``'s fields as numpy arrays (leading dims (B, T) or (B,))."""

    velocity: np.ndarray
    dtheta: np.ndarray
    translation_logvar: np.ndarray
    rotation_logvar: np.ndarray
    weights: np.ndarray | None


def default_cache_dir() -> Path:
    """``$ARVR_VIO_CACHE_DIR``, else ``$XDG_CACHE_HOME/arvr_hybrid_vio``, else ``~/.cache/arvr_hybrid_vio``."""
    if os.environ.get("ARVR_VIO_CACHE_DIR"):
        return Path(os.environ["ARVR_VIO_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "arvr_hybrid_vio"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def graph_paths(model_path: Path, sha256: str, cache_dir: Path) -> dict[int, Path]:
    """{frames: path} of a model file's ONNX graphs in ``cache_dir``."""
    stem = f"{model_path.stem}-{sha256[:16]}-v{EXPORT_VERSION}"
    return {frames: cache_dir / f"{stem}-t{frames}.onnx" for frames in (1, CHUNK_FRAMES)}


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ConfigError("estimator.network_runtime 'onnxruntime' needs the onnxruntime package "
                          "(pip install -r requirements.txt), or set it to 'torch'") from exc
    return onnxruntime


class OnnxNetwork:
    """The streaming network of one model file on onnxruntime; see the module docstring."""

    device = "cpu"
    runtime = "onnxruntime"  # LearnedMotion's name for what runs it (a VioNetwork has none: torch)

    def __init__(self, config: ModelConfig, sessions: dict[int, Any], *, source: Path, graph_dir: Path,
                 load_chunk: Callable[[], Any] | None = None) -> None:
        """``sessions``: {frames: onnxruntime.InferenceSession} for 1 frame and, unless ``load_chunk`` (which
        returns it on first use) is given, for ``CHUNK_FRAMES`` frames."""
        self.config = config
        self.source = source
        self.graph_dir = graph_dir
        self._sessions = dict(sessions)
        self._load_chunk = load_chunk
        one = sessions[1]
        self._state_inputs = [item for item in one.get_inputs() if item.name.startswith("state.")]
        # per state tensor, in the graphs' order: its input name and its stream (read once, not per step)
        self._state_names = [(item.name, item.name.split(".")[1]) for item in self._state_inputs]
        self._outputs = [item.name for item in one.get_outputs() if not item.name.startswith("next.")]
        self.params_total = int(one.get_modelmeta().custom_metadata_map.get("params_total", 0))

    @classmethod
    def from_file(cls, model_path: str | Path, *, threads: int = 0, cache_dir: str | Path | None = None) -> OnnxNetwork:
        """The graphs of a model file: from the cache, or exported into it first (needs torch, once).

        Args:
            threads: onnxruntime's intra-op threads (0: its default, one per core).
            cache_dir: where graphs are kept (None: ``default_cache_dir()``).

        Raises:
            ModelFileError: the model file is missing, truncated, or of another version/architecture.
            ConfigError: onnxruntime is not installed.
        """
        model_path = Path(model_path)
        onnxruntime = _import_onnxruntime()
        config, sha256, paths = _model_graphs(model_path, cache_dir)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(int(threads), 0)
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy wait beside the node
        single = {1: paths[1]}

        def loaded(wanted: dict[int, Path]) -> dict[int, Any]:
            """The sessions of ``wanted``, exported (again) first where one is missing, stale or damaged."""
            sessions = _cached_sessions(onnxruntime, wanted, options, sha256)
            if sessions is None:
                _export(model_path, paths, sha256)
                sessions = _cached_sessions(onnxruntime, wanted, options, sha256)
                if sessions is None:
                    raise ModelFileError(f"{model_path}: its ONNX export in {paths[1].parent} does not load back")
            return sessions

        if not all(path.is_file() for path in paths.values()):
            _export(model_path, paths, sha256)  # both graphs together
        sessions = loaded(single)
        LOGGER.info("onnxruntime %s runs %s (%s)", onnxruntime.__version__, model_path, paths[1].parent)
        return cls(config, sessions, source=model_path, graph_dir=paths[1].parent,
                   load_chunk=lambda: loaded({CHUNK_FRAMES: paths[CHUNK_FRAMES]})[CHUNK_FRAMES])

    def eval(self) -> OnnxNetwork:
        """Inference only (as ``nn.Module.eval``, for callers that set it)."""
        return self

    def initial_state(self, batch: int = 1, device: Any = None) -> dict[str, tuple[np.ndarray, ...]]:
        """Empty streaming state of every stream (the cache dimension 0), batch 1 only."""
        if batch != 1:
            raise ValueError(f"the ONNX graphs run batch 1, got {batch}")
        state: dict[str, list[np.ndarray]] = {}
        for item, (_, stream) in zip(self._state_inputs, self._state_names):
            shape = [dim if isinstance(dim, int) else 0 for dim in item.shape]
            state.setdefault(stream, []).append(np.zeros(shape, dtype=np.float32))
        return {stream: tuple(tensors) for stream, tensors in state.items()}

    def step(self, tracks: np.ndarray, inertial: np.ndarray, context: np.ndarray,
             state: dict[str, tuple[np.ndarray, ...]]) -> tuple[OnnxOutput, dict[str, tuple[np.ndarray, ...]]]:
        """One frame. Shape: tracks (1, N, 6), inertial (1, D), context (1, 3) -> OnnxOutput (1, .)."""
        out, state = self._pass(1, tracks[:, None], inertial[:, None], context[:, None], state)
        return OnnxOutput(*[None if value is None else value[:, 0] for value in out]), state

    def run(self, tracks: np.ndarray, inertial: np.ndarray, context: np.ndarray,
            state: dict[str, tuple[np.ndarray, ...]]) -> tuple[OnnxOutput, dict[str, tuple[np.ndarray, ...]]]:
        """T frames continuing ``state``: chunks of ``CHUNK_FRAMES``, then single frames.

        Shape: tracks (1, T, N, 6), inertial (1, T, D), context (1, T, 3) -> OnnxOutput (1, T, .).
        """
        pieces, start, total = [], 0, tracks.shape[1]
        while start < total:
            frames = CHUNK_FRAMES if total - start >= CHUNK_FRAMES else 1
            part = slice(start, start + frames)
            out, state = self._pass(frames, tracks[:, part], inertial[:, part], context[:, part], state)
            pieces.append(out)
            start += frames
        joined = [None if parts[0] is None else np.concatenate(parts, axis=1) for parts in zip(*pieces)]
        return OnnxOutput(*joined), state

    def _pass(self, frames: int, tracks: np.ndarray, inertial: np.ndarray, context: np.ndarray,
              state: dict[str, tuple[np.ndarray, ...]]) -> tuple[OnnxOutput, dict[str, tuple[np.ndarray, ...]]]:
        feeds = {"tracks": np.ascontiguousarray(tracks, dtype=np.float32),
                 "inertial": np.ascontiguousarray(inertial, dtype=np.float32),
                 "context": np.ascontiguousarray(context, dtype=np.float32)}
        flat = [tensor for tensors in state.values() for tensor in tensors]  # initial_state's order
        feeds.update({name: tensor for (name, _), tensor in zip(self._state_names, flat)})
        results = self._session(frames).run(None, feeds)
        named = dict(zip(self._outputs, results))
        new_state: dict[str, list[np.ndarray]] = {}
        for value, (_, stream) in zip(results[len(self._outputs):], self._state_names):
            new_state.setdefault(stream, []).append(value)
        out = OnnxOutput(*(named.get(field) for field in OnnxOutput._fields))
        return out, {stream: tuple(tensors) for stream, tensors in new_state.items()}

    def _session(self, frames: int) -> Any:
        """The graph of ``frames`` frames (1 or ``CHUNK_FRAMES``), the chunk's loaded on first use."""
        if frames not in self._sessions and self._load_chunk is not None:
            self._sessions[frames] = self._load_chunk()
        return self._sessions[frames]

    @property
    def chunk_loaded(self) -> bool:
        """Whether the ``CHUNK_FRAMES`` graph is loaded (it is on the first ``run`` of that many frames)."""
        return CHUNK_FRAMES in self._sessions


def ensure_exported(model_path: str | Path, cache_dir: str | Path | None = None) -> dict[int, Path]:
    """The model file's graphs in the cache, exported first where one is missing (needs torch then).

    A graph that is present is not checked here (``OnnxNetwork.from_file`` checks it and exports again if
    it is stale or damaged); where its optimised copy is missing, the copy is written (``optimized_path``;
    skipped without onnxruntime), so that the first load is as fast as the later ones. Returns {frames: path}.

    Raises:
        ModelFileError: the model file is missing, truncated, or of another version/architecture.
    """
    model_path = Path(model_path)
    _, sha256, paths = _model_graphs(model_path, cache_dir)
    if not all(path.is_file() for path in paths.values()):
        _export(model_path, paths, sha256)
    try:
        onnxruntime = _import_onnxruntime()
    except ConfigError:
        return paths
    for path in paths.values():
        optimized = optimized_path(path, onnxruntime.__version__)
        if not optimized.is_file():
            _write_optimized(onnxruntime, path, optimized)
    return paths


def _model_graphs(model_path: Path, cache_dir: str | Path | None) -> tuple[ModelConfig, str, dict[int, Path]]:
    """A model file's config (checked: ModelFileError), SHA-256 and graph paths in the cache."""
    config = read_config(model_path, read_metadata(model_path))
    sha256 = file_sha256(model_path)
    return config, sha256, graph_paths(model_path, sha256, Path(cache_dir) if cache_dir else default_cache_dir())


def _cached_sessions(onnxruntime: Any, paths: dict[int, Path], options: Any, sha256: str) -> dict[int, Any] | None:
    """Sessions over the cached graphs, or None unless every one loads and was exported from the model file
    with this hash by this export version (a missing, truncated or stale graph is exported again).

    Each graph is loaded from its optimised copy (``optimized_path``) where a good one is there; otherwise from
    the graph, and the copy is written for the next load (onnxruntime then skips most of its optimisation at load:
    ~0.02 s a graph on a 2-core Xeon, docs/performance_history.md)."""
    sessions = {}
    for frames, path in paths.items():
        if not path.is_file():
            return None
        expected = (sha256, EXPORT_VERSION, str(frames))
        optimized = optimized_path(path, onnxruntime.__version__)
        session = (_current_session(onnxruntime, optimized, options, expected, otherwise="writing it again")
                   if optimized.is_file() else None)
        if session is None:
            session = _current_session(onnxruntime, path, options, expected, otherwise="exporting again")
            if session is None:
                return None
            _write_optimized(onnxruntime, path, optimized)
        sessions[frames] = session
    return sessions


def optimized_path(graph: Path, runtime_version: str) -> Path:
    """Where ``graph``'s copy optimised by onnxruntime ``runtime_version`` is kept (``ORT_ENABLE_EXTENDED``:
    fused operators, no layout tied to this CPU; onnxruntime warns that ``ORT_ENABLE_ALL`` copies are)."""
    return graph.with_name(f"{graph.stem}-ort{runtime_version}-extended.onnx")


def _metadata(session: Any) -> tuple[str | None, str | None, str | None]:
    metadata = session.get_modelmeta().custom_metadata_map
    return metadata.get("model_sha256"), metadata.get("export_version"), metadata.get("frames")


def _current_session(onnxruntime: Any, path: Path, options: Any, expected: tuple[str, str, str], *,
                     otherwise: str) -> Any | None:
    """A session over the graph at ``path`` when it loads and its metadata is ``expected`` (this model file's
    hash, this export version, its frames), else None; ``otherwise`` says in the warning what follows."""
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for unreadable graphs
        LOGGER.warning("cached ONNX graph %s does not load (%s): %s", path, exc, otherwise)
        return None
    return session if _metadata(session) == expected else None


def _write_optimized(onnxruntime: Any, graph: Path, optimized: Path) -> None:
    """Write ``graph``'s optimised copy to ``optimized`` (atomically); a cache that cannot be written keeps
    loading the graph itself."""
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    temporary = optimized.with_name(f".{optimized.name}.{os.getpid()}.tmp")
    options.optimized_model_filepath = str(temporary)
    try:
        onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        os.replace(temporary, optimized)
    except Exception as exc:  # onnxruntime's own types, or OSError
        LOGGER.info("optimised ONNX graph %s not written (%s): the graph loads as it is", optimized, exc)
        temporary.unlink(missing_ok=True)


def _export(model_path: Path, paths: dict[int, Path], sha256: str) -> None:
    """Export the model file's graphs into the cache (imports torch)."""
    LOGGER.warning("exporting %s to ONNX once (torch; about 15 s); later runs load %s", model_path,
                   paths[1].parent)
    try:
        from arvr_hybrid_vio.core.model import onnx_export
        from arvr_hybrid_vio.core.model_io import load_model
    except ImportError as exc:
        raise ConfigError(f"{model_path}: no ONNX graph in the cache and the exporter is missing ({exc}); "
                          "install requirements.txt or use estimator.network_runtime 'torch'") from exc
    network, _ = load_model(model_path)
    try:
        onnx_export.export_graphs(network, paths, metadata={"model_sha256": sha256, "model_file": model_path.name})
    except OSError as exc:
        raise ConfigError(f"{model_path}: cannot write its ONNX export to {paths[1].parent} ({exc}); set "
                          "estimator.onnx_cache_dir (or ARVR_VIO_CACHE_DIR) to a writable folder") from exc
