"""The streaming estimator with the strapdown (imu-only) motion source: init, tracking, bad input."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix, rotation_angle_deg
from arvr_hybrid_vio.core.types import SyncedFrame
from test_strapdown_helpers import GRAVITY, ExactMotion, exact_motion

FRAME_EVERY = 10  # 200 Hz IMU, 20 Hz camera
MODELS = Path(__file__).resolve().parents[2] / "models"


def make_frames(motion: ExactMotion, *, every: int = FRAME_EVERY) -> list[SyncedFrame]:
    """Synced frames holding the IMU since the previous frame (both ends included)."""
    rng = np.random.default_rng(0)
    frames = []
    for index, end in enumerate(range(every, len(motion.stamps_ns), every)):
        window = slice(end - every, end + 1)
        frames.append(SyncedFrame(
            stamp_ns=int(motion.stamps_ns[end]), image=rng.integers(0, 255, (32, 40), dtype=np.uint8),
            imu_stamps_ns=motion.stamps_ns[window].copy(), gyro_rad_s=motion.gyro[window].copy(),
            accel_m_s2=motion.accel[window].copy(), frame_index=index))
    return frames


def run(estimator: VioEstimator, frames: list[SyncedFrame]) -> list:
    return [estimator.step(frame) for frame in frames]


PURE_STRAPDOWN = EstimatorConfig(device="cpu", tilt_correction_per_s=0.0)  # exact IMU in, exact poses out


def test_imu_only_initialises_then_tracks_ground_truth() -> None:
    motion = exact_motion(5.0)
    estimator = VioEstimator.from_file("imu-only", PURE_STRAPDOWN)
    assert estimator.state == "initialising"
    outputs = run(estimator, make_frames(motion))
    assert outputs[:9] == [None] * 9 and outputs[9] is not None
    assert estimator.state == "tracking" and estimator.last_fusion_weights is None
    last, index = outputs[-1], len(outputs) * FRAME_EVERY
    assert last.stamp_ns == int(motion.stamps_ns[index])
    assert np.linalg.norm(last.position_xyz - (motion.positions_xyz[index] - motion.positions_xyz[0])) < 2e-3
    assert rotation_angle_deg(quat_wxyz_to_matrix(last.quat_wxyz).T @ motion.rotations[index]) < 0.01
    np.testing.assert_allclose(quat_wxyz_to_matrix(last.quat_wxyz) @ last.linear_velocity_xyz,
                               motion.velocity_xyz[index], atol=2e-3)
    assert np.all(np.linalg.eigvalsh(last.pose_covariance) > 0)
    assert estimator.counters["frames_tracked"] == len(outputs) - 9


def test_propagate_imu_is_consistent_with_frame_rate_output() -> None:
    motion = exact_motion(3.0)
    frames = make_frames(motion)
    estimator = VioEstimator.from_file("imu-only", PURE_STRAPDOWN)
    assert estimator.propagate_imu(int(motion.stamps_ns[1]), motion.gyro[1], motion.accel[1]) is None
    predictions = {}
    for frame in frames:
        # the node sees IMU past the frame stamp before the synced frame pops out of the buffer
        nxt = np.searchsorted(motion.stamps_ns, frame.stamp_ns) + 1
        if nxt < len(motion.stamps_ns):
            estimator.propagate_imu(int(motion.stamps_ns[nxt]), motion.gyro[nxt], motion.accel[nxt])
        estimate = estimator.step(frame)
        for k in range(nxt + 1, min(nxt + FRAME_EVERY, len(motion.stamps_ns))):
            predictions[k] = estimator.propagate_imu(int(motion.stamps_ns[k]), motion.gyro[k], motion.accel[k])
        if estimate is not None:
            frame_estimate = estimate
    assert sum(p is not None for p in predictions.values()) > 100
    for k, prediction in predictions.items():
        if prediction is not None:
            assert prediction.stamp_ns == motion.stamps_ns[k]
            assert np.linalg.norm(prediction.position_xyz - (motion.positions_xyz[k] - motion.positions_xyz[0])) < 2e-3
    assert frame_estimate.stamp_ns == frames[-1].stamp_ns


@pytest.mark.parametrize("seen_ahead", [0, 1, 3, 9])
def test_imu_seen_before_a_frame_is_replayed_in_order_bit_for_bit(seen_ahead: int) -> None:
    """IMU samples propagated past a frame's stamp before the frame is stepped are replayed from its pose: the
    next IMU-rate pose equals, bit for bit, that of an estimator that got those samples only after the step,
    for none, one and several samples ahead."""
    motion = exact_motion(3.0)
    stamps = motion.stamps_ns
    early, late = (VioEstimator.from_file("imu-only", PURE_STRAPDOWN) for _ in range(2))
    fed = {id(early): 0, id(late): 0}

    def feed(estimator: VioEstimator, until: int) -> None:  # the samples not yet fed, up to index ``until``
        for k in range(fed[id(estimator)], min(until, len(stamps))):
            estimator.propagate_imu(int(stamps[k]), motion.gyro[k], motion.accel[k])
        fed[id(estimator)] = max(fed[id(estimator)], min(until, len(stamps)))

    compared = 0
    for frame in make_frames(motion):
        at_frame = int(np.searchsorted(stamps, frame.stamp_ns)) + 1  # samples up to the frame stamp
        feed(early, at_frame + seen_ahead)  # seen before the frame popped out of the buffer
        feed(late, at_frame)
        pose, reference = early.step(frame), late.step(frame)
        assert (pose is None) == (reference is None)
        feed(late, at_frame + seen_ahead)  # the same samples, after the step
        following = at_frame + seen_ahead
        if pose is None or following >= len(stamps):
            continue
        assert pose.position_xyz.tobytes() == reference.position_xyz.tobytes()
        predicted = [e.propagate_imu(int(stamps[following]), motion.gyro[following], motion.accel[following])
                     for e in (early, late)]
        fed[id(early)] = fed[id(late)] = following + 1
        assert predicted[0].position_xyz.tobytes() == predicted[1].position_xyz.tobytes()
        assert predicted[0].quat_wxyz.tobytes() == predicted[1].quat_wxyz.tobytes()
        assert predicted[0].linear_velocity_xyz.tobytes() == predicted[1].linear_velocity_xyz.tobytes()
        compared += 1
    assert compared > 20


def test_nan_imu_frame_is_skipped_counted_and_never_output() -> None:
    motion = exact_motion(3.0)
    frames = make_frames(motion)
    bad = frames[15]
    gyro = bad.gyro_rad_s.copy()
    gyro[3, 1] = np.nan
    frames[15] = SyncedFrame(bad.stamp_ns, bad.image, bad.imu_stamps_ns, gyro, bad.accel_m_s2, bad.frame_index)
    accel = frames[20].accel_m_s2.copy()
    accel[0, 0] = np.inf
    frames[20] = SyncedFrame(frames[20].stamp_ns, frames[20].image, frames[20].imu_stamps_ns,
                             frames[20].gyro_rad_s, accel, frames[20].frame_index)
    estimator = VioEstimator.from_file("imu-only", EstimatorConfig())
    outputs = run(estimator, frames[:16])
    assert outputs[15] is None and estimator.state == "degraded"
    outputs += run(estimator, frames[16:])
    assert outputs[20] is None
    assert estimator.counters["frames_skipped_nonfinite"] == 2
    assert estimator.state == "tracking" and estimator.counters["gaps_coasted"] == 2
    for out in outputs:
        if out is not None:
            for value in (out.position_xyz, out.quat_wxyz, out.linear_velocity_xyz, out.pose_covariance):
                assert np.all(np.isfinite(value))
    assert estimator.propagate_imu(int(motion.stamps_ns[-1]) + 5_000_000, [np.nan, 0, 0], [0, 0, 9.8]) is None
    assert estimator.counters["imu_skipped_nonfinite"] == 1


def test_a_short_gap_is_coasted_at_the_last_velocity() -> None:
    """A frame skipped while moving (here its IMU has a NaN) leaves a gap before the next frame's
    IMU: the state crosses it at its velocity, so the position after the gap stays on the truth
    (holding it would lose velocity x gap, and the velocity itself)."""
    motion = exact_motion(4.0)
    frames = make_frames(motion)
    skipped = 30
    gyro = frames[skipped].gyro_rad_s.copy()
    gyro[2, 0] = np.nan
    frames[skipped] = dataclasses.replace(frames[skipped], gyro_rad_s=gyro)
    estimator = VioEstimator.from_file("imu-only", PURE_STRAPDOWN)
    outputs = run(estimator, frames[:skipped + 2])
    assert outputs[skipped] is None and estimator.counters["gaps_coasted"] == 1
    after, index = outputs[skipped + 1], (skipped + 2) * FRAME_EVERY
    true_velocity = motion.velocity_xyz[skipped * FRAME_EVERY]
    gap_s = FRAME_EVERY / 200.0
    # holding the position over the gap put it 6.4 cm off here; coasting leaves 5 mm (the gap's
    # rotation and acceleration are lost with its IMU)
    error = np.linalg.norm(after.position_xyz - (motion.positions_xyz[index] - motion.positions_xyz[0]))
    assert error < 0.01 < np.linalg.norm(true_velocity) * gap_s
    velocity = quat_wxyz_to_matrix(after.quat_wxyz) @ after.linear_velocity_xyz
    assert np.linalg.norm(velocity - motion.velocity_xyz[index]) < 0.1 < 0.5 < np.linalg.norm(velocity)  # not held at 0


def test_invalid_and_out_of_order_frames_are_skipped() -> None:
    frames = make_frames(exact_motion(2.0))
    estimator = VioEstimator.from_file("imu-only", EstimatorConfig())
    run(estimator, frames[:12])
    assert estimator.step(frames[5]) is None
    assert estimator.counters["frames_skipped_out_of_order"] == 1
    bad = frames[12]
    colour = np.zeros((32, 40, 3), dtype=np.uint8)
    assert estimator.step(SyncedFrame(bad.stamp_ns, colour, bad.imu_stamps_ns, bad.gyro_rad_s, bad.accel_m_s2)) is None
    assert estimator.counters["frames_skipped_invalid"] == 1
    assert estimator.step(frames[13]) is not None


def test_reset_returns_to_initialising() -> None:
    frames = make_frames(exact_motion(2.0))
    estimator = VioEstimator.from_file("imu-only", EstimatorConfig())
    run(estimator, frames[:12])
    estimator.reset()
    assert estimator.state == "initialising" and estimator.counters["resets"] == 1
    assert estimator.step(frames[12]) is None


def test_bad_device_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="device"):
        VioEstimator.from_file("imu-only", EstimatorConfig(device="tpu"))


def _learned_estimator(tmp_path, family: str = "hybrid") -> VioEstimator:
    import torch

    from arvr_hybrid_vio.core.model.model_config import ModelConfig
    from arvr_hybrid_vio.core.model.network import VioNetwork
    from arvr_hybrid_vio.core.model_io import save_model
    torch.manual_seed(0)
    path = save_model(tmp_path / f"{family}.safetensors", VioNetwork(ModelConfig(family=family)))
    return VioEstimator.from_file(path, EstimatorConfig(device="cpu"))


def test_learned_estimator_exposes_fusion_weights_and_skips_nan(tmp_path) -> None:
    frames = make_frames(exact_motion(2.0))
    bad = frames[14]
    accel = bad.accel_m_s2.copy()
    accel[2, 2] = np.nan
    frames[14] = SyncedFrame(bad.stamp_ns, bad.image, bad.imu_stamps_ns, bad.gyro_rad_s, accel, bad.frame_index)
    estimator = _learned_estimator(tmp_path)
    outputs = run(estimator, frames)
    assert outputs[14] is None and estimator.counters["frames_skipped_nonfinite"] == 1
    weights = estimator.last_fusion_weights
    assert weights.shape == (3,) and abs(weights.sum() - 1.0) < 1e-6 and np.all(weights > 0)
    tracked = [o for o in outputs if o is not None]
    assert len(tracked) == len(frames) - 9 - 1
    for out in tracked:
        for value in (out.position_xyz, out.quat_wxyz, out.linear_velocity_xyz, out.pose_covariance,
                      out.twist_covariance):
            assert np.all(np.isfinite(value))


def test_shipped_models_load_and_run_a_step() -> None:
    from pathlib import Path
    models = Path(__file__).resolve().parents[2] / "models"
    files = sorted(models.glob("*.safetensors"))
    assert {"hybrid.safetensors", "multihead.safetensors"} <= {f.name for f in files}
    frames = make_frames(exact_motion(1.5))
    for path in files:
        assert path.stat().st_size <= 25 * 2**20, path
        estimator = VioEstimator.from_file(path, EstimatorConfig(device="cpu"))
        outputs = [o for o in run(estimator, frames) if o is not None]
        assert outputs and all(np.all(np.isfinite(o.position_xyz)) for o in outputs), path


def test_the_strapdown_baseline_gets_the_learned_sources_tilt_pull() -> None:
    """`tilt_correction_per_s` reaches the IMU-only source too, so the baselines differ by the learning
    alone; the pull levels a tilted attitude in a calm interval and leaves an accelerating one alone."""
    from arvr_hybrid_vio.core.geometry import so3_exp
    from arvr_hybrid_vio.core.strapdown import preintegrate, tilt_corrected
    assert VioEstimator.from_file("imu-only", EstimatorConfig()).source.tilt_correction_per_s == 0.2
    assert VioEstimator.from_file("imu-only", PURE_STRAPDOWN).source.tilt_correction_per_s == 0.0
    stamps = np.arange(0, 7) * 5_000_000
    at_rest = preintegrate(stamps, np.zeros((7, 3)), np.tile([0.0, 0.0, 9.81], (7, 1)))
    tilted = so3_exp(np.radians([2.0, 0.0, 0.0]))  # 2 deg of roll error
    levelled = tilted @ tilt_corrected(tilted, at_rest, at_rest.delta_rotation, rate_per_s=0.2)
    assert rotation_angle_deg(levelled) < rotation_angle_deg(tilted)
    accelerating = preintegrate(stamps, np.zeros((7, 3)), np.tile([5.0, 0.0, 9.81], (7, 1)))
    np.testing.assert_array_equal(tilt_corrected(tilted, accelerating, accelerating.delta_rotation, rate_per_s=0.2),
                                  accelerating.delta_rotation)


def drone_motion(duration_s: float = 30.0, seed: int = 7) -> ExactMotion:
    """The procedural multirotor (roll and pitch follow its thrust), with exact IMU at 200 Hz."""
    from arvr_hybrid_vio.core.synth.presets import procedural_motion
    times = np.arange(0, int(duration_s * 200) + 1) / 200.0
    states = procedural_motion("drone", duration_s, seed).evaluate(times)
    return ExactMotion(stamps_ns=1_000_000_000 + np.round(times * 1e9).astype(np.int64),
                       positions_xyz=states.positions_xyz, rotations=states.rotations,
                       velocity_xyz=states.velocity_xyz, gyro=states.omega_body,
                       accel=np.einsum("nji,nj->ni", states.rotations, states.accel_xyz - GRAVITY))


def tilt_errors_deg(estimator: VioEstimator, motion: ExactMotion) -> np.ndarray:
    """Roll/pitch error of every estimate: the angle between the estimated and true vertical in the body
    (yaw-free; the estimator's world yaw is its own)."""
    errors = []
    for frame, estimate in zip(make_frames(motion), run(estimator, make_frames(motion))):
        if estimate is not None:
            true = motion.rotations[np.searchsorted(motion.stamps_ns, frame.stamp_ns)]
            estimated = quat_wxyz_to_matrix(estimate.quat_wxyz)
            errors.append(np.degrees(np.arccos(np.clip(estimated[2] @ true[2], -1.0, 1.0))))
    return np.array(errors)


def test_the_tilt_gate_keeps_a_multirotors_attitude() -> None:
    """A multirotor's specific force leans with its acceleration: the ungated pull levels towards it and
    tilts the estimate by degrees (exact IMU, so strapdown alone would be exact); the lean gate does not."""
    motion = drone_motion()
    uncompensated = EstimatorConfig(device="cpu", tilt_motion_compensated=False)  # the pull that assumes no acceleration
    pulled = tilt_errors_deg(VioEstimator.from_file("imu-only", uncompensated), motion)
    gated = tilt_errors_deg(VioEstimator.from_file("imu-only", dataclasses.replace(uncompensated, tilt_gate_deg=2.0)),
                            motion)
    assert pulled.max() > 2.0
    assert gated.max() < 0.3 * pulled.max()  # 0.55 against 2.48 deg (seed 7)


def test_without_a_velocity_measurement_the_pull_is_not_compensated() -> None:
    """Pure strapdown (no window, no network): its velocity comes from the pulled attitude itself, so taking its
    acceleration off would cancel the pull; ``tilt_motion_compensated`` leaves it as it was, bit for bit."""
    from arvr_hybrid_vio.core.visual_velocity import VisualVelocityConfig
    motion = drone_motion(duration_s=10.0)
    no_window = EstimatorConfig(device="cpu", visual_velocity=VisualVelocityConfig(enabled=False))
    plain = tilt_errors_deg(VioEstimator.from_file("imu-only", dataclasses.replace(
        no_window, tilt_motion_compensated=False)), motion)
    compensated = tilt_errors_deg(VioEstimator.from_file("imu-only", no_window), motion)
    np.testing.assert_array_equal(compensated, plain)
    assert plain.max() > 1.0  # the pull is at work here (and leans with the drone)


def test_the_pull_with_the_bodys_acceleration_levels_while_accelerating() -> None:
    """``acceleration_xyz`` is taken off the specific force: an accelerating body with a correct attitude is
    left alone (without it the pull would turn it towards the lean), and a tilted one is levelled."""
    from arvr_hybrid_vio.core.geometry import so3_exp
    from arvr_hybrid_vio.core.strapdown import preintegrate, tilt_corrected
    stamps = np.arange(0, 7) * 5_000_000
    forward = np.array([0.3, 0.0, 0.0])  # m/s^2, sustained: within the pull's 0.5 m/s^2 calm band
    accelerating = preintegrate(stamps, np.zeros((7, 3)), np.tile(forward + [0.0, 0.0, 9.81], (7, 1)))
    level = np.eye(3)
    np.testing.assert_allclose(tilt_corrected(level, accelerating, accelerating.delta_rotation, rate_per_s=0.2,
                                              acceleration_xyz=forward), accelerating.delta_rotation, atol=1e-15)
    assert rotation_angle_deg(tilt_corrected(level, accelerating, accelerating.delta_rotation, rate_per_s=0.2)) > 0.0
    tilted = so3_exp(np.radians([2.0, 0.0, 0.0]))  # the estimate of the level body, 2 deg of roll off
    levelled = tilted @ tilt_corrected(tilted, accelerating, accelerating.delta_rotation, rate_per_s=0.2,
                                       acceleration_xyz=forward)
    assert rotation_angle_deg(levelled) < rotation_angle_deg(tilted)


def test_the_specific_force_mean_averages_a_head_bob_but_not_a_sustained_acceleration() -> None:
    from arvr_hybrid_vio.core.geometry import so3_exp
    from arvr_hybrid_vio.core.strapdown import SpecificForceMean, preintegrate, tilt_corrected
    stamps = np.arange(0, 7) * 5_000_000  # 30 ms intervals

    def interval(force_xyz) -> object:
        return preintegrate(stamps, np.zeros((7, 3)), np.tile(force_xyz, (7, 1)))

    bobbing, accelerating = SpecificForceMean(), SpecificForceMean()
    for k in range(100):  # 3 s: a 2 Hz bob of +-3 m/s^2 (vertical and forward), or a steady 2 m/s^2 forward
        bob = 3.0 * np.sin(2.0 * np.pi * 2.0 * k * 0.03)
        bobbing = bobbing.updated(np.eye(3), interval([bob, 0.0, 9.81 + bob]))
        accelerating = accelerating.updated(np.eye(3), interval([2.0, 0.0, 9.81]))
    assert bobbing.lean_rad < np.radians(2.0) < np.radians(10.0) < accelerating.lean_rad
    tilted = so3_exp(np.radians([1.0, 0.0, 0.0]))
    at_rest = interval([0.0, 0.0, 9.81])
    gate = dict(rate_per_s=0.2, max_lean_rad=np.radians(2.0))
    levelled = tilted @ tilt_corrected(tilted, at_rest, at_rest.delta_rotation, lean_rad=bobbing.lean_rad, **gate)
    assert rotation_angle_deg(levelled) < rotation_angle_deg(tilted)  # the bob does not stop the levelling
    np.testing.assert_array_equal(tilt_corrected(tilted, at_rest, at_rest.delta_rotation,
                                                 lean_rad=accelerating.lean_rad, **gate), at_rest.delta_rotation)


@pytest.mark.parametrize("gate_deg", [-1.0, 90.0, float("nan")])
def test_a_bad_tilt_gate_is_refused(gate_deg: float) -> None:
    with pytest.raises(ConfigError, match="tilt_gate_deg"):
        VioEstimator.from_file("imu-only", EstimatorConfig(device="cpu", tilt_gate_deg=gate_deg))


def test_the_tilt_gate_reaches_every_source() -> None:
    config = EstimatorConfig(device="cpu", tilt_gate_deg=2.0)
    assert VioEstimator.from_file("imu-only", config).source.tilt_gate_deg == 2.0
    assert VioEstimator.from_file(MODELS / "hybrid.safetensors", config).source.tilt_gate_deg == 2.0


GYRO_BIAS = np.array([3e-3, -2e-3, 1.5e-3])  # rad/s


def biased(motion: ExactMotion) -> ExactMotion:
    return dataclasses.replace(motion, gyro=motion.gyro + GYRO_BIAS)


@pytest.mark.parametrize("std", [0.0, 0.01])
def test_a_static_start_reads_the_gyro_bias_and_the_estimator_takes_it_off(std: float) -> None:
    """The exact motion starts at rest; its gyro carries a constant bias. With ``static_gyro_bias_std_rad_s`` the
    init span's mean gyro is the bias and the estimator tracks as if there were none: at the frames and at the IMU
    rate (both paths are checked: the orientation and the angular velocity the estimates report)."""
    motion = exact_motion(5.0)
    estimator = VioEstimator.from_file("imu-only", dataclasses.replace(PURE_STRAPDOWN, static_gyro_bias_std_rad_s=std))
    frames = make_frames(biased(motion))
    outputs = run(estimator, frames[:-1])
    after = np.searchsorted(motion.stamps_ns, frames[-2].stamp_ns) + 3  # three IMU samples past that frame
    propagated = estimator.propagate_imu(int(motion.stamps_ns[after]), motion.gyro[after] + GYRO_BIAS,
                                         motion.accel[after])
    last, index = outputs[-1], np.searchsorted(motion.stamps_ns, outputs[-1].stamp_ns)
    errors = [rotation_angle_deg(quat_wxyz_to_matrix(estimate.quat_wxyz).T @ motion.rotations[at])
              for estimate, at in ((last, index), (propagated, after))]
    if std == 0.0:  # the bias is not read: ~0.2 deg/s of drift over ~4.5 s
        assert min(errors) > 0.5
    else:
        assert max(errors) < 0.01, errors
        np.testing.assert_allclose(propagated.angular_velocity_xyz, motion.gyro[after], atol=1e-12)


def test_a_start_that_moves_reads_no_gyro_bias() -> None:
    """The span's mean gyro is the bias only at rest: a start in motion leaves the samples as they are, bit for bit."""
    motion = biased(exact_motion(3.0, rest_s=0.0))
    plain = run(VioEstimator.from_file("imu-only", PURE_STRAPDOWN), make_frames(motion))
    reading = run(VioEstimator.from_file("imu-only", dataclasses.replace(PURE_STRAPDOWN, static_gyro_bias_std_rad_s=0.01)),
                  make_frames(motion))
    assert [e is None for e in plain] == [e is None for e in reading]
    for one, other in zip(plain, reading):
        if one is not None:
            np.testing.assert_array_equal(one.quat_wxyz, other.quat_wxyz)
            np.testing.assert_array_equal(one.position_xyz, other.position_xyz)


def test_a_negative_static_gyro_bias_threshold_is_refused() -> None:
    with pytest.raises(ConfigError, match="static_gyro_bias_std_rad_s"):
        VioEstimator.from_file("imu-only", EstimatorConfig(device="cpu", static_gyro_bias_std_rad_s=-1.0))
