"""One synthetic camera + IMU sequence with exact ground truth, deterministic from a seed.

``generate_sequence(SynthConfig(...), seed)`` builds the motion (a preset or a real
trajectory file), samples the IMU at its rate, builds a room around the trajectory
and renders every camera frame. All stamps are int64 ns on the IMU clock; camera
stamps are the true exposure-centre times plus ``time_offset_s`` (so a consumer must
subtract the offset to align camera and IMU).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from arvr_hybrid_vio.core.errors import ConfigError, TrajectoryError
from arvr_hybrid_vio.core.synth.camera import R_BODY_OPTICAL, CameraConfig, pixel_rays
from arvr_hybrid_vio.core.synth.imu import ImuConfig, simulate_imu
from arvr_hybrid_vio.core.synth.motion import MotionSpline, motion_from_poses
from arvr_hybrid_vio.core.synth.photometric import PhotometricConfig, PhotometricModel
from arvr_hybrid_vio.core.synth.pose_file import read_pose_file
from arvr_hybrid_vio.core.synth.presets import procedural_motion
from arvr_hybrid_vio.core.synth.render import Renderer, build_scene
from arvr_hybrid_vio.core.synth.textures import PHOTOS


@dataclass(frozen=True)
class MotionConfig:
    """Where the body motion comes from."""

    motion: str = "head"  # procedural preset (seated|standing|walking|saccade|drift|head|sweep|drone); unused with a file
    trajectory_file: str = ""  # TUM .txt or EuRoC ground-truth .csv; when set, drives the motion
    trajectory_frame: str = "auto"  # pose frame of the file: auto (TUM: camera_optical, CSV: body)|body|camera_optical
    trajectory_start_s: float = 0.0  # skip this much of the file, s
    duration_s: float = 30.0  # sequence length, s
    rest_s: float = 1.0  # initial rest of procedural motions (headset being put on), s
    smoothing_s: float = 0.04  # Gaussian smoothing of file poses against mocap jitter, s


@dataclass(frozen=True)
class SynthConfig:
    """Everything that defines a synthetic sequence (with the seed)."""

    motion: MotionConfig = field(default_factory=MotionConfig)  # body motion
    imu: ImuConfig = field(default_factory=ImuConfig)  # IMU rate and noise
    camera: CameraConfig = field(default_factory=CameraConfig)  # intrinsics, rate, mount
    photometric: PhotometricConfig = field(default_factory=PhotometricConfig)  # exposure, noise, blur
    time_offset_s: float = 0.0  # camera stamps minus true exposure times, s
    start_time_s: int = 1_700_000_000  # stamp of the first IMU sample, whole seconds
    furniture: int = 6  # number of furniture boxes to try to place


@dataclass(frozen=True)
class SynthSequence:
    """Images, IMU (noisy and exact), ground truth and calibration of one sequence."""

    config: SynthConfig  # what generated it
    seed: int  # with the config: reproduces it
    image_stamps_ns: np.ndarray  # (F,) int64
    images: np.ndarray  # (F, H, W) uint8 mono8
    imu_stamps_ns: np.ndarray  # (M,) int64; ground truth shares these stamps
    gyro: np.ndarray  # (M, 3) measured, rad/s, body frame
    accel: np.ndarray  # (M, 3) measured specific force, m/s^2, body frame
    gyro_true: np.ndarray  # (M, 3) exact
    accel_true: np.ndarray  # (M, 3) exact
    gyro_bias: np.ndarray  # (M, 3) true bias
    accel_bias: np.ndarray  # (M, 3) true bias
    gt_positions_xyz: np.ndarray  # (M, 3) body in world
    gt_quats_wxyz: np.ndarray  # (M, 4) R_world_body
    gt_velocity_xyz: np.ndarray  # (M, 3) world, m/s
    intrinsics: np.ndarray  # (3, 3) K
    distortion: np.ndarray  # (4,) radtan k1 k2 p1 p2
    T_body_cam: np.ndarray  # (4, 4) optical frame into body


def validate_config(config: SynthConfig) -> None:
    """Raise ConfigError for values no sequence can be made from."""
    config.imu.validate()
    config.camera.validate()
    config.photometric.validate()
    if not config.motion.duration_s > 0.0:
        raise ConfigError(f"duration must be positive, got {config.motion.duration_s}")
    if config.motion.trajectory_start_s < 0.0 or config.motion.rest_s < 0.0:
        raise ConfigError("trajectory_start_s and rest_s must be >= 0")
    if config.motion.trajectory_frame not in ("auto", "body", "camera_optical"):
        raise ConfigError(f"trajectory_frame must be auto|body|camera_optical, got {config.motion.trajectory_frame}")


def build_motion(config: MotionConfig, seed: int) -> tuple[MotionSpline, float]:
    """The motion spline and the spline time of the sequence start.

    Raises:
        TrajectoryError: a bad file, or a duration longer than the file.
        ConfigError: an unknown preset.
    """
    if not config.trajectory_file:
        return procedural_motion(config.motion, config.duration_s, seed, rest_s=config.rest_s), 0.0
    poses = read_pose_file(config.trajectory_file)
    frame = poses.frame if config.trajectory_frame == "auto" else config.trajectory_frame
    R_pose_body = R_BODY_OPTICAL.T if frame == "camera_optical" else None
    spline = motion_from_poses(poses.stamps_ns, poses.positions_xyz, poses.quats_wxyz, smoothing_s=config.smoothing_s,
                               source=config.trajectory_file, R_pose_body=R_pose_body)
    if config.trajectory_start_s + config.duration_s > spline.duration_s + 1e-6:
        raise TrajectoryError(f"{config.trajectory_file}: asked for {config.trajectory_start_s + config.duration_s:.3f} s,"
                              f" the trajectory lasts {spline.duration_s:.3f} s")
    return spline, config.trajectory_start_s


def generate_sequence(config: SynthConfig, seed: int, *,
                      progress: Callable[[int, int], None] | None = None) -> SynthSequence:
    """Generate one sequence; ``progress(done, total)`` is called after each rendered frame.

    Raises:
        ConfigError: invalid configuration.
        TrajectoryError: invalid trajectory file or too long a duration.
    """
    validate_config(config)
    rng_motion, rng_imu, rng_scene, rng_photo = np.random.default_rng(seed).spawn(4)
    spline, t0 = build_motion(config.motion, int(rng_motion.integers(2**31)))
    duration = config.motion.duration_s
    imu_times = np.arange(0, int(np.floor(duration * config.imu.rate_hz + 1e-9)) + 1) / config.imu.rate_hz
    states = spline.evaluate(t0 + imu_times)
    imu = simulate_imu(states, config.imu, rng_imu)
    start_ns = int(config.start_time_s) * 10**9
    imu_stamps = start_ns + np.round(imu_times * 1e9).astype(np.int64)
    frame_times = np.arange(0, int(np.floor(duration * config.camera.rate_hz + 1e-9)) + 1) / config.camera.rate_hz
    images = _render_frames(config, spline, t0, frame_times, states.positions_xyz, rng_scene, rng_photo, progress)
    image_stamps = start_ns + np.round((frame_times + config.time_offset_s) * 1e9).astype(np.int64)
    return SynthSequence(
        config=config, seed=seed, image_stamps_ns=image_stamps, images=images, imu_stamps_ns=imu_stamps,
        gyro=imu.gyro, accel=imu.accel, gyro_true=imu.gyro_true, accel_true=imu.accel_true,
        gyro_bias=imu.gyro_bias, accel_bias=imu.accel_bias, gt_positions_xyz=states.positions_xyz,
        gt_quats_wxyz=states.quats_wxyz, gt_velocity_xyz=states.velocity_xyz,
        intrinsics=config.camera.intrinsics(), distortion=np.asarray(config.camera.distortion, dtype=np.float64),
        T_body_cam=config.camera.T_body_cam(),
    )


def camera_poses(spline: MotionSpline, times_s: np.ndarray, T_body_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R_world_cam (N, 3, 3) and t_world_cam (N, 3) at spline times."""
    states = spline.evaluate(times_s)
    rotations = states.rotations @ T_body_cam[:3, :3]
    translations = states.positions_xyz + states.rotations @ T_body_cam[:3, 3]
    return rotations, translations


