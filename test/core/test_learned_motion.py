"""The learned motion source with frames known ahead (offline replay) gives the poses of one step per frame.

Uses the shipped hybrid model on a rendered sequence (real tracks), long enough for two chunks
of ``LOOKAHEAD_FRAMES``, with the irregularities a bag can hold: a frame with NaN IMU (the chunk
stops before it), a repeated frame (evaluated ahead, then skipped by the estimator: the network
state is rebuilt) and a restart of the sync buffer (frame index 0: the estimator resets).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix, rotation_angle_deg
from arvr_hybrid_vio.core.model.camera_input import CameraModel, trained_camera
from arvr_hybrid_vio.core.model.front_end import VisualFrontEnd, offered_to, tracks_ahead
from arvr_hybrid_vio.core.model.motion_source import LOOKAHEAD_FRAMES
from arvr_hybrid_vio.core.model.visual_tracks import Intrinsics, detect_corners, extract_tracks
from arvr_hybrid_vio.core.model_header import read_config
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence
from arvr_hybrid_vio.core.training.replay import run_estimator, synced_frames
from arvr_hybrid_vio.core.types import SyncedFrame

HYBRID = Path(__file__).resolve().parents[2] / "models" / "hybrid.safetensors"


@pytest.fixture(scope="module")
def frames() -> list[SyncedFrame]:
    """Synced frames of a 5 s head motion with a NaN frame, a repeated frame and a restart."""
    sequence = generate_sequence(SynthConfig(motion=MotionConfig(motion="head", duration_s=5.0, rest_s=0.6)), seed=7)
    clean = list(synced_frames(sequence.image_stamps_ns, sequence.images, sequence.imu_stamps_ns,
                               sequence.gyro, sequence.accel))
    assert len(clean) > 2 * LOOKAHEAD_FRAMES - 10
    nan_accel = clean[40].accel_m_s2.copy()
    nan_accel[1, 0] = np.nan
    out = [*clean[:40], dataclasses.replace(clean[40], accel_m_s2=nan_accel), *clean[41:70],
           dataclasses.replace(clean[69]), *clean[70:110]]  # a copy of frame 69: same stamp, skipped
    restart = [dataclasses.replace(frame, frame_index=index) for index, frame in enumerate(clean[110:])]
    return out + restart


def _poses(frames: list[SyncedFrame], lookahead: int, tilt_gate_deg: float = 0.0, **runtime: str,
           ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    estimator = VioEstimator.from_file(HYBRID, EstimatorConfig(device="cpu", tilt_gate_deg=tilt_gate_deg, **runtime))
    trajectory = run_estimator(estimator, iter(frames), lookahead=lookahead)
    return trajectory.positions_xyz, quat_wxyz_to_matrix(trajectory.quats_wxyz), estimator.counters


@pytest.mark.parametrize("tilt_gate_deg", [0.0, 0.2])  # 0.2: the gate closes on this head motion (poses move 4 mm)
def test_frames_known_ahead_give_the_poses_of_one_step_per_frame(frames: list[SyncedFrame],
                                                                 tilt_gate_deg: float) -> None:
    """The network's input attitude carries its own specific-force mean, so the tilt gate sees the same
    history whether the frames are evaluated ahead or one by one."""
    stepped_positions, stepped_rotations, stepped_counters = _poses(frames, 1, tilt_gate_deg)
    ahead_positions, ahead_rotations, ahead_counters = _poses(frames, LOOKAHEAD_FRAMES, tilt_gate_deg)
    assert ahead_counters == stepped_counters
    assert stepped_counters["frames_skipped_nonfinite"] == 1 and stepped_counters["frames_skipped_out_of_order"] == 1
    assert stepped_counters["resets"] == 1
    assert len(stepped_positions) == stepped_counters["frames_tracked"] > 100
    np.testing.assert_allclose(ahead_positions, stepped_positions, atol=1e-5)
    assert float(np.max(rotation_angle_deg(np.swapaxes(ahead_rotations, -1, -2) @ stepped_rotations))) < 1e-3
    assert float(np.max(np.abs(stepped_positions))) > 1e-3  # the motion is not trivially zero


@pytest.mark.parametrize("lookahead", [1, LOOKAHEAD_FRAMES])
def test_onnxruntime_gives_the_poses_of_torch(frames: list[SyncedFrame], lookahead: int,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    """The model's ONNX export on onnxruntime (estimator.network_runtime) through the same irregular frames:
    single steps, chunks of the lookahead (16-frame graph, then single frames), a chunk cut short by a
    skipped frame (its state rebuilt) and a restart; the poses are torch's to float round-off."""
    cache = tmp_path_factory.getbasetemp() / "onnx_cache"  # shared by both cases: the second loads the export
    torch_positions, torch_rotations, torch_counters = _poses(frames, lookahead, network_runtime="torch")
    onnx_positions, onnx_rotations, onnx_counters = _poses(frames, lookahead, network_runtime="onnxruntime",
                                                           onnx_cache_dir=str(cache))
    assert onnx_counters == torch_counters and len(onnx_positions) > 100
    np.testing.assert_allclose(onnx_positions, torch_positions, atol=1e-5)
    assert float(np.max(rotation_angle_deg(np.swapaxes(onnx_rotations, -1, -2) @ torch_rotations))) < 1e-3


