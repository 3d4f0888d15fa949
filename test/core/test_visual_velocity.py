"""The camera's window velocity on a rendered sequence, alone and inside the estimator."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.feature_tracker import tracked_ahead
from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
from arvr_hybrid_vio.core.model.camera_input import CameraModel
from arvr_hybrid_vio.core.strapdown import preintegrate
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, SynthSequence, generate_sequence
from arvr_hybrid_vio.core.training.replay import run_estimator, synced_frames
from arvr_hybrid_vio.core.trajectory import Trajectory
from arvr_hybrid_vio.core.visual_velocity import VisualVelocity, VisualVelocityConfig


@pytest.fixture(scope="module")
def sweep() -> SynthSequence:
    """8 s of fast handheld translation (back and forth, up to ~0.6 m/s) in a rendered room."""
    return generate_sequence(SynthConfig(motion=MotionConfig(motion="sweep", duration_s=8.0)), 77)


def rig_camera(sequence: SynthSequence, **changes) -> CameraModel:
    K, T = sequence.intrinsics, sequence.T_body_cam
    camera = CameraModel(160, 128, K[0, 0], K[1, 1], K[0, 2], K[1, 2], (), tuple(T[:3, :3].reshape(9)),
                         t_imu_camera=tuple(T[:3, 3]))
    return dataclasses.replace(camera, **changes)


def tilt_errors_deg(trajectory: Trajectory, sequence: SynthSequence) -> np.ndarray:
    """Roll/pitch error of every pose, deg: the angle between the estimated and the true vertical in the body
    (yaw-free: the estimator's world yaw is its own)."""
    index = np.searchsorted(sequence.imu_stamps_ns, trajectory.stamps_ns)
    up_estimated = quat_wxyz_to_matrix(trajectory.quats_wxyz)[:, 2, :]
    up_true = quat_wxyz_to_matrix(sequence.gt_quats_wxyz[index])[:, 2, :]
    return np.degrees(np.arccos(np.clip(np.sum(up_estimated * up_true, axis=1), -1.0, 1.0)))


def window_velocity_errors(sequence: SynthSequence, camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """(errors, truths) (M, 3) of the measurements after the first 1.5 s, fed true orientations."""
    vision = VisualVelocity(VisualVelocityConfig(solve_every=1))
    vision.set_camera(camera)
    index = np.searchsorted(sequence.imu_stamps_ns, sequence.image_stamps_ns)
    errors, truths = [], []
    for frame, image in enumerate(sequence.images):
        span = slice(index[frame - 1], index[frame] + 1) if frame else None
        pre = None if span is None else preintegrate(sequence.imu_stamps_ns[span], sequence.gyro[span],
                                                     sequence.accel[span])
        rotation = quat_wxyz_to_matrix(sequence.gt_quats_wxyz[index[frame]])
        measured = vision.add_frame(int(sequence.image_stamps_ns[frame]), image, rotation, pre)
        if measured is not None and frame > 45:
            truth = sequence.gt_velocity_xyz[index[frame - 1]]  # the start of the frame's interval
            errors.append(measured.velocity_xyz - truth)
            truths.append(truth)
    return np.array(errors), np.array(truths)


def test_window_velocity_matches_the_true_velocity(sweep) -> None:
    errors, truths = window_velocity_errors(sweep, rig_camera(sweep))
    assert len(errors) > 180  # nearly every frame after the first 1.5 s
    rms = np.sqrt(np.mean(errors ** 2, axis=0))
    assert np.all(rms < 0.015), rms  # m/s; measured 0.4 / 0.2 / 0.2 cm/s against 31 / 13 / 11 cm/s true
    assert np.all(np.abs(errors.mean(axis=0)) < 0.005)
    r_squared = 1.0 - np.sum(errors ** 2, axis=0) / np.sum((truths - truths.mean(axis=0)) ** 2, axis=0)
    assert np.all(r_squared > 0.98), r_squared


def test_a_wrong_camera_mount_spoils_it(sweep) -> None:
    """The mount matters: the same tracks read with the camera looking along the IMU's z axis."""
    right, _ = window_velocity_errors(sweep, rig_camera(sweep))
    wrong, _ = window_velocity_errors(sweep, rig_camera(sweep, R_imu_camera=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)))
    assert len(wrong) == 0 or np.sqrt(np.mean(wrong ** 2)) > 5 * np.sqrt(np.mean(right ** 2))


def test_estimator_with_the_window_tracks_where_strapdown_drifts(sweep) -> None:
    """IMU-only: strapdown integration against strapdown with the window's velocity, no learning."""
    truth = Trajectory(sweep.imu_stamps_ns, sweep.gt_positions_xyz, sweep.gt_quats_wxyz)
    scores = {}
    for enabled in (False, True):
        estimator = VioEstimator.from_file("imu-only", EstimatorConfig(
            device="cpu", visual_velocity=VisualVelocityConfig(enabled=enabled)))
        estimator.set_camera(rig_camera(sweep))
        frames = synced_frames(sweep.image_stamps_ns, sweep.images, sweep.imu_stamps_ns, sweep.gyro, sweep.accel)
        report = evaluate(truth, run_estimator(estimator, frames), EvalConfig(align="se3"))
        scores[enabled] = (report.ate.stats.rmse, estimator.counters["visual_velocity_updates"])
    assert scores[False][1] == 0 and scores[True][1] > 100  # a solve every 2nd frame
    assert scores[True][0] < 0.10, scores  # m; measured 0.060 against 0.65 for strapdown
    assert scores[False][0] > 5 * scores[True][0], scores


def test_with_defer_solve_a_frame_is_tracked_after_its_pose_and_the_poses_do_not_change(sweep) -> None:
    """The node's path: ``prepare_image`` at image arrival, ``step``, then ``finish_frame`` once the pose is
    out. With ``defer_solve`` the window tracking is not done at arrival nor in the step but in
    ``finish_frame``: off the latency path even for a frame that completes as its image arrives. The poses
    equal those of plain steps (where the next step does that tracking)."""
    frames = list(synced_frames(sweep.image_stamps_ns, sweep.images, sweep.imu_stamps_ns, sweep.gyro,
                                sweep.accel))

    def estimator() -> VioEstimator:
        made = VioEstimator.from_file("imu-only", EstimatorConfig(device="cpu"))
        made.set_camera(rig_camera(sweep))
        return made

    plain = run_estimator(estimator(), frames, lookahead=1)
    live = estimator()
    tracker = live.visual_velocity.tracker
    positions, checked = [], 0
    for frame in frames:
        live.prepare_image(int(frame.stamp_ns), frame.image)
        estimate = live.step(frame)
        if estimate is None:  # initialising: the frame only carries the tracks on, at once
            live.finish_frame()
            continue
        positions.append(estimate.position_xyz)
        assert tracker.expected_key(0)[1] != int(frame.stamp_ns)  # its pose is out, its tracking not done
        live.finish_frame()
        assert tracker.expected_key(0)[1] == int(frame.stamp_ns)  # tracked now, after the pose
        checked += 1
    assert checked > 100 and tracker.offered_used == 0  # nothing was tracked at image arrival
    np.testing.assert_array_equal(np.array(positions), plain.positions_xyz)


def test_window_tracks_computed_ahead_give_the_same_poses(sweep) -> None:
    """What ``arvr-vio-infer``'s reader process does: the window tracks of every frame computed by a
    tracker of its own (``tracked_ahead``) and offered to the estimator's. Over a sequence with a NaN
    frame and a restart the poses are identical, and the estimator tracked only where it had to."""
    frames = list(synced_frames(sweep.image_stamps_ns, sweep.images, sweep.imu_stamps_ns, sweep.gyro,
                                sweep.accel))
    broken = frames[60]
    frames[60] = dataclasses.replace(broken, gyro_rad_s=np.full_like(broken.gyro_rad_s, np.nan))
    frames[150:] = [dataclasses.replace(frame, frame_index=index) for index, frame in enumerate(frames[150:])]

    def replay(offered: bool):
        estimator = VioEstimator.from_file("imu-only", EstimatorConfig(device="cpu"))
        estimator.set_camera(rig_camera(sweep))
        tracker = estimator.visual_velocity.tracker
        feed = frames
        if offered:
            def feed_offered():
                for frame, tracked in tracked_ahead(frames, estimator.config.visual_velocity.tracker):
                    if tracked is not None:
                        tracker.offer(tracked)
                    yield frame
            feed = feed_offered()
        trajectory = run_estimator(estimator, feed)
        return trajectory, tracker

    plain, plain_tracker = replay(False)
    ahead, ahead_tracker = replay(True)
    np.testing.assert_array_equal(plain.positions_xyz, ahead.positions_xyz)
    np.testing.assert_array_equal(plain.quats_wxyz, ahead.quats_wxyz)
    assert plain_tracker.offered_used == 0 and ahead_tracker.computed == 0
    # all but the NaN frame, and (defer_solve: a frame is tracked after its pose, when the next solve needs
    # it) the frame before the restart and the last one, whose tracks nothing would use
    assert ahead_tracker.offered_used == plain_tracker.computed == len(frames) - 3


def test_a_deferred_solve_is_the_same_solve_applied_one_frame_later(sweep) -> None:
    """``defer_solve``: the solve that ran with frame k (immediately) runs after it (``solve_pending``)
    and its velocity, at frame k's stamp, goes into frame k+1: the same solutions, one frame later."""
    index = np.searchsorted(sweep.imu_stamps_ns, sweep.image_stamps_ns)
    now = VisualVelocity(VisualVelocityConfig(solve_every=1, defer_solve=False))
    later = VisualVelocity(VisualVelocityConfig(solve_every=1, defer_solve=True))
    for vision in (now, later):
        vision.set_camera(rig_camera(sweep))
    measured_now, measured_later, solved = [], [], 0
    for frame, image in enumerate(sweep.images[:120]):
        span = slice(index[frame - 1], index[frame] + 1) if frame else None
        pre = None if span is None else preintegrate(sweep.imu_stamps_ns[span], sweep.gyro[span], sweep.accel[span])
        rotation = quat_wxyz_to_matrix(sweep.gt_quats_wxyz[index[frame]])
        measured_now.append(now.add_frame(int(sweep.image_stamps_ns[frame]), image, rotation, pre))
        measured_later.append(later.add_frame(int(sweep.image_stamps_ns[frame]), image, rotation, pre))
        later.solve_pending()
        if now.last is not None:
            solved += 1
            np.testing.assert_array_equal(now.last.velocity_xyz, later.last.velocity_xyz)
    assert solved > 80
    assert [m is None for m in measured_later[1:]] == [m is None for m in measured_now[:-1]]
    for frame in range(50, 120):  # frame k's solution at frame k's stamp: the start of frame k+1's interval
        truth = sweep.gt_velocity_xyz[index[frame - 1]]
        assert np.linalg.norm(measured_later[frame].velocity_xyz - truth) < 0.05
    errors = [np.linalg.norm(m.velocity_xyz - sweep.gt_velocity_xyz[index[k - 1]])
              for k, m in enumerate(measured_later) if k >= 50]
    assert np.sqrt(np.mean(np.square(errors))) < 0.01  # m/s


def test_deferred_solve_poses_do_not_depend_on_when_the_caller_finishes_frames(sweep) -> None:
    """The estimator with ``defer_solve``: the same poses whether the caller runs ``finish_frame``
    after every step (the node, when idle) or never (``step`` runs it), over a NaN frame and a restart."""
    frames = list(synced_frames(sweep.image_stamps_ns, sweep.images, sweep.imu_stamps_ns, sweep.gyro,
                                sweep.accel))
    broken = frames[60]
    frames[60] = dataclasses.replace(broken, gyro_rad_s=np.full_like(broken.gyro_rad_s, np.nan))
    frames[150:] = [dataclasses.replace(frame, frame_index=index) for index, frame in enumerate(frames[150:])]
    config = EstimatorConfig(device="cpu", visual_velocity=VisualVelocityConfig(defer_solve=True))

    def replay(finish: bool) -> tuple[np.ndarray, int]:
        estimator = VioEstimator.from_file("imu-only", config)
        estimator.set_camera(rig_camera(sweep))
        positions = []
        for frame in frames:
            pose = estimator.step(frame)
            if pose is not None:
                positions.append(pose.position_xyz)
            if finish:
                estimator.finish_frame()
        return np.array(positions), estimator.counters["visual_velocity_updates"]

    (lazy, lazy_updates), (finished, finished_updates) = replay(False), replay(True)
    np.testing.assert_array_equal(lazy, finished)
    assert lazy_updates == finished_updates > 50


def test_turning_the_window_history_equals_a_window_built_turned(sweep) -> None:
    """``rotate_world``: a window whose history is turned by a world rotation C, then fed C-turned attitudes,
    solves exactly as a window fed C-turned attitudes from its start (the strapdown's gravity part stays)."""
    from arvr_hybrid_vio.core.geometry import so3_exp
    turn = so3_exp(np.radians([3.0, -2.0, 0.0]))
    config = VisualVelocityConfig(solve_every=1, defer_solve=False)
    turned_later, turned_throughout = VisualVelocity(config), VisualVelocity(config)
    for vision in (turned_later, turned_throughout):
        vision.set_camera(rig_camera(sweep))
    index = np.searchsorted(sweep.imu_stamps_ns, sweep.image_stamps_ns)
    compared = 0
    for frame in range(90):
        span = slice(index[frame - 1], index[frame] + 1) if frame else None
        pre = None if span is None else preintegrate(sweep.imu_stamps_ns[span], sweep.gyro[span], sweep.accel[span])
        rotation = quat_wxyz_to_matrix(sweep.gt_quats_wxyz[index[frame]])
        stamp, image = int(sweep.image_stamps_ns[frame]), sweep.images[frame]
        if frame == 60:
            turned_later.rotate_world(turn)
        later = turned_later.add_frame(stamp, image, turn @ rotation if frame >= 60 else rotation, pre)
        throughout = turned_throughout.add_frame(stamp, image, turn @ rotation, pre)
        if frame > 60 and throughout is not None:
            np.testing.assert_allclose(later.velocity_xyz, throughout.velocity_xyz, atol=1e-9)
            np.testing.assert_allclose(later.acceleration_xyz, throughout.acceleration_xyz, atol=1e-9)
            compared += 1
        elif frame > 50 and throughout is not None and frame < 60:  # before the turn they differ: the test can fail
            assert np.abs(later.velocity_xyz - throughout.velocity_xyz).max() > 1e-4
    assert compared > 20


def test_the_start_tilt_is_levelled_in_two_seconds_when_a_recording_starts_moving(sweep) -> None:
    """A recording that starts mid-sweep: the static initialisation reads the sweep's acceleration as gravity
    (8 deg of tilt here). With ``initial_levelling_s`` the window levels it within two seconds; with the
    steady 0.2/s levelling alone it takes several more, and the positions pay for it."""
    start = 60  # frame 2 s into the sweep
    imu = slice(int(np.searchsorted(sweep.imu_stamps_ns, sweep.image_stamps_ns[start])), None)
    truth = Trajectory(sweep.imu_stamps_ns[imu], sweep.gt_positions_xyz[imu], sweep.gt_quats_wxyz[imu])
    results = {}
    for seconds in (0.0, 2.0):
        estimator = VioEstimator.from_file("imu-only", EstimatorConfig(
            device="cpu", visual_velocity=VisualVelocityConfig(initial_levelling_s=seconds)))
        estimator.set_camera(rig_camera(sweep))
        frames = synced_frames(sweep.image_stamps_ns[start:], sweep.images[start:], sweep.imu_stamps_ns[imu],
                               sweep.gyro[imu], sweep.accel[imu])
        trajectory = run_estimator(estimator, frames)
        tilt_deg = tilt_errors_deg(trajectory, sweep)
        after = (trajectory.stamps_ns - trajectory.stamps_ns[0]) * 1e-9
        results[seconds] = (tilt_deg[0], tilt_deg[(after >= 2.0) & (after <= 3.0)].max(),
                            evaluate(truth, trajectory, EvalConfig(align="se3")).ate.stats.rmse)
    assert results[0.0][0] > 5.0 and results[2.0][0] > 5.0, results  # the same static guess: measured 8.4 deg
    assert results[2.0][1] < 0.5 < 2.0 < results[0.0][1], results  # worst tilt 2-3 s in, deg: measured 0.1 against 3.7
    assert results[2.0][2] < 0.75 * results[0.0][2], results  # ATE, m; measured 0.17 against 0.28


def test_the_start_tilt_is_levelled_from_the_windows_first_solve_when_it_comes_late(sweep) -> None:
    """The fast levelling acts through window solves, so its two seconds count from the first one: here the
    camera sees a blank wall for the first 2 s of a recording that starts mid-sweep (no tracks, no solve; as
    EuRoC V1_02's first solve, 2.7 s after initialising), and the start's tilt is still levelled within two
    seconds of the first solve. Counted from the initialisation, the fast levelling would be over before it."""
    start, blank = 60, 60  # frames: 2 s into the sweep; 2 s of a flat image
    imu = slice(int(np.searchsorted(sweep.imu_stamps_ns, sweep.image_stamps_ns[start])), None)
    images = sweep.images[start:].copy()
    images[:blank] = 128
    tilts = {}
    for seconds in (0.0, 2.0):
        estimator = VioEstimator.from_file("imu-only", EstimatorConfig(
            device="cpu", visual_velocity=VisualVelocityConfig(initial_levelling_s=seconds)))
        estimator.set_camera(rig_camera(sweep))
        frames = synced_frames(sweep.image_stamps_ns[start:], images, sweep.imu_stamps_ns[imu], sweep.gyro[imu],
                               sweep.accel[imu])
        trajectory = run_estimator(estimator, frames)
        tilt_deg = tilt_errors_deg(trajectory, sweep)
        after = (trajectory.stamps_ns - trajectory.stamps_ns[0]) * 1e-9
        tilts[seconds] = (tilt_deg[0], tilt_deg[(after >= 3.0) & (after <= 4.0)].max())
    assert tilts[0.0][0] > 5.0 and tilts[2.0][0] > 5.0, tilts  # the static guess: measured 8.4 deg
    assert tilts[2.0][1] < 0.5 < 2.0 < tilts[0.0][1], tilts  # worst tilt 3-4 s in, deg: measured 0.3 against 6.4


def test_a_multirotor_keeps_its_attitude_when_the_pull_takes_off_its_acceleration() -> None:
    """A rendered multirotor, IMU-only with the window: its specific force leans with its sustained
    accelerations, which the plain accelerometer pull reads as tilt. With ``tilt_motion_compensated`` the pull
    takes off the estimator's own acceleration (its velocity, which the window measures) and the attitude holds."""
    drone = generate_sequence(SynthConfig(motion=MotionConfig(motion="drone", duration_s=12.0)), 77)
    truth = Trajectory(drone.imu_stamps_ns, drone.gt_positions_xyz, drone.gt_quats_wxyz)
    results = {}
    for compensated in (False, True):
        estimator = VioEstimator.from_file("imu-only", EstimatorConfig(device="cpu",
                                                                       tilt_motion_compensated=compensated))
        estimator.set_camera(rig_camera(drone))
        trajectory = run_estimator(estimator, synced_frames(drone.image_stamps_ns, drone.images, drone.imu_stamps_ns,
                                                            drone.gyro, drone.accel))
        tilt_deg = tilt_errors_deg(trajectory, drone)
        results[compensated] = (np.sqrt(np.mean(tilt_deg ** 2)),
                                evaluate(truth, trajectory, EvalConfig(align="se3")).ate.stats.rmse)
    assert results[False][0] > 0.8, results  # deg RMS; measured 1.25
    assert results[True][0] < 0.3 * results[False][0], results  # measured 0.18
    assert results[True][1] < 0.3 * results[False][1], results  # ATE, m; measured 0.041 against 0.44


@pytest.mark.parametrize("changes", [dict(window_s=0.0), dict(frame_stride=0), dict(solve_every=0),
                                     dict(tilt_correction_per_s=-0.1), dict(initial_levelling_s=-1.0),
                                     dict(initial_tilt_correction_per_s=-1.0)])
def test_bad_settings_are_refused(changes) -> None:
    from arvr_hybrid_vio.core.errors import ConfigError
    with pytest.raises(ConfigError, match="estimator.visual_velocity"):
        VisualVelocityConfig(**changes)


def test_another_rig_distorted_yawed_larger_and_slower() -> None:
    """A 400x300 plumb_bob camera at 20 Hz, yawed 20 deg on a 10 cm lever arm: undistorted, tracked at
    the reduced width and scaled back, it gives the velocity as well as the training camera does."""
    from arvr_hybrid_vio.core.synth.camera import CameraConfig
    camera = CameraConfig(width=400, height=300, rate_hz=20.0, hfov_deg=80.0, distortion=(-0.25, 0.06, 5e-4, -3e-4),
                          mount_xyz=(0.1, -0.05, 0.02), mount_tilt_deg=0.0, mount_yaw_deg=20.0)
    sequence = generate_sequence(SynthConfig(motion=MotionConfig(motion="sweep", duration_s=6.0), camera=camera), 78)
    K, T = sequence.intrinsics, sequence.T_body_cam
    rig = CameraModel(400, 300, K[0, 0], K[1, 1], K[0, 2], K[1, 2], tuple(sequence.distortion),
                      tuple(T[:3, :3].reshape(9)), t_imu_camera=tuple(T[:3, 3]))
    errors, truths = window_velocity_errors(sequence, rig)
    assert len(errors) > 60
    # measured 0.27 cm/s RMS (0.58 cm/s with the distortion ignored) against 20-30 cm/s true
    assert np.sqrt(np.mean(errors ** 2)) < 0.004, np.sqrt(np.mean(errors ** 2, axis=0))
    r_squared = 1.0 - np.sum(errors ** 2, axis=0) / np.sum((truths - truths.mean(axis=0)) ** 2, axis=0)
    assert np.all(r_squared > 0.98), r_squared
