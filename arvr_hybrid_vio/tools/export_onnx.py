"""arvr-vio-export-onnx: export model files to ONNX for ``estimator.network_runtime`` (auto, onnxruntime).

The estimator exports a model the first time onnxruntime is asked to run it (about 15 s, with
torch); this command does it ahead, e.g. before a rig starts its node (``make setup`` does it for the
shipped models), skipping models already exported. With ``--check`` it also runs each export
against the torch network on a stream of frames (``core.model.onnx_export.largest_difference``).

    arvr-vio-export-onnx models/hybrid.safetensors models/multihead.safetensors [--cache-dir DIR] [--check]
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from arvr_hybrid_vio.core.errors import VioError
from arvr_hybrid_vio.core.model.onnx_network import OnnxNetwork, default_cache_dir, ensure_exported


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="arvr-vio-export-onnx", description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="model files (.safetensors)")
    parser.add_argument("--cache-dir", default="", help=f"where the graphs go (default {default_cache_dir()}, "
                        "estimator.onnx_cache_dir)")
    parser.add_argument("--check", action="store_true", help="run each export against torch (imports torch)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of arvr-vio-export-onnx: 0 when every model is exported (and, with --check, matched torch)."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args = parse_args(argv)
    failed = 0
    for model in args.models:
        try:
            if not args.check:
                paths = ensure_exported(model, args.cache_dir or None)
                print(f"{model}: exported in {paths[1].parent}")
                continue
            from arvr_hybrid_vio.core.model.onnx_export import ONNX_ATOL, largest_difference
            from arvr_hybrid_vio.core.model_io import load_model
            exported = OnnxNetwork.from_file(model, threads=1, cache_dir=args.cache_dir or None)
            difference = largest_difference(load_model(model)[0], exported)
        except VioError as exc:
            print(f"arvr-vio-export-onnx: {exc}", file=sys.stderr)
            failed += 1
            continue
        verdict = "ok" if difference <= ONNX_ATOL else f"DIFFERS (tolerance {ONNX_ATOL:g})"
        print(f"{model}: {exported.config.family}, {exported.params_total:,} parameters, graphs in "
              f"{Path(exported.graph_dir)}; largest |onnxruntime - torch| {difference:.2e}: {verdict}")
        failed += difference > ONNX_ATOL
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
