"""Dataset recipe: shards and test bags from one command, resumable, disjoint splits enforced."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from arvr_hybrid_vio.core.dataset import SHARD_KEYS, DatasetRecipe, SequenceSpec, list_shards, load_recipe, load_shard, synth_config, validate_recipe
from arvr_hybrid_vio.core.errors import ConfigError, SensorDataError
from arvr_hybrid_vio.core.synth.sequence import generate_sequence
from arvr_hybrid_vio.io.bags import iter_messages
from arvr_hybrid_vio.tools.dataset import main as dataset_main

REPO = Path(__file__).resolve().parents[1]
RECIPE = """/**:
  ros__parameters:
    dataset:
      width: 40
      height: 32
      train_camera_rate_hz: 60.0
      train:
        - {name: tr_walk, motion: walking, duration_s: 2.0, seed: 10}
        - {name: tr_sacc, motion: saccade, duration_s: 2.0, seed: 11, blur_samples: 2}
      val:
        - {name: va_head, motion: head, duration_s: 2.0, seed: 20}
      test:
        - {name: te_fr1, trajectory_file: test/data/trajectories/freiburg1_xyz-groundtruth.txt, trajectory_start_s: 1.0, duration_s: 1.5, seed: 30}
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ds")
    (root / "repo" / "config").mkdir(parents=True)
    (root / "repo" / "test").symlink_to(REPO / "test")  # relative trajectory paths resolve against the repo root
    recipe = root / "repo" / "config" / "dataset.yaml"
    recipe.write_text(RECIPE)
    out = root / "out"
    assert dataset_main(["--config", str(recipe), "--out", str(out), "--workers", "2"]) == 0
    return recipe, out


def test_recipe_writes_every_shard_and_the_test_bags(dataset) -> None:
    _, out = dataset
    assert [p.stem for p in list_shards(out, "train")] == ["tr_sacc", "tr_walk"]
    assert [p.stem for p in list_shards(out, "val")] == ["va_head"]
    shard = load_shard(out / "test" / "te_fr1.npz")
    assert set(SHARD_KEYS) <= set(shard)
    assert shard["images"].shape == (46, 32, 40) and shard["images"].dtype == np.uint8
    assert shard["imu_stamps_ns"].dtype == np.int64 and np.array_equal(shard["gt_stamps_ns"], shard["imu_stamps_ns"])
    assert shard["config"]["motion"]["trajectory_file"].endswith("freiburg1_xyz-groundtruth.txt")
    counts: dict[str, int] = {}
    for item in iter_messages(out / "bags" / "te_fr1"):
        counts[item.topic] = counts.get(item.topic, 0) + 1
    assert counts == {"/tf_static": 1, "/cam0/image_raw": 46, "/cam0/camera_info": 46, "/imu0": 301,
                      "/ground_truth/pose": 301}
    assert (out / "manifest.json").exists()
    periods_ns = {split: np.median(np.diff(load_shard(list_shards(out, split)[0])["image_stamps_ns"]))
                  for split in ("train", "val", "test")}  # train_camera_rate_hz: the training split alone at 60 Hz
    assert periods_ns["train"] == pytest.approx(1e9 / 60, rel=1e-3)
    assert periods_ns["val"] == pytest.approx(1e9 / 30, rel=1e-3) == periods_ns["test"]


def test_shards_are_the_generated_sequences(dataset) -> None:
    recipe_path, out = dataset
    recipe = load_recipe(recipe_path)
    spec = recipe.train[0]
    again = generate_sequence(synth_config(recipe, spec, split="train"), spec.seed)
    shard = load_shard(out / "train" / f"{spec.name}.npz")
    assert np.array_equal(shard["images"], again.images)
    assert np.array_equal(shard["gyro"], again.gyro) and np.array_equal(shard["gt_quats_wxyz"], again.gt_quats_wxyz)


def test_rerun_skips_existing_shards(dataset, caplog) -> None:
    recipe, out = dataset
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    with caplog.at_level("INFO"):
        assert dataset_main(["--config", str(recipe), "--out", str(out), "--workers", "1"]) == 0
    assert "0 sequence(s) generated" in caplog.text
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    (out / "val" / "va_head.npz").unlink()
    assert dataset_main(["--config", str(recipe), "--out", str(out), "--workers", "1", "--splits", "val"]) == 0
    assert (out / "val" / "va_head.npz").exists() and not list(out.rglob("*.partial*"))


def test_a_shard_rendered_with_other_settings_is_rendered_anew(dataset, tmp_path: Path, caplog) -> None:
    recipe, out = dataset
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    at_30_hz = recipe.with_name("dataset_30hz.yaml")  # beside it: the trajectory paths resolve the same
    at_30_hz.write_text(RECIPE.replace("      train_camera_rate_hz: 60.0\n", ""))
    val_written = (copy / "val" / "va_head.npz").stat().st_mtime_ns
    with caplog.at_level("INFO"):
        assert dataset_main(["--config", str(at_30_hz), "--out", str(copy), "--workers", "1"]) == 0
    assert "2 sequence(s) generated" in caplog.text and "rendered with other settings" in caplog.text
    period_ns = np.median(np.diff(load_shard(copy / "train" / "tr_walk.npz")["image_stamps_ns"]))
    assert period_ns == pytest.approx(1e9 / 30, rel=1e-3)  # the training split at the recipe's rate now
    assert (copy / "val" / "va_head.npz").stat().st_mtime_ns == val_written  # unchanged settings: kept


def test_shipped_recipe_is_valid_and_disjoint() -> None:
    recipe = load_recipe(REPO / "config" / "dataset.yaml")
    assert len(recipe.train) >= 8 and recipe.val and recipe.test
    seeds = [{s.seed for s in getattr(recipe, split)} for split in ("train", "val", "test")]
    assert not (seeds[0] & seeds[1] or seeds[0] & seeds[2] or seeds[1] & seeds[2])
    assert any(s.trajectory_file.endswith("freiburg1_xyz-groundtruth.txt") for s in recipe.test)
    files = [{s.trajectory_file for s in getattr(recipe, split) if s.trajectory_file} for split in ("train", "val", "test")]
    assert files[1] and not files[1] & files[2]  # validation has a real motion, from another recording
    assert not files[0] & (files[1] | files[2])  # training's real recordings are none of those held out


@pytest.mark.parametrize("train, test, words", [
    ((SequenceSpec(name="a", seed=1),), (SequenceSpec(name="b", seed=1),), "share seeds"),
    ((SequenceSpec(name="a", seed=1, trajectory_file="/x.txt"),), (SequenceSpec(name="b", seed=2, trajectory_file="/x.txt"),),
     "share trajectory files"),
    ((SequenceSpec(name="a", seed=1),), (SequenceSpec(name="a", seed=2),), "unique"),
])
def test_overlapping_splits_are_rejected(train, test, words) -> None:
    with pytest.raises(ConfigError, match=words):
        validate_recipe(DatasetRecipe(train=train, test=test))


def test_bad_recipe_exits_2(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("seed: 20", "seed: 10"))
    assert dataset_main(["--config", str(recipe), "--out", str(tmp_path / "out")]) == 2
    assert "share seeds" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_truncated_shard_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "x.npz"
    broken.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(SensorDataError, match="x.npz"):
        load_shard(broken)
