"""Lightning data: shards -> cached tracks -> per-epoch augmented sequences -> curriculum windows."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from arvr_hybrid_vio.core.dataset import list_shards, load_shard
from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.job_pool import run_jobs
from arvr_hybrid_vio.core.model.encoders import flow_summary
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.visual_tracks import Intrinsics
from arvr_hybrid_vio.core.training.config import AugmentConfig, TrainConfig, curriculum_stage
from arvr_hybrid_vio.core.training.sequences import (
    SequenceArrays, build_sequence, cache_tracks, check_dims, served_frame_rates_hz,
)

LOGGER = logging.getLogger(__name__)
SHARD_KEEP = ("image_stamps_ns", "imu_stamps_ns", "gyro", "accel", "gt_stamps_ns", "gt_positions_xyz", "gt_quats_wxyz",
              "gt_velocity_xyz")


class WindowDataset(Dataset):
    """Fixed-length windows ``(sequence, start)`` of per-frame arrays."""

    def __init__(self, sequences: list[SequenceArrays], windows: list[tuple[int, int]], length: int) -> None:
        self.sequences, self.windows, self.length = sequences, windows, length

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        seq_index, start = self.windows[index]
        seq, span = self.sequences[seq_index], slice(start, start + self.length)
        return {name: torch.from_numpy(getattr(seq, name)[span]) for name in
                ("tracks", "inertial", "context", "dp_gc", "dt", "target_dp", "rot_error", "true_rotation")}


def _light_shard(shard: dict[str, Any]) -> dict[str, Any]:
    """The arrays training needs after tracks are cached; images become 16x16 placeholders."""
    light = {key: shard[key] for key in SHARD_KEEP}
    light["images"] = np.zeros((len(shard["image_stamps_ns"]), 16, 16), np.uint8)
    return light


def train_shard_paths(config: TrainConfig) -> list[Path]:
    """The training shards ``config`` trains on (``limit_train_sequences`` applied), in their seed order."""
    paths = list_shards(Path(config.dataset_root), "train")
    return paths[:config.limit_train_sequences] if config.limit_train_sequences else paths


def track_cache_path(config: TrainConfig, shard_path: Path) -> Path:
    """Where a training shard's feature tracks are cached."""
    return Path(config.cache_dir) / "train" / f"{shard_path.stem}.tracks.npz"


def _cache_shard(job: tuple[TrainConfig, ModelConfig, AugmentConfig, int, Path]) -> str:
    config, model_config, augment, index, path = job
    cache_tracks(load_shard(path), track_cache_path(config, path), Intrinsics(*model_config.intrinsics),
                 model_config.tracks, augment, seed=config.seed + index)
    return path.stem


def prepare_track_caches(config: TrainConfig, model_config: ModelConfig, augment: AugmentConfig, *,
                         workers: int) -> int:
    """Compute every training shard's track cache that is missing or stale, in ``workers`` processes, with a
    progress bar; the caches are exactly those ``VioDataModule.setup`` would compute (same seeds). Returns the
    number of shards. Two trainings started after it share the caches instead of each computing them."""
    paths = train_shard_paths(config)
    jobs = [(config, model_config, augment, index, path) for index, path in enumerate(paths)]
    run_jobs(_cache_shard, jobs, workers=workers, desc="track caches", unit="shard")
    return len(paths)


def normalisation_stats(sequences: list[SequenceArrays]) -> dict[str, torch.Tensor]:
    """Input and output scales from clean training sequences (stored in the network's buffers)."""
    inertial = np.concatenate([s.inertial for s in sequences])
    velocity = np.concatenate([(s.target_dp - s.dp_gc) / s.dt[:, None] for s in sequences])
    tracks = np.concatenate([s.tracks.reshape(-1, s.tracks.shape[-1]) for s in sequences])
    valid = tracks[:, 5] > 0
    flow_std = float(tracks[valid, 2:4].std()) if valid.any() else 1.0
    scale = np.array([1.0, 1.0, 1.0 / max(flow_std, 1e-4), 1.0 / max(flow_std, 1e-4), 1.0, 1.0], np.float32)
    return {"inertial_mean": torch.tensor(inertial.mean(0)), "inertial_std": torch.tensor(inertial.std(0) + 1e-3),
            "track_scale": torch.tensor(scale), "velocity_mean": torch.tensor(velocity.mean(0)),
            "velocity_std": torch.tensor(velocity.std(0) + 1e-3)}


def visual_velocity_init(sequences: list[SequenceArrays], stats: dict[str, torch.Tensor],
                         config: ModelConfig) -> dict[str, torch.Tensor]:
    """Least-squares weights of the network's ``visual_velocity`` path on clean training sequences.

    Fits the body velocity (m/s) as ``W [flow summary, mean angular rate] + b`` (both as the network
    sees them: tracks scaled by ``track_scale``, angular rate normalised), then removes the
    component along the camera's optical axis: along it the flow only expands, which the fit maps
    to speed through the training rooms' depths and does not transfer. The result is expressed in
    the network's normalised velocity units (``velocity_mean``, ``velocity_std``).
    Returns ``{"weight": (3, FLOW_SUMMARY_DIM + 3), "bias": (3,)}``.
    """
    features, targets = [], []
    for seq in sequences:
        summary = flow_summary(torch.from_numpy(seq.tracks) * stats["track_scale"]).double()
        rate = (torch.from_numpy(seq.inertial[:, 0:3]) - stats["inertial_mean"][0:3]) / stats["inertial_std"][0:3]
        features.append(torch.cat([summary, rate.double()], dim=-1))
        targets.append(torch.from_numpy((seq.target_dp - seq.dp_gc) / seq.dt[:, None]).double())
    design = torch.cat(features)
    design = torch.cat([design, torch.ones(len(design), 1, dtype=torch.float64)], dim=-1)
    solution = torch.linalg.lstsq(design, torch.cat(targets)).solution.T  # (3, FLOW_SUMMARY_DIM + 3 + 1)
    axis = torch.from_numpy(config.optical_axis_imu)
    across = torch.eye(3, dtype=torch.float64) - torch.outer(axis, axis)
    weight = across @ solution[:, :-1]
    bias = across @ (solution[:, -1] - stats["velocity_mean"].double())
    scale = 1.0 / stats["velocity_std"].double()
    return {"weight": (scale[:, None] * weight).float(), "bias": (scale * bias).float()}


