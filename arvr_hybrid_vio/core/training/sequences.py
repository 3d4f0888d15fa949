"""Training arrays of one sequence: cached feature tracks plus per-epoch augmented inertial inputs.

Visual tracks are computed once per shard (``cache_tracks``) with the estimator's own
``extract_tracks``: for each frame, tracks from the frame k back for each image stride k
training uses (``cached_strides``: 1, and 2 for dropped images, on the 30 Hz recipe), clean
and, for the strides drawn, on a photometrically augmented copy of both images
(brightness/contrast, blur, noise).

Each epoch, ``build_sequence`` replays the shard's IMU through the same
:class:`SyncBuffer` the node uses, with augmentations: IMU bias offsets and extra
white noise, a camera-IMU time-offset error, a camera at 1/k of the shard's rate
(``frame_stride_probs``), dropped frames, and a tilt error of the gravity direction.
Per synced frame it computes the network inputs with the estimator's ``inertial_inputs``
and the ground-truth targets. Clean sequences (``augment=None``) keep the images nearest
the networks' nominal 30 Hz (``nominal_stride``).
"""
from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from arvr_hybrid_vio.core.config_io import config_to_mapping
from arvr_hybrid_vio.core.geometry import so3_exp
from arvr_hybrid_vio.core.model.inputs import INERTIAL_DIM, NOMINAL_FRAME_S, inertial_inputs
from arvr_hybrid_vio.core.model.visual_tracks import TRACK_CHANNELS, Intrinsics, TrackConfig, extract_tracks
from arvr_hybrid_vio.core.strapdown import gravity_body
from arvr_hybrid_vio.core.sync_buffer import SyncConfig
from arvr_hybrid_vio.core.training.config import AugmentConfig
from arvr_hybrid_vio.core.training.replay import shard_frames

# The AugmentConfig fields that act on the images, so on the cached tracks (the others act per epoch)
IMAGE_AUGMENTS = ("brightness_gain", "brightness_offset", "blur_sigma_max", "noise_std_max")

# A model's ModelConfig.network_tracks: tracks, gyro body rotation (3, 3), interval s -> the network's tracks.
NetworkTracks = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class SequenceArrays:
    """Per-frame training arrays of one (augmented) sequence; F frames."""

    name: str  # shard name
    tracks: np.ndarray  # (F, N, TRACK_CHANNELS) float32
    inertial: np.ndarray  # (F, INERTIAL_DIM) float32
    context: np.ndarray  # (F, 3) float32 motion context
    dp_gc: np.ndarray  # (F, 3) float32 gravity-compensated IMU displacement, m
    dt: np.ndarray  # (F,) float32 interval, s
    target_dp: np.ndarray  # (F, 3) float32 true displacement in the previous body frame, m
    rot_error: np.ndarray  # (F, 3, 3) float32 R_gyro^T R_true of the interval
    true_rotation: np.ndarray  # (F, 3, 3) float32 true rotation of the interval, R_{k-1}^T R_k
    stamps_ns: np.ndarray  # (F,) int64 stamps of the frames (interval ends)

    def __len__(self) -> int:
        return int(self.dt.shape[0])


