"""arvr-vio-dataset: generate the synthetic dataset of a recipe (shards, and a bag per test sequence).

Usage::

    arvr-vio-dataset --config config/dataset.yaml --out data_out/dataset [--workers 2] [--splits train val test]

Resumable: sequences whose shard (and, for test, bag) already exist, rendered with the recipe's settings, are
skipped; a shard rendered with other settings (another camera rate, size, duration, seed...) is rendered anew.
Shards go to ``OUT/<split>/<name>.npz``, test bags to ``OUT/bags/<name>/`` (rosbag2,
synthetic layout), and ``OUT/manifest.json`` lists them all.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from arvr_hybrid_vio.core.config_io import config_to_mapping
from arvr_hybrid_vio.core.dataset import (
    SPLITS, DatasetRecipe, SequenceSpec, load_recipe, shard_path, shard_rendered_with, synth_config, write_shard,
)
from arvr_hybrid_vio.core.errors import ConfigError, VioError
from arvr_hybrid_vio.core.job_pool import run_jobs
from arvr_hybrid_vio.core.synth.sequence import generate_sequence
from arvr_hybrid_vio.io.sensor_bags import streams_from_sequence, write_sensor_bag

LOG = logging.getLogger("arvr_vio_dataset")


def bag_path(out: Path, name: str) -> Path:
    """Where the test bag of a sequence lives."""
    return out / "bags" / name


def _job(args: tuple[DatasetRecipe, str, SequenceSpec, str]) -> str:
    """Generate one sequence, write its shard (and bag for test). Runs in a worker process."""
    recipe, split, spec, out = args
    sequence = generate_sequence(synth_config(recipe, spec, split=split), spec.seed)
    if split == "test":
        shutil.rmtree(bag_path(Path(out), spec.name), ignore_errors=True)  # a stale one's bag goes with it
        write_sensor_bag(bag_path(Path(out), spec.name), streams_from_sequence(sequence), storage=recipe.test_bag_storage)
    write_shard(sequence, shard_path(out, split, spec.name))
    return spec.name


def _check_trajectory_files(specs: Iterable[SequenceSpec]) -> None:
    """Raise before any work when a sequence to generate names a trajectory file that is not there.

    Raises:
        ConfigError: naming the files, and where the fetched ones come from.
    """
    missing = sorted({spec.trajectory_file for spec in specs if spec.trajectory_file
                      and not Path(spec.trajectory_file).is_file()})
    if missing:
        raise ConfigError(f"trajectory file(s) not found: {', '.join(missing)} (the real motions under "
                          "data_out/real_motions are fetched by arvr-vio-fetch-motions; `make dataset` runs it)")


def _pending(recipe: DatasetRecipe, out: Path, splits: Sequence[str]) -> list[tuple[DatasetRecipe, str, SequenceSpec, str]]:
    jobs = []
    for split in splits:
        for spec in getattr(recipe, split):
            path = shard_path(out, split, spec.name)
            done = shard_rendered_with(path, synth_config(recipe, spec, split=split), spec.seed)
            if path.is_file() and not done:
                LOG.info("%s: rendered with other settings than the recipe's, rendering it anew", path)
            if split == "test":
                done = done and (bag_path(out, spec.name) / "metadata.yaml").exists()
            if not done:
                jobs.append((recipe, split, spec, str(out)))
    return jobs


def _write_manifest(recipe: DatasetRecipe, out: Path, config_path: str) -> None:
    manifest = {
        "recipe": str(config_path), "settings": config_to_mapping(recipe),
        "shards": {split: [str(shard_path(out, split, s.name).relative_to(out)) for s in getattr(recipe, split)]
                   for split in SPLITS},
        "test_bags": [str(bag_path(out, s.name).relative_to(out)) for s in recipe.test],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


def run(recipe: DatasetRecipe, out: Path, *, splits: Sequence[str], workers: int, config_path: str) -> int:
    """Generate every missing sequence with ``workers`` processes; return how many were made."""
    jobs = _pending(recipe, out, splits)
    _check_trajectory_files(job[2] for job in jobs)
    # longest first so the pool finishes together
    jobs.sort(key=lambda job: -job[2].duration_s)
    out.mkdir(parents=True, exist_ok=True)
    run_jobs(_job, jobs, workers=workers, desc="sequences", unit="seq")
    _write_manifest(recipe, out, config_path)
    return len(jobs)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="arvr-vio-dataset", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="config/dataset.yaml", help="recipe file (ROS parameter YAML, section 'dataset')")
    parser.add_argument("--out", default="data_out/dataset", help="output folder")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits to generate")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        recipe = load_recipe(args.config)
        made = run(recipe, Path(args.out), splits=args.splits, workers=args.workers, config_path=args.config)
    except VioError as exc:
        print(f"arvr-vio-dataset: {exc}", file=sys.stderr)
        return 2
    LOG.info("%d sequence(s) generated, dataset complete in %s", made, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
