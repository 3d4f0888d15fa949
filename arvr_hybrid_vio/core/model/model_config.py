"""The architecture of a VIO network: the config every model file carries (torch-free).

Kept apart from ``network`` so that what needs only the config (the visual front-end in a
bag reader process, reading a model file's header) does not import torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.model.camera_input import TRAINING_CAMERA_ROTATION
from arvr_hybrid_vio.core.model.inputs import NOMINAL_FRAME_S
from arvr_hybrid_vio.core.model.visual_tracks import TrackConfig, derotated

FAMILIES = ("hybrid", "multihead", "lstm", "transformer")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a VIO network (stored in every model file)."""

    family: str = "hybrid"  # hybrid | multihead | lstm | transformer
    visual_dim: int = 512  # visual token width
    inertial_dim: int = 256  # inertial token width
    width: int = 256  # stream and head width
    lstm_layers: int = 2  # LSTM depth
    dropout: float = 0.1  # dropout of LSTM and Transformer
    transformer_layers: int = 3  # Transformer depth
    heads: int = 8  # attention heads
    window: int = 32  # tokens a Transformer query sees (itself included)
    ffn: int = 1024  # Transformer feed-forward width
    conv_kernels: tuple[int, ...] = (7, 11, 15)  # multi-scale causal convolution kernels
    conv_branch: int = 128  # channels per convolution branch
    fusion: str = "learned"  # learned (smooth gate, rule-initialised) | hard (the seed's rule)
    tracks: TrackConfig = field(default_factory=TrackConfig)  # feature tracking settings
    intrinsics: tuple[float, ...] = (80.0, 80.0, 79.5, 63.5)  # fx, fy, cx, cy of the training camera, px
    image_size: tuple[int, ...] = (160, 128)  # width, height of the training camera, px
    # R_imu_camera of the training camera, row-major: the synthetic rig's optical camera looking
    # forward (IMU +x), tilted 10 deg down (core.synth.camera.CameraConfig's default mount).
    camera_rotation_imu: tuple[float, ...] = TRAINING_CAMERA_ROTATION
    # Feed the flow left after removing the gyro-predicted camera rotation (visual_tracks.derotated).
    derotate_tracks: bool = False
    # Give the visual encoder and the heads the robust flow summary (encoders.flow_summary) as well.
    track_summary: bool = False
    # A linear path from [flow summary, mean angular rate] to the velocity, initialised by least squares
    # on the training data (``visual_velocity_init``) and trained with the rest. Needs track_summary.
    visual_velocity: bool = False
    # Scale the tracks' displacements to one training frame period (x NOMINAL_FRAME_S / dt), so that the
    # flow means the same at any camera rate and over a dropped frame (``network_tracks``).
    flow_per_nominal_frame: bool = False
    gravity_m_s2: float = 9.81  # gravity magnitude the inputs assume, m/s^2
    # Camera rates (Hz) whose frame intervals the network saw in training: written by arvr-vio-train from the
    # training shards' rate and augment.frame_stride_probs (30 Hz shards, every image: 30). The estimator warns
    # when frames reach the network well outside their span (learned_motion.OFF_RATE_RATIO).
    trained_frame_rates_hz: tuple[float, ...] = (1.0 / NOMINAL_FRAME_S,)

    @property
    def mount(self) -> np.ndarray:
        """(3, 3) R_imu_camera of the training camera."""
        return np.asarray(self.camera_rotation_imu, dtype=np.float64).reshape(3, 3)

    def camera_rotation(self, body_rotation_prev_cur: np.ndarray) -> np.ndarray:
        """The training camera's rotation (camera axes) for a body (IMU) rotation between frames."""
        return self.mount.T @ np.asarray(body_rotation_prev_cur, dtype=np.float64) @ self.mount

    def network_tracks(self, tracks: np.ndarray, body_rotation_prev_cur: np.ndarray, dt_s: float) -> np.ndarray:
        """The tracks of a frame interval as this network takes them, online and in training.

        ``body_rotation_prev_cur``: the gyro's body rotation over the interval; ``dt_s``: its length.
        Derotated when ``derotate_tracks``; displacements per training frame period when
        ``flow_per_nominal_frame``; else the tracks themselves.
        Shape: (N, TRACK_CHANNELS), (3, 3), scalar -> (N, TRACK_CHANNELS) float32.
        """
        if self.derotate_tracks:
            tracks = derotated(tracks, self.camera_rotation(body_rotation_prev_cur))
        if self.flow_per_nominal_frame:  # a copy unless ``derotated`` just made one (float32 already)
            tracks = np.array(tracks, dtype=np.float32, copy=not self.derotate_tracks)
            tracks[:, 2:4] *= np.float32(NOMINAL_FRAME_S / max(dt_s, 1e-3))
        return tracks

    def __post_init__(self) -> None:
        if self.visual_velocity and not self.track_summary:
            raise ConfigError("model.visual_velocity needs model.track_summary: true")
        if not self.trained_frame_rates_hz or min(self.trained_frame_rates_hz) <= 0.0:
            raise ConfigError(f"model.trained_frame_rates_hz must be rates > 0, "
                              f"got {list(self.trained_frame_rates_hz)}")

    @property
    def optical_axis_imu(self) -> np.ndarray:
        """(3,) the training camera's viewing direction in the IMU (body) frame."""
        return self.mount[:, 2]

    @property
    def token_dim(self) -> int:
        """Width of a token (visual + inertial)."""
        return self.visual_dim + self.inertial_dim
