"""Motion splines and AR/VR head motion presets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from arvr_hybrid_vio.core.errors import ConfigError, TrajectoryError
from arvr_hybrid_vio.core.geometry import so3_log
from arvr_hybrid_vio.core.synth.motion import motion_from_poses
from arvr_hybrid_vio.core.synth.pose_file import read_pose_file
from arvr_hybrid_vio.core.synth.presets import MOTION_NAMES, procedural_motion

FR1 = Path(__file__).resolve().parents[1] / "data" / "trajectories" / "freiburg1_xyz-groundtruth.txt"
RATE = 200.0


def sample(name: str, duration_s: float = 30.0, seed: int = 7):
    times = np.arange(0, int(duration_s * RATE) + 1) / RATE
    return times, procedural_motion(name, duration_s, seed).evaluate(times)


def rates_deg_s(states) -> np.ndarray:
    return np.degrees(np.linalg.norm(states.omega_body, axis=1))


@pytest.mark.parametrize("name", MOTION_NAMES)
def test_presets_are_deterministic_start_at_rest_and_move(name: str) -> None:
    times, states = sample(name, 12.0)
    _, again = sample(name, 12.0)
    _, other = sample(name, 12.0, seed=8)
    assert np.array_equal(states.positions_xyz, again.positions_xyz)
    assert not np.allclose(states.quats_wxyz, other.quats_wxyz)
    rest = times < 0.95
    assert rates_deg_s(states)[rest].max() < 0.01 and np.linalg.norm(states.accel_xyz[rest], axis=1).max() < 1e-3
    assert rates_deg_s(states)[times > 1.5].max() > 2.0
    assert rates_deg_s(states).max() <= 300.0


def test_angular_velocity_is_the_derivative_of_the_rotation() -> None:
    times, states = sample("head", 10.0)
    step = 1e-5
    spline = procedural_motion("head", 10.0, 7)
    ahead = spline.evaluate(times[10:-10] + step).rotations
    behind = spline.evaluate(times[10:-10] - step).rotations
    numeric = so3_log(np.swapaxes(behind, 1, 2) @ ahead) / (2 * step)
    assert np.abs(numeric - states.omega_body[10:-10]).max() < 1e-4


def test_saccades_reach_fast_head_turns() -> None:
    _, states = sample("saccade")
    assert 200.0 < rates_deg_s(states).max() <= 300.0


def test_walking_bobs_at_about_2_hz() -> None:
    times, states = sample("walking")
    vertical = states.accel_xyz[:, 2] - states.accel_xyz[:, 2].mean()
    spectrum = np.abs(np.fft.rfft(vertical))
    freqs = np.fft.rfftfreq(len(vertical), 1 / RATE)
    assert 1.7 < freqs[np.argmax(spectrum)] < 2.3
    assert np.linalg.norm(np.diff(states.positions_xyz[:, :2], axis=0), axis=1).sum() > 4.0  # metres walked


def test_standing_up_rises_about_half_a_metre() -> None:
    _, states = sample("standing")
    z = states.positions_xyz[:, 2]
    assert z[0] == pytest.approx(1.2, abs=1e-6)
    assert 0.35 < z.max() - z[0] < 0.55


def test_drift_is_slow() -> None:
    _, states = sample("drift")
    assert rates_deg_s(states).max() < 30.0
    assert np.linalg.norm(states.accel_xyz, axis=1).max() < 1.0


def test_unknown_preset_and_too_short_duration_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown motion"):
        procedural_motion("jumping", 5.0, 0)
    with pytest.raises(ConfigError, match="exceed"):
        procedural_motion("head", 1.2, 0)


def test_spline_removes_motion_capture_jitter() -> None:
    poses = read_pose_file(FR1)
    clean = motion_from_poses(poses.stamps_ns, poses.positions_xyz, poses.quats_wxyz)
    noisy_positions = poses.positions_xyz + np.random.default_rng(0).normal(0.0, 0.002, poses.positions_xyz.shape)
    noisy = motion_from_poses(poses.stamps_ns, noisy_positions, poses.quats_wxyz)
    raw = motion_from_poses(poses.stamps_ns, noisy_positions, poses.quats_wxyz, smoothing_s=0.0, knot_rate_hz=200.0)
    times = np.arange(1.0, 29.0, 0.005)
    smooth_accel = np.linalg.norm(noisy.evaluate(times).accel_xyz, axis=1)
    raw_accel = np.linalg.norm(raw.evaluate(times).accel_xyz, axis=1)
    assert np.sqrt(np.mean(smooth_accel ** 2)) < 0.2 * np.sqrt(np.mean(raw_accel ** 2))
    assert np.abs(noisy.evaluate(times).positions_xyz - clean.evaluate(times).positions_xyz).max() < 0.005
    assert np.abs(clean.evaluate(times).positions_xyz - np.array(
        [np.interp(times, (poses.stamps_ns - poses.stamps_ns[0]) * 1e-9, poses.positions_xyz[:, i]) for i in range(3)]).T
                  ).mean() < 0.005  # the fit follows the recording


@pytest.mark.parametrize("case, words", [("few", "need at least"), ("nan", "NaN"), ("order", "not strictly increasing")])
def test_bad_poses_raise_trajectory_errors(case: str, words: str) -> None:
    stamps = np.arange(50, dtype=np.int64) * 10_000_000
    positions = np.zeros((50, 3))
    quats = np.tile([1.0, 0, 0, 0], (50, 1))
    if case == "few":
        stamps, positions, quats = stamps[:5], positions[:5], quats[:5]
    elif case == "nan":
        quats[20, 2] = np.nan
    else:
        stamps[30] = stamps[29]
    with pytest.raises(TrajectoryError, match=words):
        motion_from_poses(stamps, positions, quats, source="poses.txt")


def test_euroc_csv_keeps_exact_nanosecond_stamps(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("#timestamp, p_x, p_y, p_z, q_w, q_x, q_y, q_z\n"
                    "1403636579763555584,4.688,-1.786,0.783,0.534,-0.153,-0.827,-0.083\n"
                    "1403636579768555520,4.688,-1.786,0.787,0.534,-0.153,-0.827,-0.083\n")
    poses = read_pose_file(path)
    assert poses.stamps_ns.tolist() == [1403636579763555584, 1403636579768555520]
    assert poses.frame == "body"
    assert poses.quats_wxyz[0, 0] == pytest.approx(0.534 / np.linalg.norm([0.534, -0.153, -0.827, -0.083]))
    assert read_pose_file(FR1).frame == "camera_optical"
    with pytest.raises(TrajectoryError, match="not found"):
        read_pose_file(tmp_path / "missing.txt")


def test_a_motion_capture_file_with_a_repeated_stamp_drives_a_sequence(tmp_path: Path) -> None:
    """TUM fr2/desk repeats one stamp at its 0.1 ms resolution: the first pose is kept, as for bags."""
    rows = FR1.read_text().splitlines()
    data = [i for i, row in enumerate(rows) if row and not row.startswith("#")]
    rows.insert(data[100] + 1, rows[data[100]].split(" ", 1)[0] + " 9 9 9 0 0 0 1")  # same stamp, a wild pose
    path = tmp_path / "repeated.txt"
    path.write_text("\n".join(rows) + "\n")
    poses, clean = read_pose_file(path), read_pose_file(FR1)
    assert np.array_equal(poses.stamps_ns, clean.stamps_ns) and np.array_equal(poses.positions_xyz, clean.positions_xyz)


def test_sweeps_translate_back_and_forth_at_handheld_speeds() -> None:
    times, states = sample("sweep", 30.0)
    speed = np.linalg.norm(states.velocity_xyz, axis=1)
    assert 0.3 < speed.max() < 1.0  # peak 0.6 m/s per sweep, plus sway and drift
    moving = times > 1.5
    assert np.ptp(states.positions_xyz[moving], axis=0).max() < 0.8  # back and forth, not away


def test_drones_fly_with_their_thrust_along_body_z() -> None:
    """A multirotor's specific force is its thrust: along body z, whatever it accelerates."""
    times, states = sample("drone", 30.0)
    speed = np.linalg.norm(states.velocity_xyz, axis=1)
    assert 1.2 < speed.max() < 2.6 and speed.mean() > 0.3
    specific_force = np.einsum("nji,nj->ni", states.rotations, states.accel_xyz + np.array([0.0, 0.0, 9.81]))
    tilt_deg = np.degrees(np.arccos(states.rotations[:, 2, 2]))
    assert tilt_deg.max() > 10.0  # it leans into its accelerations ...
    assert np.abs(specific_force[:, :2]).max() < 0.3  # ... so sideways force is only hover wobble
    assert np.ptp(states.positions_xyz[:, :2], axis=0).min() > 1.5  # it flies across the room


def test_adding_a_preset_leaves_the_others_unchanged() -> None:
    """A preset's position in MOTION_NAMES seeds its stream: `head` (index 5) keeps its motions."""
    assert MOTION_NAMES.index("head") == 5 and MOTION_NAMES[-2:] == ("sweep", "drone")