def _poses_with_tracks_ahead(frames: list[SyncedFrame], camera: CameraModel | None) -> tuple[np.ndarray, object]:
    """Poses when a separate front-end (as in arvr-vio-infer's reader process) computed the tracks ahead."""
    estimator = VioEstimator.from_file(HYBRID, EstimatorConfig(device="cpu"))
    ahead = list(tracks_ahead(frames, VisualFrontEnd(read_config(HYBRID), camera)))
    trajectory = run_estimator(estimator, offered_to(estimator.source.front_end, ahead))
    return trajectory.positions_xyz, estimator.source.front_end.counters


def test_tracks_computed_ahead_are_used_and_give_the_same_poses(frames: list[SyncedFrame]) -> None:
    plain_positions, _, counters = _poses(frames, lookahead=LOOKAHEAD_FRAMES)
    positions, front_end = _poses_with_tracks_ahead(frames, camera=None)
    np.testing.assert_array_equal(positions, plain_positions)
    # every pair of frames had its tracks ready, across the NaN frame, the repeated frame (a chunk
    # re-evaluated) and the restart; every tracked frame but the two that start asked for them
    assert front_end.tracks_computed == 0
    assert front_end.tracks_offered_used >= counters["frames_tracked"] - 2


def test_tracks_computed_ahead_for_another_camera_are_not_used(frames: list[SyncedFrame]) -> None:
    plain_positions, _, counters = _poses(frames, lookahead=LOOKAHEAD_FRAMES)
    other = dataclasses.replace(trained_camera(read_config(HYBRID)), fx=90.0, fy=90.0)
    positions, front_end = _poses_with_tracks_ahead(frames, camera=other)
    np.testing.assert_array_equal(positions, plain_positions)
    assert front_end.tracks_offered_used == 0
    assert front_end.tracks_computed >= counters["frames_tracked"] - 2


def test_images_prepared_at_arrival_give_the_same_poses(frames: list[SyncedFrame]) -> None:
    """The node's path: each image's tracks computed when it arrives, then the frame stepped alone."""
    stepped_positions, _, counters = _poses(frames, lookahead=1)
    estimator = VioEstimator.from_file(HYBRID, EstimatorConfig(device="cpu"))
    positions = []
    for index, frame in enumerate(frames):
        if frame.frame_index == 0 and index:
            estimator.reset()  # as run_estimator and the node do when the buffer restarts
        estimator.prepare_image(frame.stamp_ns, frame.image)
        estimate = estimator.step(frame)
        if estimate is not None:
            positions.append(estimate.position_xyz)
    np.testing.assert_array_equal(np.array(positions), stepped_positions)
    source = estimator.source.counters
    assert source["tracks_computed"] == 0  # across the NaN frame, the repeated frame and the restart
    assert source["tracks_offered_used"] == counters["frames_tracked"] - 2  # all but the two starts


