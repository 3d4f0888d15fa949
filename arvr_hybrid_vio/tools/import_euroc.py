"""arvr-vio-import-euroc: convert a EuRoC / TUM-VI ASL folder into the synthetic bag layout.

Usage::

    arvr-vio-import-euroc path/to/MH_01_easy/mav0 --out data_out/mh01 [--format mcap]

Reads ``cam0/data.csv`` + ``cam0/data/*.png`` (8 or 16 bit, converted to mono8),
``cam0/sensor.yaml`` (intrinsics, radtan distortion, T_BS; optional),
``imu0/data.csv`` and ground truth from ``state_groundtruth_estimate0/data.csv`` or
``mocap0/data.csv`` (optional). The folder may be ``mav0`` or the one holding it.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from arvr_hybrid_vio.core.errors import SensorDataError, VioError
from arvr_hybrid_vio.io.sensor_bags import SensorStreams, write_sensor_bag

LOG = logging.getLogger("arvr_vio_import_euroc")
GT_FOLDERS = ("state_groundtruth_estimate0", "mocap0")


class LazyImages:
    """Mono8 images loaded on access (PNG, 8 or 16 bit)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        image = cv2.imread(str(self.paths[index]), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SensorDataError(f"{self.paths[index]}: cannot read image")
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        return image


def read_csv(path: Path, min_cols: int) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """(int64 stamps, float values of columns 1..min_cols-1, raw rows) of an ASL csv.

    Raises:
        SensorDataError: missing file, no rows, short rows, bad numbers, non-increasing stamps.
    """
    if not path.is_file():
        raise SensorDataError(f"{path}: file not found")
    rows = [line.strip().split(",") for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    if not rows:
        raise SensorDataError(f"{path}: no data rows")
    for number, row in enumerate(rows, 1):
        if len(row) < min_cols:
            raise SensorDataError(f"{path}: data row {number} has {len(row)} columns, need {min_cols}")
    try:
        stamps = np.array([int(row[0]) for row in rows], dtype=np.int64)
        values = np.array([[float(v) for v in row[1:min_cols]] for row in rows]) if min_cols > 2 else np.zeros((len(rows), 0))
    except ValueError as exc:
        raise SensorDataError(f"{path}: bad number ({exc})") from exc
    if len(stamps) > 1 and (np.diff(stamps) <= 0).any():
        raise SensorDataError(f"{path}: timestamps not strictly increasing at row {int(np.argmax(np.diff(stamps) <= 0)) + 2}")
    if not np.isfinite(values).all():
        raise SensorDataError(f"{path}: NaN/inf values")
    return stamps, values, rows


def find_mav0(folder: Path) -> Path:
    """The folder holding cam0/ and imu0/ (``folder`` or ``folder/mav0``)."""
    for candidate in (folder, folder / "mav0"):
        if (candidate / "cam0").is_dir() and (candidate / "imu0").is_dir():
            return candidate
    raise SensorDataError(f"{folder}: not an ASL folder (no cam0/ and imu0/ in it or in mav0/)")


def read_camera_yaml(path: Path, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K, distortion (4,), T_body_cam) from cam0/sensor.yaml; zero K (uncalibrated) if absent."""
    if not path.is_file():
        LOG.warning("%s not found: camera_info will be uncalibrated (K = 0), T_body_cam = identity", path)
        return np.zeros((3, 3)), np.zeros(4), np.eye(4)
    text = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("%"))
    try:
        calib = yaml.safe_load(text)
        fu, fv, cu, cv = (float(v) for v in calib["intrinsics"])
        distortion = np.array([float(v) for v in calib.get("distortion_coefficients", [0, 0, 0, 0])][:4])
        T_body_cam = np.array(calib["T_BS"]["data"], dtype=np.float64).reshape(4, 4)
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise SensorDataError(f"{path}: cannot read intrinsics/distortion_coefficients/T_BS ({exc})") from exc
    if calib.get("distortion_model", "radial-tangential") not in ("radial-tangential", "radtan", "plumb_bob"):
        LOG.warning("%s: distortion model %s stored as plumb_bob coefficients", path, calib.get("distortion_model"))
    return np.array([[fu, 0.0, cu], [0.0, fv, cv], [0.0, 0.0, 1.0]]), distortion, T_body_cam


def read_ground_truth(mav0: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(stamps, positions, quats_wxyz) from state_groundtruth_estimate0 or mocap0, or None."""
    for name in GT_FOLDERS:
        path = mav0 / name / "data.csv"
        if path.is_file():
            stamps, values, _ = read_csv(path, 8)
            return stamps, values[:, 0:3], values[:, 3:7]
    LOG.warning("%s: no ground truth (%s); bag without /ground_truth/pose", mav0, " or ".join(GT_FOLDERS))
    return None


def load_asl(folder: Path) -> SensorStreams:
    """All streams of an ASL folder (images loaded lazily; every image file checked to exist)."""
    mav0 = find_mav0(folder)
    image_stamps, _, rows = read_csv(mav0 / "cam0" / "data.csv", 2)
    paths = [mav0 / "cam0" / "data" / row[1].strip() for row in rows]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise SensorDataError(f"{missing[0]}: image listed in cam0/data.csv not found ({len(missing)} missing)")
    images = LazyImages(paths)
    height, width = images[0].shape
    imu_stamps, imu, _ = read_csv(mav0 / "imu0" / "data.csv", 7)
    K, distortion, T_body_cam = read_camera_yaml(mav0 / "cam0" / "sensor.yaml", (width, height))
    gt = read_ground_truth(mav0)
    return SensorStreams(
        image_stamps_ns=image_stamps, images=images, imu_stamps_ns=imu_stamps, gyro=imu[:, 0:3], accel=imu[:, 3:6],
        intrinsics=K, distortion=distortion, T_body_cam=T_body_cam, image_size=(width, height),
        gt_stamps_ns=None if gt is None else gt[0], gt_positions_xyz=None if gt is None else gt[1],
        gt_quats_wxyz=None if gt is None else gt[2])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 on bad input)."""
    parser = argparse.ArgumentParser(prog="arvr-vio-import-euroc", description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="ASL folder (mav0 or the folder holding it)")
    parser.add_argument("--out", required=True, help="output rosbag2 folder")
    parser.add_argument("--format", choices=("sqlite3", "mcap"), default="sqlite3", help="bag storage")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        streams = load_asl(Path(args.folder))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with tqdm(total=len(streams.image_stamps_ns), desc="import", unit="frame", leave=False) as bar:
            write_sensor_bag(args.out, streams, storage=args.format, progress=lambda done, _: bar.update(done - bar.n))
    except VioError as exc:
        print(f"arvr-vio-import-euroc: {exc}", file=sys.stderr)
        return 2
    LOG.info("wrote %s (%d images, %d IMU samples)", args.out, len(streams.image_stamps_ns), len(streams.imu_stamps_ns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
