"""Typed training configuration (``config/train.yaml``, sections ``train`` and ``augment``)."""
from __future__ import annotations

from dataclasses import dataclass

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.model.model_config import FAMILIES

# The logged metric that picks the checkpoint exported: the geometric mean of the validation sequences' ATEs
# (core.training.module.validate_network says why not the arithmetic mean)
SELECTION_METRIC = "val_ate_geomean_m"


@dataclass(frozen=True)
class AugmentConfig:
    """AR/VR augmentations (images at track-caching time, the rest per epoch)."""

    photometric_prob: float = 0.5  # share of frames whose tracks come from photometrically augmented images
    brightness_gain: tuple[float, ...] = (0.6, 1.4)  # contrast gain range
    brightness_offset: float = 15.0  # std of the brightness offset, grey levels
    blur_sigma_max: float = 1.0  # largest Gaussian blur sigma, px
    noise_std_max: float = 4.0  # largest pixel noise std, grey levels
    gyro_bias_std: float = 2.0e-3  # std of an extra constant gyro bias per sequence, rad/s
    accel_bias_std: float = 2.0e-2  # std of an extra constant accel bias per sequence, m/s^2
    gyro_noise_std: float = 1.0e-3  # extra white gyro noise per sample, rad/s
    accel_noise_std: float = 1.0e-2  # extra white accel noise per sample, m/s^2
    drop_frame_prob: float = 0.03  # probability that an image is dropped
    # Per sequence and epoch, the replay keeps every k-th image (random phase), k = 1, 2, ... with these
    # probabilities: cameras at 1/k of the shards' rate. One entry (the default): every image, no draw.
    # A 60 Hz training split with [0.2, 0.4, 0.2, 0.2] trains 60 / 30 / 20 / 15 Hz intervals.
    frame_stride_probs: tuple[float, ...] = (1.0,)
    time_offset_jitter_s: float = 0.002  # camera-IMU offset error, uniform in +-this, s
    gravity_tilt_std_deg: float = 0.5  # tilt error of the gravity direction fed to the network, deg

    def __post_init__(self) -> None:
        probs = self.frame_stride_probs
        if not probs or min(probs) < 0.0 or abs(sum(probs) - 1.0) > 1e-6:
            raise ConfigError(f"augment.frame_stride_probs must be >= 0 and sum to 1, got {list(probs)}")

    def drawn_strides(self) -> tuple[int, ...]:
        """The image strides the replay can draw (those with a probability above 0)."""
        return tuple(k + 1 for k, p in enumerate(self.frame_stride_probs) if p > 0.0)


@dataclass(frozen=True)
class TrainConfig:
    """What to train, on what, for how long."""

    family: str = "hybrid"  # hybrid | multihead | lstm | transformer
    model_config: str = "config/model.yaml"  # ROS parameter file with the `model` section
    dataset_root: str = "data_out/dataset"  # shards: <root>/<split>/<name>.npz
    cache_dir: str = "data_out/features"  # cached feature tracks
    out_dir: str = "data_out/training"  # checkpoints and logs, one folder per family
    models_dir: str = "models"  # where the trained model file is exported
    epochs: int = 20  # training epochs
    batch_size: int = 16  # windows per batch
    learning_rate: float = 1.0e-3  # peak AdamW learning rate
    weight_decay: float = 1.0e-4  # AdamW weight decay
    warmup_epochs: float = 1.0  # linear warm-up, then cosine decay to 5 %
    curriculum_epochs: tuple[int, ...] = (4, 10)  # epochs where the next curriculum stage begins
    curriculum_windows: tuple[int, ...] = (16, 32, 64)  # window length (frames) per stage
    curriculum_quantile: tuple[float, ...] = (0.6, 1.0, 1.0)  # keep windows up to this motion quantile per stage
    passes_per_epoch: float = 1.0  # windows per epoch, as multiples of the frames in the data
    translation_offset_m: float = 0.005  # c of the scale-aware loss |e| / (|dp| + c), m
    integrated_weight: float = 0.0  # weight of the window-integrated translation loss (0: off)
    integrated_offset_m: float = 0.01  # c of its scale-aware form |E| / (|P| + c), m
    rotation_weight: float = 1.0  # weight of the geodesic rotation loss
    freeze_visual_velocity: bool = False  # keep model.visual_velocity at its least-squares start (not trained)
    nll_weight: float = 0.1  # weight of the Gaussian NLL of the variances
    seed: int = 7  # seeds torch, numpy and the augmentations
    torch_threads: int = 1  # intra-op threads on CPU
    accelerator: str = "auto"  # Lightning accelerator: auto | cpu | gpu
    devices: int = 1  # devices (GPUs) for Lightning; >1 uses DDP
    strategy: str = "auto"  # auto: DDP when devices > 1; ddp: DDP also on one device (NCCL on GPUs, gloo on CPU)
    limit_train_sequences: int = 0  # use only the first N training sequences (0: all), for tests
    limit_val_sequences: int = 0  # use only the first N validation sequences (0: all)
    val_max_frames: int = 0  # validate on at most this many frames per sequence (0: all)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"train.family must be one of {FAMILIES}, got {self.family!r}")
        stages = len(self.curriculum_windows)
        if len(self.curriculum_epochs) != stages - 1 or len(self.curriculum_quantile) != stages:
            raise ConfigError("train: curriculum_epochs needs one entry fewer than curriculum_windows and "
                              "curriculum_quantile")
        if self.strategy not in ("auto", "ddp"):
            raise ConfigError(f"train.strategy must be auto or ddp, got {self.strategy!r}")
        if self.epochs < 1 or self.batch_size < 1 or min(self.curriculum_windows) < 2:
            raise ConfigError("train: epochs, batch_size must be >= 1 and windows >= 2")


def curriculum_stage(config: TrainConfig, epoch: int) -> int:
    """Index of the curriculum stage at ``epoch`` (0-based)."""
    return sum(epoch >= start for start in config.curriculum_epochs)


def learning_rate_factor(step: int, *, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0.05 (a pure function of the step)."""
    import math
    if step < warmup_steps:
        return (step + 1) / max(warmup_steps, 1)
    progress = min(1.0, (step - warmup_steps) / max(total_steps - warmup_steps, 1))
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))