def _render_frames(config: SynthConfig, spline: MotionSpline, t0: float, frame_times: np.ndarray,
                   positions_xyz: np.ndarray, rng_scene: np.random.Generator, rng_photo: np.random.Generator,
                   progress: Callable[[int, int], None] | None) -> np.ndarray:
    """Render all frames (with sub-exposures for motion blur). Shape: -> (F, H, W) uint8."""
    cam = config.camera
    scene = build_scene(positions_xyz, rng_scene, texture_count=len(PHOTOS), furniture=config.furniture)
    renderer = Renderer(scene, pixel_rays(cam), cam.focal_px, (cam.height, cam.width))
    photo = PhotometricModel(config.photometric, (cam.height, cam.width), frame_times[-1], rng_photo)
    offsets = photo.subexposure_offsets()
    T_body_cam = cam.T_body_cam()
    images = np.empty((len(frame_times), cam.height, cam.width), dtype=np.uint8)
    for index, time_s in enumerate(frame_times):
        rotations, translations = camera_poses(spline, t0 + time_s + offsets, T_body_cam)
        radiance = np.mean([renderer.render(r, t)[0] for r, t in zip(rotations, translations)], axis=0)
        images[index] = photo.expose(radiance, time_s)
        if progress is not None:
            progress(index + 1, len(frame_times))
    return images
