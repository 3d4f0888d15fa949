"""arvr-vio-synth: render a synthetic camera + IMU sequence with exact ground truth into a rosbag2.

Usage::

    arvr-vio-synth --motion head --duration 30 --seed 1 --out data_out/head_30s
    arvr-vio-synth --trajectory test/data/trajectories/freiburg1_xyz-groundtruth.txt --duration 20 --seed 2 \
        --out data_out/fr1 --format mcap

Topics: /cam0/image_raw (``--image-format png|jpeg``: /cam0/image_raw/compressed, sensor_msgs/CompressedImage),
/cam0/camera_info, /imu0, /ground_truth/pose, /tf_static (see ``arvr_hybrid_vio.io.sensor_bags``). The bag is written under ``OUT.partial`` and
renamed at the end, so a failure never leaves a partial bag.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from arvr_hybrid_vio.core.errors import VioError
from arvr_hybrid_vio.core.synth.camera import CameraConfig
from arvr_hybrid_vio.core.synth.imu import ImuConfig
from arvr_hybrid_vio.core.synth.photometric import PhotometricConfig
from arvr_hybrid_vio.core.synth.presets import MOTION_NAMES
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, build_motion, generate_sequence, validate_config
from arvr_hybrid_vio.io.sensor_bags import IMAGE_FORMATS, streams_from_sequence, write_sensor_bag

LOG = logging.getLogger("arvr_vio_synth")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="arvr-vio-synth", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--trajectory", help="TUM .txt or EuRoC ground-truth .csv that drives the motion")
    source.add_argument("--motion", choices=MOTION_NAMES, help="procedural motion preset: AR/VR head motions, handheld sweeps or a multirotor (drone)")
    parser.add_argument("--duration", type=float, required=True, help="sequence length, s")
    parser.add_argument("--seed", type=int, default=0, help="random seed (motion, room, noise)")
    parser.add_argument("--out", required=True, help="output rosbag2 folder")
    parser.add_argument("--format", choices=("sqlite3", "mcap"), default="sqlite3", help="bag storage")
    parser.add_argument("--image-format", choices=IMAGE_FORMATS, default="raw",
                        help="camera messages: raw sensor_msgs/Image, or CompressedImage (png: lossless, jpeg: quality 95)")
    parser.add_argument("--camera-rate", type=float, default=30.0, help="camera rate, Hz")
    parser.add_argument("--imu-rate", type=float, default=200.0, help="IMU rate, Hz (<= 1000)")
    parser.add_argument("--width", type=int, default=160, help="image width, px")
    parser.add_argument("--height", type=int, default=128, help="image height, px")
    parser.add_argument("--time-offset", type=float, default=0.0, help="camera stamps minus true exposure times, s")
    parser.add_argument("--trajectory-start", type=float, default=0.0, help="skip this much of the trajectory, s")
    parser.add_argument("--blur-samples", type=int, default=1, help="sub-exposures for motion blur (1: none)")
    parser.add_argument("--no-noise", action="store_true", help="exact IMU (no noise, no bias)")
    return parser


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    """The SynthConfig of parsed arguments."""
    motion = MotionConfig(motion=args.motion or "head", trajectory_file=args.trajectory or "",
                          trajectory_start_s=args.trajectory_start, duration_s=args.duration)
    return SynthConfig(
        motion=motion, imu=ImuConfig(rate_hz=args.imu_rate, noise=not args.no_noise),
        camera=CameraConfig(width=args.width, height=args.height, rate_hz=args.camera_rate),
        photometric=PhotometricConfig(blur_samples=args.blur_samples), time_offset_s=args.time_offset)


def run(config: SynthConfig, seed: int, out: str, storage: str, image_format: str = "raw") -> None:
    """Generate the sequence and write the bag, with progress bars."""
    with tqdm(desc="render", unit="frame", leave=False) as bar:
        def rendered(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
        sequence = generate_sequence(config, seed, progress=rendered)
    with tqdm(desc="write bag", unit="frame", leave=False) as bar:
        def written(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
        write_sensor_bag(out, streams_from_sequence(sequence), storage=storage, progress=written,
                         image_format=image_format)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 on bad input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = config_from_args(args)
    try:
        validate_config(config)
        build_motion(config.motion, args.seed)  # fail fast on a bad trajectory before rendering
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        run(config, args.seed, args.out, args.format, args.image_format)
    except VioError as exc:
        print(f"arvr-vio-synth: {exc}", file=sys.stderr)
        return 2
    LOG.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
