"""Training shards and the dataset recipe (train / val / test synthetic sequences).

A shard is one compressed ``.npz`` per sequence (``<root>/<split>/<name>.npz``):

=====================  ===============  ==============================================
key                    shape / dtype    meaning
=====================  ===============  ==============================================
images                 (F, H, W) uint8  mono8 frames
image_stamps_ns        (F,) int64       camera stamps (true time + time offset)
imu_stamps_ns          (M,) int64       IMU stamps
gyro, accel            (M, 3) float64   measured (noisy, biased), body frame
gyro_true, accel_true  (M, 3) float64   exact
gyro_bias, accel_bias  (M, 3) float64   true biases
gt_stamps_ns           (M,) int64       = imu_stamps_ns
gt_positions_xyz       (M, 3) float64   body (IMU) in world, m (world z up)
gt_quats_wxyz          (M, 4) float64   R_world_body
gt_velocity_xyz        (M, 3) float64   world, m/s
intrinsics             (3, 3) float64   K
distortion             (4,) float64     radtan k1 k2 p1 p2
T_body_cam             (4, 4) float64   optical camera frame into body
time_offset_ns         () int64         camera stamp minus true exposure time
seed                   () int64         generation seed
config_json            () str           the full SynthConfig as JSON
=====================  ===============  ==============================================

The recipe (``config/dataset.yaml``, section ``dataset``) lists sequences per split;
:func:`validate_recipe` enforces disjoint seeds and motions between splits.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from arvr_hybrid_vio.core.config_io import config_to_mapping, load_section
from arvr_hybrid_vio.core.errors import ConfigError, SensorDataError
from arvr_hybrid_vio.core.synth.camera import CameraConfig
from arvr_hybrid_vio.core.synth.imu import ImuConfig
from arvr_hybrid_vio.core.synth.photometric import PhotometricConfig
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, SynthSequence

SPLITS = ("train", "val", "test")
SHARD_KEYS = ("images", "image_stamps_ns", "imu_stamps_ns", "gyro", "accel", "gt_stamps_ns", "gt_positions_xyz",
              "gt_quats_wxyz", "intrinsics", "T_body_cam")


@dataclass(frozen=True)
class SequenceSpec:
    """One sequence of the recipe."""

    name: str = ""  # unique shard name
    motion: str = "head"  # procedural preset, unused when trajectory_file is set
    trajectory_file: str = ""  # TUM/EuRoC file (relative paths: to the repository root)
    trajectory_start_s: float = 0.0  # skip this much of the file, s
    duration_s: float = 30.0  # length, s
    seed: int = 0  # generation seed (unique across the recipe)
    time_offset_s: float = 0.0  # camera-IMU time offset, s
    blur_samples: int = 1  # sub-exposures for motion blur (1: none)


@dataclass(frozen=True)
class DatasetRecipe:
    """Sensor settings shared by all sequences, and the sequences per split."""

    imu_rate_hz: float = 200.0  # IMU rate, Hz
    camera_rate_hz: float = 30.0  # camera rate, Hz
    train_camera_rate_hz: float = 0.0  # the training split's camera rate, Hz (0: camera_rate_hz)
    width: int = 160  # image width, px
    height: int = 128  # image height, px
    test_bag_storage: str = "sqlite3"  # storage of the rosbag2 written per test sequence (sqlite3|mcap)
    train: tuple[SequenceSpec, ...] = field(default_factory=tuple)  # training sequences
    val: tuple[SequenceSpec, ...] = field(default_factory=tuple)  # validation sequences
    test: tuple[SequenceSpec, ...] = field(default_factory=tuple)  # held-out test sequences


def load_recipe(path: str | Path) -> DatasetRecipe:
    """Read and validate the ``dataset`` section of a recipe file; resolve trajectory paths.

    Raises:
        ConfigError: unreadable file, unknown keys, or splits that are not disjoint.
    """
    recipe = load_section(path, "dataset", DatasetRecipe)
    root = Path(path).resolve().parent.parent
    resolved = {split: tuple(_resolve(spec, root) for spec in getattr(recipe, split)) for split in SPLITS}
    recipe = replace(recipe, **resolved)
    validate_recipe(recipe, where=str(path))
    return recipe


def _resolve(spec: SequenceSpec, root: Path) -> SequenceSpec:
    if not spec.trajectory_file or Path(spec.trajectory_file).is_absolute():
        return spec
    return replace(spec, trajectory_file=str(root / spec.trajectory_file))


def validate_recipe(recipe: DatasetRecipe, *, where: str = "recipe") -> None:
    """Names unique; seeds, motion realisations and trajectory files disjoint between splits.

    Raises:
        ConfigError: naming the offending sequence.
    """
    names = [spec.name for split in SPLITS for spec in getattr(recipe, split)]
    duplicates = sorted({n for n in names if names.count(n) > 1 or not n})
    if duplicates:
        raise ConfigError(f"{where}: sequence names must be unique and non-empty: {duplicates}")
    if not recipe.train_camera_rate_hz >= 0.0 or not recipe.camera_rate_hz > 0.0:
        raise ConfigError(f"{where}: camera_rate_hz must be > 0 and train_camera_rate_hz >= 0 (0: camera_rate_hz)")
    if recipe.test_bag_storage not in ("sqlite3", "mcap"):
        raise ConfigError(f"{where}: test_bag_storage must be sqlite3 or mcap")
    for i, first in enumerate(SPLITS):
        for second in SPLITS[i + 1:]:
            _check_disjoint(getattr(recipe, first), getattr(recipe, second), f"{where}: {first}/{second}")


def _check_disjoint(a: tuple[SequenceSpec, ...], b: tuple[SequenceSpec, ...], where: str) -> None:
    shared_seeds = {s.seed for s in a} & {s.seed for s in b}
    if shared_seeds:
        raise ConfigError(f"{where} share seeds {sorted(shared_seeds)}; held-out data must use new seeds")
    shared_files = {s.trajectory_file for s in a if s.trajectory_file} & {s.trajectory_file for s in b}
    if shared_files:
        raise ConfigError(f"{where} share trajectory files {sorted(shared_files)}")


def synth_config(recipe: DatasetRecipe, spec: SequenceSpec, *, split: str) -> SynthConfig:
    """The SynthConfig of one recipe sequence of ``split``."""
    motion = MotionConfig(motion=spec.motion, trajectory_file=spec.trajectory_file,
                          trajectory_start_s=spec.trajectory_start_s, duration_s=spec.duration_s)
    rate_hz = recipe.camera_rate_hz
    if split == "train" and recipe.train_camera_rate_hz > 0:
        rate_hz = recipe.train_camera_rate_hz
    camera = CameraConfig(width=recipe.width, height=recipe.height, rate_hz=rate_hz)
    return SynthConfig(motion=motion, imu=ImuConfig(rate_hz=recipe.imu_rate_hz), camera=camera,
                       photometric=PhotometricConfig(blur_samples=spec.blur_samples),
                       time_offset_s=spec.time_offset_s)


def shard_path(root: str | Path, split: str, name: str) -> Path:
    """Where the shard of a sequence lives."""
    return Path(root) / split / f"{name}.npz"


def shard_config_json(config: SynthConfig) -> str:
    """How a shard stores the SynthConfig it was rendered with (``config_json``)."""
    return json.dumps(config_to_mapping(config))


def shard_rendered_with(path: str | Path, config: SynthConfig, seed: int) -> bool:
    """Whether the shard at ``path`` exists, is readable, and was rendered with ``config`` and ``seed`` (its two
    small members are read, not the images)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as shard:
            stored, stored_seed = str(shard["config_json"]), int(shard["seed"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    return stored_seed == seed and stored == shard_config_json(config)


def write_shard(sequence: SynthSequence, path: str | Path) -> Path:
    """Write a sequence as a compressed npz, atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial.npz")
    arrays = {key: getattr(sequence, key) for key in (
        "images", "image_stamps_ns", "imu_stamps_ns", "gyro", "accel", "gyro_true", "accel_true", "gyro_bias",
        "accel_bias", "gt_positions_xyz", "gt_quats_wxyz", "gt_velocity_xyz", "intrinsics", "distortion",
        "T_body_cam")}
    np.savez_compressed(
        tmp, **arrays, gt_stamps_ns=sequence.imu_stamps_ns,
        time_offset_ns=np.int64(round(sequence.config.time_offset_s * 1e9)), seed=np.int64(sequence.seed),
        config_json=np.array(shard_config_json(sequence.config)))
    os.replace(tmp, path)
    return path


def load_shard(path: str | Path) -> dict[str, Any]:
    """All arrays of a shard as a dict (``config`` holds the parsed config JSON).

    Raises:
        SensorDataError: missing, unreadable or incomplete shard.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            shard = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SensorDataError(f"{path}: cannot read shard ({type(exc).__name__}: {exc})") from exc
    missing = [key for key in SHARD_KEYS if key not in shard]
    if missing:
        raise SensorDataError(f"{path}: shard lacks {missing}")
    shard["config"] = json.loads(str(shard.pop("config_json")))
    return shard


def list_shards(root: str | Path, split: str) -> list[Path]:
    """Sorted shard files of a split (partial files excluded)."""
    folder = Path(root) / split
    return sorted(p for p in folder.glob("*.npz") if not p.name.endswith(".partial.npz"))
