"""arvr-vio-train: train a VIO network on the synthetic dataset and export it as a model file.

    arvr-vio-train --config config/train.yaml [--model hybrid|multihead|lstm|transformer] [--resume] [--workers N]
    arvr-vio-train --config config/train.yaml --cache-only --workers 2   # the track caches alone, shared by later runs

Checkpoints (with both configs inside) go to ``<out_dir>/<name>/checkpoints`` (name: the family, or
``hybrid_hard`` with ``--fusion hard``); ``--resume``
continues from ``last.ckpt``. At the end the best checkpoint by validation ATE is exported to
``<models_dir>/<name>.safetensors`` with the training summary in its metadata.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from arvr_hybrid_vio.core.config_io import config_to_mapping, load_section
from arvr_hybrid_vio.core.errors import ConfigError, VioError
from arvr_hybrid_vio.core.model.model_config import FAMILIES, ModelConfig

LOGGER = logging.getLogger("arvr_vio_train")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="arvr-vio-train", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="config/train.yaml", help="ROS parameter file with `train`/`augment`")
    parser.add_argument("--model", choices=FAMILIES, help="model family (overrides train.family)")
    parser.add_argument("--fusion", choices=("learned", "hard"),
                        help="hybrid only: override model.fusion; 'hard' (the seed's rule, the ablation) "
                             "writes <family>_hard")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--resume", action="store_true", help="continue from <out_dir>/<family>/checkpoints/last.ckpt")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes computing the training shards' track caches before training (default 1)")
    parser.add_argument("--cache-only", action="store_true",
                        help="compute the track caches and stop (then start several trainings that share them)")
    return parser.parse_args(argv)


def load_configs(args: argparse.Namespace) -> tuple[Any, Any, ModelConfig]:
    """TrainConfig, AugmentConfig and ModelConfig from the files, with command-line overrides."""
    from arvr_hybrid_vio.core.training.config import AugmentConfig, TrainConfig
    train = load_section(args.config, "train", TrainConfig)
    overrides = {k: v for k, v in (("family", args.model), ("epochs", args.epochs)) if v is not None}
    train = dataclasses.replace(train, **overrides)
    augment = load_section(args.config, "augment", AugmentConfig)
    model = dataclasses.replace(load_section(train.model_config, "model", ModelConfig), family=train.family)
    if args.fusion is not None:
        if train.family != "hybrid":
            raise ConfigError(f"--fusion applies to the hybrid only (its motion-aware fusion), not {train.family}")
        model = dataclasses.replace(model, fusion=args.fusion)
    return train, augment, model


def run_name(model: ModelConfig) -> str:
    """Name of the run folder and the model file: the family, with ``_hard`` for the hard-rule ablation."""
    return model.family if model.fusion == "learned" or model.family != "hybrid" else f"{model.family}_{model.fusion}"


def _timing(path: Path, seconds: float, frames: int) -> dict[str, Any]:
    """Accumulate wall time over resumed runs in ``timing.json``."""
    previous = json.loads(path.read_text()) if path.is_file() else {"runs": []}
    previous["runs"].append({"wall_s": round(seconds, 1), "train_frames": frames, "finished": time.strftime("%FT%TZ")})
    previous["total_wall_s"] = round(sum(r["wall_s"] for r in previous["runs"]), 1)
    path.write_text(json.dumps(previous, indent=2))
    return previous


def train(args: argparse.Namespace) -> Path | None:
    """Fit, then export the best checkpoint; the model file path (None with ``--cache-only`` and on DDP ranks
    other than 0)."""
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger

    from arvr_hybrid_vio.core.training.config import SELECTION_METRIC
    from arvr_hybrid_vio.core.training.data import VioDataModule
    from arvr_hybrid_vio.core.training.export import export_checkpoint
    from arvr_hybrid_vio.core.training.module import TrajectoryValidation, VioLightningModule

    train_cfg, augment, model_cfg = load_configs(args)
    started = time.monotonic()
    if args.cache_only or args.workers > 1:
        from arvr_hybrid_vio.core.training.data import prepare_track_caches
        shards = prepare_track_caches(train_cfg, model_cfg, augment, workers=args.workers)
        LOGGER.info("track caches of %d training shards ready in %s", shards, Path(train_cfg.cache_dir) / "train")
        if args.cache_only:
            return None
    L.seed_everything(train_cfg.seed, workers=True)
    if train_cfg.torch_threads > 0:
        torch.set_num_threads(train_cfg.torch_threads)
    data = VioDataModule(train_cfg, model_cfg, augment)
    data.setup("fit")
    # the model file says which camera rates it was trained at (the estimator's off-rate warning reads it)
    model_cfg = dataclasses.replace(model_cfg, trained_frame_rates_hz=data.frame_rates_hz)
    LOGGER.info("training frame intervals at %s Hz", ", ".join(f"{r:g}" for r in data.frame_rates_hz))
    total_steps = sum(data.windows_per_epoch(e) // train_cfg.batch_size for e in range(train_cfg.epochs))
    module = VioLightningModule(config_to_mapping(model_cfg), config_to_mapping(train_cfg), total_steps=total_steps)
    module.set_normalisation(data.stats, data.visual_velocity)
    run_dir = Path(train_cfg.out_dir) / run_name(model_cfg)
    checkpoints = ModelCheckpoint(dirpath=run_dir / "checkpoints", monitor=SELECTION_METRIC, mode="min", save_last=True,
                                  save_top_k=1, filename="best-{epoch:02d}", save_on_train_epoch_end=True)
    trainer = L.Trainer(
        max_epochs=train_cfg.epochs, accelerator=train_cfg.accelerator, devices=train_cfg.devices,
        strategy="ddp" if train_cfg.devices > 1 or train_cfg.strategy == "ddp" else "auto",
        reload_dataloaders_every_n_epochs=1,
        callbacks=[TrajectoryValidation(data.val_paths, max_frames=train_cfg.val_max_frames), checkpoints,
                   TQDMProgressBar(refresh_rate=10)],
        logger=CSVLogger(run_dir, name="logs"), log_every_n_steps=10, gradient_clip_val=1.0,
        num_sanity_val_steps=0, limit_val_batches=0, enable_model_summary=False)
    last = run_dir / "checkpoints" / "last.ckpt"
    trainer.fit(module, datamodule=data, ckpt_path=str(last) if args.resume and last.is_file() else None)
    model_path = Path(train_cfg.models_dir) / f"{run_name(model_cfg)}.safetensors"
    if not trainer.is_global_zero:  # under DDP, rank 0 alone writes the timing and the model file
        return None
    timing = _timing(run_dir / "timing.json", time.monotonic() - started, data.total_frames)
    best = Path(checkpoints.best_model_path) if checkpoints.best_model_path else last
    return export_checkpoint(best, model_path, extra={
        "train_frames": data.total_frames, "train_sequences": len(data.train_shards),
        "wall_s_total": timing["total_wall_s"], "epochs": train_cfg.epochs,
        "device": str(trainer.strategy.root_device), "devices": trainer.world_size,
        # the process group's backend under DDP ("nccl" on GPUs, "gloo" on CPUs); None without DDP
        "distributed_backend": getattr(trainer.strategy, "process_group_backend", None),
        "torch_threads": train_cfg.torch_threads})


def main(argv: list[str] | None = None) -> int:
    """Entry point of arvr-vio-train."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        path = train(args)
    except VioError as exc:
        print(f"arvr-vio-train: {exc}", file=sys.stderr)
        return 2
    if path is not None:  # None: --cache-only, or a DDP rank other than 0, which writes nothing
        LOGGER.info("model written to %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
