"""Compute the trial's track caches in two processes (shards i % 2 == part), exactly as VioDataModule.setup would."""
import sys
from pathlib import Path
import dataclasses
from arvr_hybrid_vio.core.config_io import load_section
from arvr_hybrid_vio.core.dataset import list_shards, load_shard
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.visual_tracks import Intrinsics
from arvr_hybrid_vio.core.training.config import AugmentConfig, TrainConfig
from arvr_hybrid_vio.core.training.sequences import cache_tracks
config, part = sys.argv[1], int(sys.argv[2])
train = load_section(config, "train", TrainConfig)
augment = load_section(config, "augment", AugmentConfig)
model = load_section(train.model_config, "model", ModelConfig)
fx, fy, cx, cy = model.intrinsics
for index, path in enumerate(list_shards(Path(train.dataset_root), "train")):
    if index % 2 == part:
        cache_tracks(load_shard(path), Path(train.cache_dir) / "train" / f"{path.stem}.tracks.npz",
                     Intrinsics(fx, fy, cx, cy), model.tracks, augment, seed=train.seed + index)
        print("cached", path.stem, flush=True)
