"""Test-wide settings: every pytest run talks DDS on its own domain, on this host only.

Several test runs (and a developer's own nodes) may share a machine; a private,
randomly chosen ROS_DOMAIN_ID keeps their messages apart. Child processes that
tests start inherit it through the environment.

Ctrl-C tests send SIGINT to child processes. A run started as a background job of a
non-interactive shell (``cmd &``) has SIGINT ignored, and an ignored signal stays ignored
across exec, so every child would ignore it too (this broke two Ctrl-C tests once). The
run therefore restores the default disposition, which its children then inherit.

The networks run on onnxruntime by default (``estimator.network_runtime: auto``), over ONNX exports
kept in a cache. A run uses a cache folder of its own (``ARVR_VIO_CACHE_DIR``, removed at the end),
where the shipped models' exports (and their optimised copies) are links to the user's cache (``make setup``
made them) and every model a test writes is exported afresh: nothing a test trains or saves lands in the
user's cache.
"""
from __future__ import annotations

import os
import atexit
import random
import shutil
import signal
import tempfile
from pathlib import Path

os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("OMP_NUM_THREADS", "1")



def _private_export_cache() -> None:
    import onnxruntime

    from arvr_hybrid_vio.core.model.onnx_network import default_cache_dir, file_sha256, graph_paths, optimized_path
    shipped, private = default_cache_dir(), Path(tempfile.mkdtemp(prefix="arvr_vio_onnx_"))
    atexit.register(shutil.rmtree, private, ignore_errors=True)
    for model in (Path(__file__).resolve().parents[1] / "models").glob("*.safetensors"):
        sha256 = file_sha256(model)
        for path in graph_paths(model, sha256, shipped).values():
            for cached in (path, optimized_path(path, onnxruntime.__version__)):  # the graph, onnxruntime's copy
                if cached.is_file():
                    (private / cached.name).symlink_to(cached)
    os.environ["ARVR_VIO_CACHE_DIR"] = str(private)


if "ARVR_VIO_CACHE_DIR" not in os.environ:
    _private_export_cache()

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