class VioDataModule(L.LightningDataModule):
    """Training shards with cached tracks; a fresh augmented draw and curriculum stage every epoch."""

    def __init__(self, config: TrainConfig, model_config: ModelConfig, augment: AugmentConfig) -> None:
        super().__init__()
        self.config, self.model_config, self.augment = config, model_config, augment
        self.train_shards: list[tuple[str, dict[str, Any], dict[str, np.ndarray]]] = []
        self.val_paths: list[Path] = []
        self.stats: dict[str, torch.Tensor] = {}
        self.visual_velocity: dict[str, torch.Tensor] | None = None  # least-squares init of that path
        self.total_frames = 0
        self.frame_rates_hz: tuple[float, ...] = ()  # camera rates whose intervals training serves

    def setup(self, stage: str | None = None) -> None:
        """Load training shards, cache their tracks, compute normalisation statistics."""
        if self.train_shards:
            return
        root = Path(self.config.dataset_root)
        paths = train_shard_paths(self.config)
        self.val_paths = list_shards(root, "val")
        if self.config.limit_val_sequences:
            self.val_paths = self.val_paths[:self.config.limit_val_sequences]
        if not paths or not self.val_paths:
            raise ConfigError(f"{root}: needs train and val shards (make them with arvr-vio-dataset)")
        rates_hz: set[float] = set()
        for index, path in enumerate(paths):
            shard = load_shard(path)
            tracks = cache_tracks(shard, track_cache_path(self.config, path), Intrinsics(*self.model_config.intrinsics),
                                  self.model_config.tracks, self.augment, seed=self.config.seed + index)
            self.train_shards.append((path.stem, _light_shard(shard), tracks))
            rates_hz |= served_frame_rates_hz(shard["image_stamps_ns"], self.augment)
            LOGGER.info("tracks ready for %s (%d/%d)", path.stem, index + 1, len(paths))
        self.frame_rates_hz = tuple(sorted(rates_hz))
        clean = self._sequences(None)
        self.total_frames = sum(len(s) for s in clean)
        self.stats = normalisation_stats(clean)
        self.visual_velocity = visual_velocity_init(clean, self.stats, self.model_config) \
            if self.model_config.visual_velocity else None

    def _sequences(self, rng: np.random.Generator | None) -> list[SequenceArrays]:
        sequences = []
        for name, shard, tracks in self.train_shards:
            arrays = build_sequence(name, shard, tracks, rng or np.random.default_rng(0),
                                    self.augment if rng is not None else None,
                                    gravity_m_s2=self.model_config.gravity_m_s2,
                                    network_tracks=self.model_config.network_tracks)
            check_dims(arrays)
            sequences.append(arrays)
        return sequences

    def windows_per_epoch(self, epoch: int) -> int:
        """Number of windows drawn in ``epoch`` (before the motion-quantile filter)."""
        length = self.config.curriculum_windows[curriculum_stage(self.config, epoch)]
        return max(1, int(self.config.passes_per_epoch * self.total_frames / length))

    def train_dataloader(self) -> DataLoader:
        """Windows of this epoch's curriculum stage from a fresh augmented draw (seeded by epoch)."""
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        stage = curriculum_stage(self.config, epoch)
        length = self.config.curriculum_windows[stage]
        rng = np.random.default_rng([self.config.seed, epoch])
        sequences = self._sequences(rng)
        windows = _draw_windows(sequences, length, self.windows_per_epoch(epoch), rng,
                                self.config.curriculum_quantile[stage])
        LOGGER.info("epoch %d: curriculum stage %d, %d windows of %d frames", epoch, stage, len(windows), length)
        generator = torch.Generator().manual_seed(self.config.seed * 1000 + epoch)
        return DataLoader(WindowDataset(sequences, windows, length), batch_size=self.config.batch_size,
                          shuffle=True, generator=generator, num_workers=0, drop_last=True)


def _draw_windows(sequences: list[SequenceArrays], length: int, count: int, rng: np.random.Generator,
                  quantile: float) -> list[tuple[int, int]]:
    """Random window starts, keeping the calmest ``quantile`` of windows by mean motion magnitude."""
    candidates = [(i, start) for i, seq in enumerate(sequences) for start in range(0, len(seq) - length + 1)]
    picks = rng.choice(len(candidates), size=min(count * 2, len(candidates)), replace=False)
    chosen = [candidates[p] for p in picks]
    if quantile < 1.0:
        motion = np.array([sequences[i].context[s:s + length, 0].mean() for i, s in chosen])
        chosen = [w for w, m in zip(chosen, motion) if m <= np.quantile(motion, quantile)]
    return chosen[:count]
