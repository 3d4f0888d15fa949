"""The command line every per-shard study takes: ``SHARD.npz [SHARD.npz ...] [--model PATH]``.

The studies run as scripts (``python scripts/studies/<study>.py``), so this sibling module is
importable from them as ``study_arguments``.
"""
import argparse

DEFAULT_MODEL = "models/hybrid.safetensors"


def parse_study_arguments(doc: str) -> argparse.Namespace:
    """``shards`` (list of paths as given) and ``model`` (a model file or ``imu-only``); the help text
    is the first line of the study's docstring ``doc``."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("shards", nargs="+")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    return parser.parse_args()