def test_corners_found_once_the_pose_is_out_give_the_same_tracks_and_poses(frames: list[SyncedFrame]) -> None:
    """The node's whole path: ``finish_frame`` once a pose is out finds the corners in that frame's image, the
    next image's arrival only tracks them, then the frame is stepped. The poses equal plain steps', and every
    tracking at arrival started from corners found beforehand."""
    stepped_positions, _, counters = _poses(frames, lookahead=1)
    estimator = VioEstimator.from_file(HYBRID, EstimatorConfig(device="cpu"))
    front_end = estimator.source.front_end
    computed, compute_tracks = [], front_end.compute_tracks
    front_end.compute_tracks = lambda *views: computed.append(views) or compute_tracks(*views)  # counts them
    positions = []
    for index, frame in enumerate(frames):
        if frame.frame_index == 0 and index:
            estimator.reset()
        estimator.prepare_image(frame.stamp_ns, frame.image)
        estimate = estimator.step(frame)
        if estimate is not None:
            positions.append(estimate.position_xyz)
        estimator.finish_frame()
    np.testing.assert_array_equal(np.array(positions), stepped_positions)
    # every frame's tracks but the two starts' were computed at arrival, none in the step ...
    assert front_end.counters.tracks_computed == 0
    assert front_end.counters.tracks_offered_used == counters["frames_tracked"] - 2
    # ... and every computation started from corners found once the pose before it was out (one more than
    # used: the NaN frame's tracks, computed at its arrival, before its step skipped it)
    assert front_end.counters.corners_prepared_used == len(computed) == counters["frames_tracked"] - 1


def test_tracks_from_corners_found_beforehand_are_the_tracks(frames: list[SyncedFrame]) -> None:
    config = read_config(HYBRID).tracks
    intrinsics = Intrinsics(*read_config(HYBRID).intrinsics)
    for previous, current in zip(frames[10:40:5], frames[11:41:5]):
        corners = detect_corners(previous.image, config)
        assert len(corners) > 10
        np.testing.assert_array_equal(extract_tracks(previous.image, current.image, intrinsics, config, corners=corners),
                                      extract_tracks(previous.image, current.image, intrinsics, config))
    blank = np.zeros_like(frames[0].image)
    assert len(detect_corners(blank, config)) == 0
    assert not extract_tracks(blank, frames[1].image, intrinsics, config, corners=detect_corners(blank, config)).any()


def test_cuda_graph_is_only_installed_on_cuda() -> None:
    """`estimator.cuda_graph` leaves a CPU network's step as it is, and diagnostics say which path runs."""
    estimator = VioEstimator.from_file(HYBRID, EstimatorConfig(device="cpu", cuda_graph=True, network_runtime="torch"))
    assert estimator.source.graph_step is None and "step" not in estimator.source.network.__dict__
    assert estimator.source.network_path == "cpu"


