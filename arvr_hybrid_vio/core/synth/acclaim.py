"""Acclaim motion capture (ASF skeleton + AMC frames): the world poses of one bone, to drive a
synthetic sequence with a real human motion.

The CMU Graphics Lab Motion Capture Database is the best-known user of the format. An ASF file
holds the skeleton: per bone its ``direction`` (unit vector, in the rest pose's world axes),
``length``, ``axis`` (the bone's local frame, as Euler angles in the order named after them) and
``dof`` (which rotations the AMC file gives, in the order it gives them), plus the ``:hierarchy``
and the ``:units``. An AMC file holds, per frame, the root's translation and rotation and each
bone's dof values. It carries no frame rate (CMU records at 120 Hz): the caller gives it.

Forward kinematics, as the CMU data is meant to be read (the bone frame ``C`` rotated by the
frame's dof rotation ``M``, both applied about fixed axes in x, y, z order, ``R = Rz Ry Rx``)::

    root:  W_root = C_root M_root C_root^-1,         start = the root's translation
    bone:  W_bone = W_parent C_bone M_bone C_bone^-1, start = the parent's end,
           end = start + length * W_bone direction

``W_bone`` maps the rest pose's world axes onto the bone's current ones. Only what a head-mounted
camera needs is read: names, hierarchy, directions, lengths, axes, dofs, the units, and the frames.
The file's axes and units are kept (CMU is y-up, x to the subject's left, z forward); the caller
converts them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.synth.bvh import R_ZUP_YUP, index_of
from arvr_hybrid_vio.core.trajectory import Trajectory

_ROTATION_DOFS = ("rx", "ry", "rz")
METRES_PER_INCH = 0.0254


@dataclass(frozen=True)
class AcclaimBone:
    """One bone of an ASF skeleton; the root is bone 0 (no length, its dofs are the root's order, its
    ``direction`` holds the root's ``position``, added to the AMC translation)."""

    name: str
    parent: int | None  # index into AcclaimSkeleton.bones; None for the root
    direction: np.ndarray  # (3,) unit, rest pose, world axes (the root: its position, file units)
    length: float  # file units
    axis: np.ndarray  # (3, 3) C: the bone's local frame in the rest pose's world axes
    dofs: tuple[str, ...]  # the AMC columns, e.g. ("rx", "ry", "rz"); the root's also "tx", "ty", "tz"


@dataclass(frozen=True)
class AcclaimSkeleton:
    """An ASF file: its bones (root first) and its units."""

    bones: tuple[AcclaimBone, ...]
    length_unit: float  # ASF ``:units length``: file units are inches / length_unit (CMU: 0.45)
    degrees: bool  # ASF ``:units angle``
    source: str = "asf"

    @property
    def metres_per_unit(self) -> float:
        """Metres per file length unit (ASF lengths are inches divided by ``length_unit``)."""
        return METRES_PER_INCH / self.length_unit

    def bone_index(self, name: str) -> int:
        """Index of the bone called ``name``.

        Raises:
            TrajectoryError: no such bone (the message lists the bones there are).
        """
        return index_of(name, [bone.name for bone in self.bones], what="bone", source=self.source)


@dataclass(frozen=True)
class AcclaimMotion:
    """An AMC file read against its skeleton: per bone its dof values at every frame.

    Shape: values[bone] (F, len(dofs)); bones absent from the file are held at zero.
    """

    skeleton: AcclaimSkeleton
    values: dict[str, np.ndarray]
    frame_count: int
    source: str = "amc"

    def bone_poses(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The bone's orientation and start (its joint with the parent) in the file's world frame.

        Shape: -> rotations (F, 3, 3) (current world <- rest-pose world axes), starts (F, 3) file units.
        """
        bones = self.skeleton.bones
        chain = []
        index: int | None = self.skeleton.bone_index(name)
        while index is not None:
            chain.append(bones[index])
            index = bones[index].parent
        chain.reverse()  # root first
        root = chain[0]
        translation, rotation = self._dof_values(root)
        rotations = root.axis @ _euler_xyz(rotation, self.skeleton.degrees) @ root.axis.T
        starts = translation + root.direction
        for parent, bone in zip(chain[:-1], chain[1:]):
            if parent is not root:
                starts = starts + parent.length * np.einsum("fij,j->fi", rotations, parent.direction)
            _, rotation = self._dof_values(bone)
            rotations = rotations @ bone.axis @ _euler_xyz(rotation, self.skeleton.degrees) @ bone.axis.T
        return rotations, starts

    def _dof_values(self, bone: AcclaimBone) -> tuple[np.ndarray, np.ndarray]:
        """(F, 3) translation and (F, 3) x/y/z rotation angles of ``bone`` (zeros where it has no dof)."""
        translation, rotation = np.zeros((self.frame_count, 3)), np.zeros((self.frame_count, 3))
        columns = self.values.get(bone.name)
        for offset, dof in enumerate(bone.dofs):
            if columns is None:
                break
            target = rotation if dof.startswith("r") else translation
            target[:, "xyz".index(dof[1])] = columns[:, offset]
        return translation, rotation


def _euler_xyz(angles: np.ndarray, degrees: bool) -> np.ndarray:
    """Rotations about the fixed x, then y, then z axes: ``Rz Ry Rx``. Shape: (F, 3) -> (F, 3, 3)."""
    return Rotation.from_euler("xyz", angles, degrees=degrees).as_matrix()


def read_acclaim(asf_path: str | Path, amc_path: str | Path) -> AcclaimMotion:
    """Read an ASF skeleton and an AMC motion.

    Raises:
        TrajectoryError: a file is missing or malformed (the message names it and what is wrong).
    """
    texts = []
    for path in (Path(asf_path), Path(amc_path)):
        try:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise TrajectoryError(f"{path}: cannot read Acclaim file ({exc.strerror or exc})") from exc
    skeleton = parse_asf(texts[0], source=str(asf_path))
    return parse_amc(texts[1], skeleton, source=str(amc_path))


def parse_asf(text: str, *, source: str = "asf") -> AcclaimSkeleton:
    """Parse the text of an ASF file (see the module docstring for what is read).

    Raises:
        TrajectoryError: a section or field is missing or malformed, or a rotation order other than XYZ.
    """
    sections = _sections(text)
    for needed in ("root", "bonedata", "hierarchy"):
        if needed not in sections:
            raise TrajectoryError(f"{source}: ASF has no :{needed} section")
    units = _key_values(sections.get("units", []))
    length_unit = _float(units.get("length", ["1.0"])[0], source, "units length")
    angle = units.get("angle", ["deg"])[0].lower()
    if angle not in ("deg", "rad") or length_unit <= 0.0:
        raise TrajectoryError(f"{source}: ASF units length {length_unit}, angle {angle!r}: expected > 0 and deg/rad")
    degrees = angle == "deg"
    root_fields = _key_values(sections["root"])
    order = tuple(token.lower() for token in root_fields.get("order", []))
    _check_axis_order(root_fields.get("axis", ["XYZ"]), source, "root")
    if sorted(order) != ["rx", "ry", "rz", "tx", "ty", "tz"]:
        raise TrajectoryError(f"{source}: root order {order}: expected the six TX TY TZ RX RY RZ")
    orientation = [_float(v, source, "root orientation") for v in root_fields.get("orientation", ["0", "0", "0"])]
    position = [_float(v, source, "root position") for v in root_fields.get("position", ["0", "0", "0"])]
    if len(orientation) != 3 or len(position) != 3:
        raise TrajectoryError(f"{source}: root orientation and position need three values each")
    bones = [AcclaimBone("root", None, np.array(position), 0.0, _euler_xyz(np.array([orientation]), degrees)[0],
                         order)]
    bones += [_parse_bone(block, degrees, source) for block in _bone_blocks(sections["bonedata"], source)]
    names = [bone.name for bone in bones]
    if len(set(names)) != len(names):
        raise TrajectoryError(f"{source}: ASF bone names repeat")
    parents: dict[str, str] = {}
    for line in sections["hierarchy"]:
        tokens = line.split()
        if not tokens or tokens[0].lower() in ("begin", "end"):
            continue
        for child in tokens[1:]:
            if tokens[0] not in names or child not in names:
                raise TrajectoryError(f"{source}: hierarchy names an unknown bone in {line.strip()!r}")
            parents[child] = tokens[0]
    bones = [bone if bone.name == "root" else _with_parent(bone, parents, names, source) for bone in bones]
    return AcclaimSkeleton(tuple(bones), length_unit, degrees, source)


def parse_amc(text: str, skeleton: AcclaimSkeleton, *, source: str = "amc") -> AcclaimMotion:
    """Parse the text of an AMC file against ``skeleton``.

    Raises:
        TrajectoryError: no frames, a frame number out of sequence, an unknown bone, or a bone line
            whose value count differs from its dofs.
    """
    dof_counts = {bone.name: len(bone.dofs) for bone in skeleton.bones}
    frames: list[dict[str, list[float]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens or tokens[0].startswith(("#", ":")):
            continue
        if len(tokens) == 1:
            if not tokens[0].isdigit() or int(tokens[0]) != len(frames) + 1:
                raise TrajectoryError(f"{source}:{number}: frame {tokens[0]!r} out of sequence "
                                      f"(expected {len(frames) + 1})")
            frames.append({})
            continue
        if not frames:
            raise TrajectoryError(f"{source}:{number}: bone values before the first frame number")
        name = tokens[0]
        if name not in dof_counts:
            raise TrajectoryError(f"{source}:{number}: bone {name!r} is not in {skeleton.source}")
        if len(tokens) - 1 != dof_counts[name]:
            raise TrajectoryError(f"{source}:{number}: {name} has {len(tokens) - 1} values, its dofs are "
                                  f"{dof_counts[name]}")
        frames[-1][name] = [_float(value, source, f"line {number}") for value in tokens[1:]]
    if not frames:
        raise TrajectoryError(f"{source}: AMC has no frames")
    values = {}
    for name, count in dof_counts.items():
        if count and any(name in frame for frame in frames):
            if not all(name in frame for frame in frames):
                raise TrajectoryError(f"{source}: bone {name} is missing from some frames")
            values[name] = np.array([frame[name] for frame in frames], dtype=np.float64)
    return AcclaimMotion(skeleton, values, len(frames), source)


def bone_trajectory(motion: AcclaimMotion, bone: str, *, frame_rate_hz: float = 120.0,
                    start_stamp_ns: int = 0) -> Trajectory:
    """The bone's frame at its start (its joint with the parent) as a trajectory in a z-up world (the
    file taken as y-up), in metres, stamped ``start_stamp_ns + frame / frame_rate_hz``.

    The bone frame's axes are the rest pose's world axes (CMU: x left, y up, z forward) carried by
    the bone's rotation.

    Raises:
        TrajectoryError: no such bone, or a frame rate that is not positive.
    """
    if not frame_rate_hz > 0.0:
        raise TrajectoryError(f"{motion.source}: frame rate {frame_rate_hz} Hz is not positive")
    rotations, starts = motion.bone_poses(bone)
    poses = np.broadcast_to(np.eye(4), (motion.frame_count, 4, 4)).copy()  # (F, 4, 4) T_world_bone
    poses[:, :3, :3] = R_ZUP_YUP @ rotations
    poses[:, :3, 3] = starts @ R_ZUP_YUP.T * motion.skeleton.metres_per_unit
    stamps_ns = start_stamp_ns + np.round(np.arange(motion.frame_count) * 1e9 / frame_rate_hz).astype(np.int64)
    return Trajectory.from_poses_se3(stamps_ns, poses, source=f"{motion.source}:{bone}")


# ---- ASF parsing helpers ---------------------------------------------------------------------------

def _sections(text: str) -> dict[str, list[str]]:
    """Lines of each ``:keyword`` section (the keyword line's own tokens first), comments dropped."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if line.lstrip().startswith(":"):
            keyword, _, rest = line.strip()[1:].partition(" ")
            current = sections.setdefault(keyword.lower(), [])
            if rest.strip():
                current.append(rest.strip())
        elif current is not None:
            current.append(line.strip())
    return sections


def _key_values(lines: list[str]) -> dict[str, list[str]]:
    """``key value...`` lines as a dict (keys lower case)."""
    out: dict[str, list[str]] = {}
    for line in lines:
        tokens = line.split()
        if tokens:
            out[tokens[0].lower()] = tokens[1:]
    return out


def _bone_blocks(lines: list[str], source: str) -> list[list[str]]:
    """The ``begin ... end`` blocks of ``:bonedata``."""
    blocks, current = [], None
    for line in lines:
        word = line.split()[0].lower()
        if word == "begin":
            current = []
        elif word == "end":
            if current is None:
                raise TrajectoryError(f"{source}: ASF bonedata has 'end' without 'begin'")
            blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        raise TrajectoryError(f"{source}: ASF bonedata ends inside a bone")
    return blocks


def _parse_bone(lines: list[str], degrees: bool, source: str) -> AcclaimBone:
    fields = _key_values(lines)
    name = (fields.get("name") or [""])[0]
    if not name:
        raise TrajectoryError(f"{source}: an ASF bone has no name")
    direction = np.array([_float(v, source, f"{name} direction") for v in fields.get("direction", [])])
    if direction.shape != (3,) or not np.linalg.norm(direction) > 0.0:
        raise TrajectoryError(f"{source}: bone {name} needs a non-zero three-value direction")
    length = _float((fields.get("length") or ["nan"])[0], source, f"{name} length")
    axis = fields.get("axis", [])
    if len(axis) != 4:
        raise TrajectoryError(f"{source}: bone {name} axis needs three angles and an order")
    _check_axis_order(axis[3:], source, name)
    angles = np.array([[_float(v, source, f"{name} axis") for v in axis[:3]]])
    dofs = tuple(token.lower() for token in fields.get("dof", []))
    if any(dof not in _ROTATION_DOFS for dof in dofs) or len(set(dofs)) != len(dofs):
        raise TrajectoryError(f"{source}: bone {name} dof {dofs}: only rx, ry, rz, each once, are read")
    return AcclaimBone(name, None, direction / np.linalg.norm(direction), length,
                       _euler_xyz(angles, degrees)[0], dofs)


def _with_parent(bone: AcclaimBone, parents: dict[str, str], names: list[str], source: str) -> AcclaimBone:
    if bone.name not in parents:
        raise TrajectoryError(f"{source}: bone {bone.name} is not in the hierarchy")
    return AcclaimBone(bone.name, names.index(parents[bone.name]), bone.direction, bone.length, bone.axis, bone.dofs)


def _check_axis_order(tokens: list[str], source: str, what: str) -> None:
    if [token.upper() for token in tokens] != ["XYZ"]:
        raise TrajectoryError(f"{source}: {what} axis order {tokens}: only XYZ is read")


def _float(text: str, source: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TrajectoryError(f"{source}: {what}: {text!r} is not a number") from None
    if not np.isfinite(value):
        raise TrajectoryError(f"{source}: {what}: {text!r} is not finite")
    return value