def _photometric(image: np.ndarray, rng: np.random.Generator, augment: AugmentConfig) -> np.ndarray:
    """Brightness/contrast change, Gaussian blur and noise. Shape: (H, W) uint8 -> (H, W) uint8."""
    out = image.astype(np.float32) * rng.uniform(*augment.brightness_gain) + rng.normal(0.0, augment.brightness_offset)
    sigma = rng.uniform(0.0, augment.blur_sigma_max)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out += rng.normal(0.0, rng.uniform(0.0, augment.noise_std_max), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def nominal_stride(image_stamps_ns: np.ndarray) -> int:
    """The image stride that brings the shard's camera nearest the networks' nominal rate (1/NOMINAL_FRAME_S):
    1 for a 30 Hz shard, 2 for a 60 Hz one. Clean sequences (normalisation, least-squares start) use it."""
    period_s = float(np.median(np.diff(image_stamps_ns))) * 1e-9 if len(image_stamps_ns) > 1 else NOMINAL_FRAME_S
    return max(1, round(NOMINAL_FRAME_S / period_s))


def served_frame_rates_hz(image_stamps_ns: np.ndarray, augment: AugmentConfig) -> set[float]:
    """The camera rates (Hz, to 0.1) whose frame intervals training serves from a shard: its rate over each
    drawn stride (augmented sequences) and over ``nominal_stride`` (clean ones). Empty below two images."""
    if len(image_stamps_ns) < 2:
        return set()
    rate_hz = 1e9 / float(np.median(np.diff(image_stamps_ns)))
    return {round(rate_hz / k, 1) for k in {*augment.drawn_strides(), nominal_stride(image_stamps_ns)}}


def cached_strides(augment: AugmentConfig, clean_stride: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Strides whose tracks training needs: (all, those also on augmented images).

    All: each drawn stride, twice it where images are dropped, and ``clean_stride``; augmented: the drawn ones.
    """
    drawn = augment.drawn_strides()
    every = set(drawn) | {clean_stride} | ({2 * k for k in drawn} if augment.drop_frame_prob > 0.0 else set())
    return tuple(sorted(every)), drawn


def cache_tracks(shard: dict[str, Any], path: Path, intrinsics: Intrinsics, track_config: TrackConfig,
                 augment: AugmentConfig, *, seed: int) -> dict[str, np.ndarray]:
    """Tracks of every frame from the frame k back, for each stride k training needs (``cached_strides``).

    Loads ``path`` when it holds tracks for the same settings and the same images (count, first and last stamp,
    a checksum of every sixteenth of them); computes and writes it otherwise.

    Shape: -> ``tracks{k}`` for every stride, ``tracks{k}_aug`` (on photometrically augmented images) for the
    drawn strides, each (F, N, TRACK_CHANNELS) float32 (frames before k: empty).
    """
    images, stamps = shard["images"], shard["image_stamps_ns"]
    strides, augmented = cached_strides(augment, nominal_stride(stamps))
    names = [f"tracks{k}" for k in strides] + [f"tracks{k}_aug" for k in augmented]
    image_augment = {name: value for name, value in config_to_mapping(augment).items() if name in IMAGE_AUGMENTS}
    # which images: a shard rendered anew (another rate, room, seed) is not served these tracks
    images_id = [len(stamps), int(stamps[0]) if len(stamps) else 0, int(stamps[-1]) if len(stamps) else 0,
                 zlib.crc32(np.ascontiguousarray(images[::max(1, len(images) // 16)]).tobytes())]
    key = json.dumps({"tracks": config_to_mapping(track_config), "intrinsics": list(intrinsics.__dict__.values()),
                      "augment": image_augment, "strides": [strides, augmented], "images": images_id, "seed": seed,
                      "version": 3}, sort_keys=True)
    if path.is_file():
        cached = np.load(path)
        if str(cached["key"]) == key:
            return {name: cached[name] for name in names}
    rng = np.random.default_rng(seed)
    count = images.shape[0]
    out = {name: np.zeros((count, track_config.max_tracks, TRACK_CHANNELS), np.float32) for name in names}
    for index in range(1, count):
        for k in (k for k in strides if index >= k):
            out[f"tracks{k}"][index] = extract_tracks(images[index - k], images[index], intrinsics, track_config)
            if k in augmented:
                pair = [_photometric(images[i], rng, augment) for i in (index - k, index)]
                out[f"tracks{k}_aug"][index] = extract_tracks(pair[0], pair[1], intrinsics, track_config)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")  # unique: parallel trainings may race
    np.savez(partial, key=np.array(key), **out)
    partial.replace(path)
    return out


def _ground_truth_at(shard: dict[str, Any], stamps_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GT positions (N, 3), rotations (N, 3, 3) and world velocities (N, 3) at stamps (linear / slerp)."""
    gt_ns = shard["gt_stamps_ns"]
    times = (gt_ns - gt_ns[0]) * 1e-9
    query = np.clip((stamps_ns - gt_ns[0]) * 1e-9, times[0], times[-1])
    positions = np.stack([np.interp(query, times, shard["gt_positions_xyz"][:, a]) for a in range(3)], axis=-1)
    velocity = np.stack([np.interp(query, times, shard["gt_velocity_xyz"][:, a]) for a in range(3)], axis=-1)
    quats = shard["gt_quats_wxyz"]
    rotations = Slerp(times, Rotation.from_quat(np.concatenate([quats[:, 1:], quats[:, :1]], axis=1)))(query)
    return positions, rotations.as_matrix(), velocity


def _augmented_imu(shard: dict[str, Any], rng: np.random.Generator,
                   augment: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Measured IMU plus a constant bias offset and extra white noise. Shape: -> (M, 3), (M, 3)."""
    count = shard["gyro"].shape[0]
    gyro = shard["gyro"] + rng.normal(0.0, augment.gyro_bias_std, 3) \
        + rng.normal(0.0, augment.gyro_noise_std, (count, 3))
    accel = shard["accel"] + rng.normal(0.0, augment.accel_bias_std, 3) \
        + rng.normal(0.0, augment.accel_noise_std, (count, 3))
    return gyro, accel


def _dropped_images(count: int, rng: np.random.Generator, probability: float) -> set[int]:
    """Isolated image indices to drop (never the first two, never two in a row)."""
    dropped: set[int] = set()
    for index in np.flatnonzero(rng.random(count) < probability):
        if index >= 2 and index - 1 not in dropped and index < count - 1:
            dropped.add(int(index))
    return dropped


def _kept_images(count: int, rng: np.random.Generator, augment: AugmentConfig | None,
                 clean_stride: int) -> Callable[[int], bool]:
    """Which of ``count`` images the replay keeps.

    Clean (``augment=None``): every ``clean_stride``-th. Augmented: every k-th from a random phase, k drawn
    from ``augment.frame_stride_probs`` (no draw when it has one entry, so such recipes draw as before),
    less isolated dropped ones.
    """
    if augment is None:
        return lambda index: index % clean_stride == 0
    stride, phase = 1, 0
    if len(augment.frame_stride_probs) > 1:
        stride = int(rng.choice(len(augment.frame_stride_probs), p=augment.frame_stride_probs)) + 1
        phase = int(rng.integers(stride))
    kept = range(phase, count, stride)
    dropped = {kept[position] for position in _dropped_images(len(kept), rng, augment.drop_frame_prob)}
    return lambda index: index % stride == phase and index not in dropped


def build_sequence(name: str, shard: dict[str, Any], tracks: dict[str, np.ndarray], rng: np.random.Generator,
                   augment: AugmentConfig | None, *, gravity_m_s2: float,
                   network_tracks: NetworkTracks | None = None) -> SequenceArrays:
    """Inputs and targets of every synced frame after the first; ``augment=None`` for clean data.

    ``network_tracks`` (a model's ``ModelConfig.network_tracks``) turns each frame's tracks into what that
    network takes, with the frame's (augmented) gyro rotation and interval, as the estimator does online;
    without it the tracks are kept as extracted.
    """
    gyro, accel = (shard["gyro"], shard["accel"]) if augment is None else _augmented_imu(shard, rng, augment)
    offset_ns = 0 if augment is None else int(rng.uniform(-1, 1) * augment.time_offset_jitter_s * 1e9)
    keep_image = _kept_images(len(shard["image_stamps_ns"]), rng, augment, nominal_stride(shard["image_stamps_ns"]))
    replay = SyncConfig(time_offset_ns=offset_ns, target_frame_rate_hz=0.0)  # keep_image alone chooses the images
    frames = list(shard_frames({**shard, "gyro": gyro, "accel": accel}, config=replay, keep_image=keep_image))
    stamps = np.array([f.stamp_ns for f in frames], dtype=np.int64)
    positions, rotations, _ = _ground_truth_at(shard, stamps)
    original = np.searchsorted(shard["image_stamps_ns"], stamps - offset_ns)
    tilt_std = 0.0 if augment is None else np.radians(augment.gravity_tilt_std_deg)
    use_aug = np.zeros(len(frames), bool) if augment is None else rng.random(len(frames)) < augment.photometric_prob
    rows = [_frame_row(frames[k], k, original, (positions, rotations), tracks, use_aug[k], rng, tilt_std,
                       gravity_m_s2, network_tracks) for k in range(1, len(frames))]
    return SequenceArrays(name, *[np.stack(column).astype(np.float32) for column in zip(*rows)], stamps_ns=stamps[1:])


def _frame_row(frame: Any, k: int, original: np.ndarray, truth: tuple[np.ndarray, np.ndarray],
               tracks: dict[str, np.ndarray], use_aug: bool, rng: np.random.Generator, tilt_std: float,
               gravity_m_s2: float, network_tracks: NetworkTracks | None) -> tuple[np.ndarray, ...]:
    """Inputs and targets of synced frame ``k`` (previous synced frame ``k - 1``).

    ``truth`` holds GT positions and rotations per synced frame.
    """
    positions, rotations = truth
    step = int(original[k] - original[k - 1])
    name = f"tracks{step}_aug" if use_aug and f"tracks{step}_aug" in tracks else f"tracks{step}"
    frame_tracks = tracks[name][original[k]] if name in tracks else np.zeros_like(next(iter(tracks.values()))[0])
    believed = rotations[k - 1]  # the estimator's orientation: truth plus a small tilt error
    if tilt_std:
        believed = believed @ so3_exp(np.array([*rng.normal(0.0, tilt_std, 2), 0.0]))
    inertial = inertial_inputs(frame.imu_stamps_ns, frame.gyro_rad_s, frame.accel_m_s2, gravity_body(believed),
                               gravity_m_s2=gravity_m_s2)
    if network_tracks is not None:
        frame_tracks = network_tracks(frame_tracks, inertial.pre.delta_rotation, inertial.pre.dt_s)
    target_dp = rotations[k - 1].T @ (positions[k] - positions[k - 1])
    true_rotation = rotations[k - 1].T @ rotations[k]
    rot_error = inertial.pre.delta_rotation.T @ true_rotation
    context = np.array([inertial.motion_magnitude, inertial.features[-2], inertial.features[-1]])
    return (frame_tracks, inertial.features, context, inertial.dp_gc, np.array(inertial.pre.dt_s), target_dp, rot_error,
            true_rotation)


def check_dims(arrays: SequenceArrays) -> None:
    """Raise ValueError if a sequence's arrays are inconsistent (a programming error, not user input)."""
    if arrays.inertial.shape[1:] != (INERTIAL_DIM,) or arrays.tracks.shape[2] != TRACK_CHANNELS:
        raise ValueError(f"{arrays.name}: unexpected array shapes {arrays.inertial.shape}, {arrays.tracks.shape}")