def test_displacement_at_rest_follows_the_estimators_orientation(frames: list[SyncedFrame]) -> None:
    """The displacement a learned source hands over is the IMU's with gravity removed along the
    estimator's orientation (levelled by the window), not along the network inputs' own attitude track,
    whose tilt drifts in jumps (docs/accuracy_history.md, "The displacement at rest"): the same frame seen from two
    estimator orientations gives the displacements ``strapdown.displacement_at_rest`` gives for them."""
    from arvr_hybrid_vio.core.strapdown import NavState, displacement_at_rest, preintegrate
    frame = frames[20]
    pre = preintegrate(frame.imu_stamps_ns, frame.gyro_rad_s, frame.accel_m_s2)
    displacements = []
    for roll_rad in (0.0, 0.1):  # two estimators in the same state, asked from two orientations
        estimator = VioEstimator.from_file(HYBRID, EstimatorConfig(device="cpu"))
        trajectory = run_estimator(estimator, iter(frames[:20]))
        level = quat_wxyz_to_matrix(trajectory.quats_wxyz[-1])  # the estimator's orientation at the last frame
        rotation = quat_wxyz_to_matrix(np.array([np.cos(roll_rad / 2), np.sin(roll_rad / 2), 0.0, 0.0])) @ level
        state = NavState(int(frame.imu_stamps_ns[0]), rotation, np.zeros(3), np.zeros(3))
        motion = estimator.source.relative_motion(frame, state, pre)
        np.testing.assert_allclose(motion.displacement_at_rest, displacement_at_rest(rotation, pre), atol=1e-15)
        displacements.append(motion.displacement_at_rest)
    # the tilt moves the fall of gravity by g dt^2 / 2 * sin(0.1): far above float error
    assert np.linalg.norm(displacements[1] - displacements[0]) > 0.4 * 9.8 * pre.dt_s ** 2 * 0.1


@pytest.mark.parametrize("trained_hz, rate_hz, reaching_hz, warned", [
    ((30.0,), 20.0, 20.0, True), ((30.0,), 30.0, 30.0, False), ((30.0,), 40.0, 40.0, True),
    ((30.0,), 60.0, 30.0, False),
    ((15.0, 20.0, 30.0, 60.0), 20.0, 20.0, False), ((15.0, 20.0, 30.0, 60.0), 40.0, 40.0, False),
    ((15.0, 20.0, 30.0, 60.0), 10.0, 10.0, True)])
def test_frames_off_the_trained_rates_are_warned_about_once(trained_hz: tuple[float, ...], rate_hz: float,
                                                            reaching_hz: float, warned: bool,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """A network trained at 30 Hz alone (ModelConfig.trained_frame_rates_hz): 20 and 40 Hz are less accurate
    (README, "Camera rate"), said once; a 60 Hz camera reaches the estimator thinned to 30 Hz by the SyncBuffer (no
    warning). One trained at 15-60 Hz: 20 and 40 Hz lie inside, 10 Hz does not."""
    from arvr_hybrid_vio.core.synth.camera import CameraConfig
    motion = MotionConfig(motion="head", duration_s=max(3.0, 36.0 / rate_hz), rest_s=0.6)
    sequence = generate_sequence(SynthConfig(motion=motion, camera=CameraConfig(rate_hz=rate_hz)), seed=4)
    estimator = VioEstimator.from_file(HYBRID, EstimatorConfig(device="cpu"))
    network = estimator.source.network
    network.config = dataclasses.replace(network.config, trained_frame_rates_hz=trained_hz)
    with caplog.at_level("WARNING", logger="arvr_hybrid_vio.core.model.learned_motion"):
        trajectory = run_estimator(estimator, synced_frames(sequence.image_stamps_ns, sequence.images,
                                                            sequence.imu_stamps_ns, sequence.gyro, sequence.accel))
    assert abs(np.median(np.diff(trajectory.stamps_ns)) - 1e9 / reaching_hz) < 1e6  # 60 Hz: every second image
    warnings = [r.getMessage() for r in caplog.records if "frames reach the network" in r.getMessage()]
    trained = " / ".join(f"{rate:g}" for rate in trained_hz)
    assert warnings == ([] if not warned else [
        f"frames reach the network at {reaching_hz:.1f} Hz; it was trained at {trained} Hz, and below about "
        f"{min(trained_hz) / 1.25:.0f} Hz or above about {max(trained_hz) * 1.25:.1f} Hz it is less accurate, up to "
        "several times (README, \"Camera rate\")"])
