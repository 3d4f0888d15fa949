"""Training pieces: schedule, curriculum, losses, training targets, and a tiny resumable fit + export."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from arvr_hybrid_vio.core.dataset import load_shard, write_shard
from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.geometry import rotation_angle_deg
from arvr_hybrid_vio.core.model.inputs import NOMINAL_FRAME_S
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.visual_tracks import TRACK_CHANNELS, Intrinsics, TrackConfig
from arvr_hybrid_vio.core.model_io import load_model
from arvr_hybrid_vio.core.synth.camera import CameraConfig
from arvr_hybrid_vio.core.synth.imu import ImuConfig
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence
from arvr_hybrid_vio.core.training.config import AugmentConfig, TrainConfig, curriculum_stage, learning_rate_factor
from arvr_hybrid_vio.core.training.module import geometric_mean_ate
from arvr_hybrid_vio.core.training.losses import (
    gaussian_nll, geodesic_angle, integrated_translation_loss, so3_exp, translation_loss)
from arvr_hybrid_vio.core.training.sequences import (_ground_truth_at, build_sequence, cache_tracks,
                                                      cached_strides, nominal_stride, served_frame_rates_hz)
from arvr_hybrid_vio.tools.train import main as train_main


def test_schedule_warms_up_then_decays() -> None:
    factors = [learning_rate_factor(step, total_steps=100, warmup_steps=10) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:])) and factors[-1] > 0.05 - 1e-9


def test_curriculum_goes_from_short_to_long_windows() -> None:
    config = TrainConfig(curriculum_epochs=(2, 5), curriculum_windows=(8, 16, 32))
    assert [curriculum_stage(config, e) for e in range(7)] == [0, 0, 1, 1, 1, 2, 2]


def test_so3_exp_and_geodesic_angle_match_scipy() -> None:
    rotvecs = torch.tensor([[0.0, 0.0, 0.0], [1e-5, -2e-5, 3e-6], [0.3, -1.2, 0.5], [0.0, 3.0, 0.0]],
                           dtype=torch.float64)
    torch.testing.assert_close(so3_exp(rotvecs), torch.from_numpy(Rotation.from_rotvec(rotvecs.numpy()).as_matrix()))
    torch.testing.assert_close(geodesic_angle(so3_exp(rotvecs)), rotvecs.norm(dim=-1), atol=1e-9, rtol=1e-6)


def test_losses_are_zero_or_minimal_where_expected() -> None:
    target = torch.tensor([[0.01, 0.0, 0.0], [0.0, 0.0001, 0.0]])
    assert translation_loss(torch.zeros(2, 3), target, offset_m=0.005) == 0
    small, large = translation_loss(torch.tensor([[0.0, 0.001, 0.0]]), target[1:], offset_m=0.005), \
        translation_loss(torch.tensor([[0.001, 0.0, 0.0]]), target[:1], offset_m=0.005)
    assert small > large  # the same error counts more on a small motion
    error = torch.full((1, 3), 0.01)
    best = gaussian_nll(error, torch.log(error ** 2))
    for shift in (0.5, -0.5):
        assert best < gaussian_nll(error, torch.log(error ** 2) + shift)


def test_integrated_loss_accumulates_a_bias_in_the_window_start_frame() -> None:
    target = torch.tensor([[[0.002, 0.0, 0.0], [0.002, 0.0, 0.0]]], dtype=torch.float64)  # (1, 2, 3)
    quarter_turn = torch.tensor(Rotation.from_euler("z", 90, degrees=True).as_matrix())
    rotations = torch.stack([quarter_turn, torch.eye(3, dtype=torch.float64)])[None]  # (1, 2, 3, 3)
    assert integrated_translation_loss(target, target, rotations, offset_m=0.01) == 0
    bias = torch.tensor([0.001, 0.0, 0.0], dtype=torch.float64)
    loss = integrated_translation_loss(target + bias, target, rotations, offset_m=0.01)
    # interval 0 in the start frame: error b, path 2 mm; interval 1 after the quarter turn: b + Rz b, path 2 + Rz 2 mm
    first = 0.001 / (0.002 + 0.01)
    second = np.hypot(0.001, 0.001) / (np.hypot(0.002, 0.002) + 0.01)
    assert float(loss) == pytest.approx((first + second) / 2, rel=1e-12)
    per_frame = translation_loss(bias.expand(1, 2, 3), target, offset_m=0.01)
    assert float(loss) > float(per_frame)  # the same bias costs more once it has accumulated


@pytest.fixture(scope="module")
def exact_shard(tmp_path_factory: pytest.TempPathFactory) -> dict:
    sequence = generate_sequence(SynthConfig(motion=MotionConfig(motion="walking", duration_s=2.5, rest_s=0.5),
                                             imu=ImuConfig(noise=False)), seed=5)
    return load_shard(write_shard(sequence, tmp_path_factory.mktemp("shard") / "walk.npz"))


def test_training_targets_agree_with_the_estimator_kinematics(exact_shard: dict) -> None:
    count = len(exact_shard["image_stamps_ns"])
    empty = {name: np.zeros((count, 64, TRACK_CHANNELS), np.float32) for name in ("tracks1", "tracks1_aug", "tracks2")}
    arrays = build_sequence("walk", exact_shard, empty, np.random.default_rng(0), None, gravity_m_s2=9.81)
    previous = np.r_[exact_shard["image_stamps_ns"][0], arrays.stamps_ns[:-1]]  # interval starts
    assert np.all(np.diff(arrays.stamps_ns) > 0) and previous[1] == arrays.stamps_ns[0]
    _, rotations, velocity = _ground_truth_at(exact_shard, previous[1:])
    true_body_velocity = np.einsum("nji,nj->ni", rotations, velocity)
    implied = ((arrays.target_dp - arrays.dp_gc) / arrays.dt[:, None])[1:]  # delta_p = v_b dt + dp_gc
    assert np.max(np.abs(implied - true_body_velocity)) < 2e-3
    assert np.max(rotation_angle_deg(arrays.rot_error.astype(np.float64))) < 0.01  # exact gyro: nothing to correct
    chained = np.eye(3)
    for rotation in arrays.true_rotation.astype(np.float64):  # chains the true relative rotations
        chained = chained @ rotation
    first, last = _ground_truth_at(exact_shard, np.array([previous[0], arrays.stamps_ns[-1]]))[1]
    assert rotation_angle_deg(chained.T @ (first.T @ last)) < 1e-3
    assert np.ptp(true_body_velocity) > 0.05  # the check is not vacuous (velocities up to ~9 cm/s)


def test_augmented_sequences_drop_frames_and_stay_finite(exact_shard: dict) -> None:
    count = len(exact_shard["image_stamps_ns"])
    empty = {name: np.zeros((count, 64, TRACK_CHANNELS), np.float32) for name in ("tracks1", "tracks1_aug", "tracks2")}
    clean = build_sequence("walk", exact_shard, empty, np.random.default_rng(0), None, gravity_m_s2=9.81)
    augment = AugmentConfig(drop_frame_prob=0.2, time_offset_jitter_s=0.003)
    noisy = build_sequence("walk", exact_shard, empty, np.random.default_rng(1), augment, gravity_m_s2=9.81)
    assert len(noisy) < len(clean) and noisy.dt.max() > 1.5 * clean.dt.max()  # dropped frames: longer intervals
    for name in ("inertial", "context", "dp_gc", "target_dp", "rot_error"):
        assert np.all(np.isfinite(getattr(noisy, name))), name
    assert not np.allclose(noisy.inertial[:5], clean.inertial[:5])  # IMU noise/bias perturbation applied


def test_track_cache_is_kept_across_per_epoch_augmentations_and_redone_for_image_ones(exact_shard: dict,
                                                                                    tmp_path: Path) -> None:
    path, intrinsics, config = tmp_path / "walk.tracks.npz", Intrinsics(120.0, 120.0, 80.0, 64.0), TrackConfig()
    first = cache_tracks(exact_shard, path, intrinsics, config, AugmentConfig(), seed=3)
    written = path.stat().st_mtime_ns
    assert np.abs(first["tracks1"][1:, :, 5]).sum() > 0  # real tracks, not the empty frame 0 only
    per_epoch = AugmentConfig(drop_frame_prob=0.2, photometric_prob=0.9, gyro_bias_std=0.01)
    again = cache_tracks(exact_shard, path, intrinsics, config, per_epoch, seed=3)
    assert path.stat().st_mtime_ns == written  # loaded, not recomputed
    np.testing.assert_array_equal(again["tracks1_aug"], first["tracks1_aug"])
    blurred = cache_tracks(exact_shard, path, intrinsics, config, AugmentConfig(blur_sigma_max=3.0), seed=3)
    assert path.stat().st_mtime_ns != written  # image augmentation changed: recomputed
    np.testing.assert_array_equal(blurred["tracks1"], first["tracks1"])  # the clean tracks do not depend on it
    assert not np.array_equal(blurred["tracks1_aug"], first["tracks1_aug"])
    rerendered = {**exact_shard, "images": exact_shard["images"] ^ np.uint8(1)}  # other images, same stamps
    written = path.stat().st_mtime_ns
    cache_tracks(rerendered, path, intrinsics, config, AugmentConfig(blur_sigma_max=3.0), seed=3)
    assert path.stat().st_mtime_ns != written  # a shard rendered anew is not served the old shard's tracks


def test_a_drawn_image_stride_keeps_every_kth_image_with_the_k_frame_tracks(exact_shard: dict) -> None:
    count = len(exact_shard["image_stamps_ns"])
    tracks = {name: np.full((count, 64, TRACK_CHANNELS), value, np.float32)
              for name, value in (("tracks1", 1.0), ("tracks1_aug", 2.0), ("tracks2", 3.0))}
    augment = AugmentConfig(frame_stride_probs=(0.0, 1.0), drop_frame_prob=0.0)  # always every other image
    phases = set()
    for seed in range(6):
        half = build_sequence("walk", exact_shard, tracks, np.random.default_rng(seed), augment, gravity_m_s2=9.81)
        np.testing.assert_allclose(half.dt, 2 * NOMINAL_FRAME_S, atol=0.004)  # 2 / 30 s +- the offset jitter
        assert np.all(half.tracks == 3.0)  # every interval spans two frames: tracks2
        assert count // 2 - 2 <= len(half) <= (count + 1) // 2 - 1  # the replay may not sync the first/last image
        kept = np.searchsorted(exact_shard["image_stamps_ns"], half.stamps_ns - NOMINAL_FRAME_S * 0.5e9)
        phases.add(int(kept[0] % 2))
    assert phases == {0, 1}  # both phases drawn
    mixed = AugmentConfig(frame_stride_probs=(0.5, 0.5))  # and drops: over two strides, tracks4 missing -> zeros
    intervals = np.concatenate([build_sequence("walk", exact_shard, tracks, np.random.default_rng(seed), mixed,
                                               gravity_m_s2=9.81).dt for seed in range(8)])
    assert np.any(intervals < 1.5 * NOMINAL_FRAME_S) and np.any(intervals > 1.5 * NOMINAL_FRAME_S)
    never = build_sequence("walk", exact_shard, tracks, np.random.default_rng(1), AugmentConfig(drop_frame_prob=0.0),
                           gravity_m_s2=9.81)
    assert np.all(never.dt < 1.5 * NOMINAL_FRAME_S) and len(never) >= count - 3  # default: every image


def test_strides_of_a_faster_training_camera(tmp_path: Path) -> None:
    sequence = generate_sequence(SynthConfig(motion=MotionConfig(motion="walking", duration_s=1.5, rest_s=0.5),
                                             camera=CameraConfig(rate_hz=60.0)), seed=5)
    shard = load_shard(write_shard(sequence, tmp_path / "walk60.npz"))
    assert nominal_stride(shard["image_stamps_ns"]) == 2 and nominal_stride(np.arange(5) * 33_333_333) == 1
    augment = AugmentConfig(frame_stride_probs=(0.2, 0.4, 0.2, 0.2))
    assert cached_strides(augment, 2) == ((1, 2, 3, 4, 6, 8), (1, 2, 3, 4))
    assert cached_strides(AugmentConfig(), 1) == ((1, 2), (1,))  # the 30 Hz recipe: as before
    assert served_frame_rates_hz(shard["image_stamps_ns"], augment) == {60.0, 30.0, 20.0, 15.0}
    assert served_frame_rates_hz(shard["image_stamps_ns"], AugmentConfig()) == {60.0, 30.0}  # augmented, clean
    assert served_frame_rates_hz(np.arange(5) * 33_333_333, AugmentConfig()) == {30.0}  # the shipped recipe
    tracks = cache_tracks(shard, tmp_path / "walk60.tracks.npz", Intrinsics(120.0, 120.0, 80.0, 64.0), TrackConfig(),
                          augment, seed=1)
    expected = [f"tracks{k}" for k in (1, 2, 3, 4, 6, 8)] + [f"tracks{k}_aug" for k in range(1, 5)]
    assert sorted(tracks) == sorted(expected)
    assert np.all(tracks["tracks3"][:3] == 0) and np.abs(tracks["tracks3"][3:, :, 5]).sum() > 0
    clean = build_sequence("walk", shard, tracks, np.random.default_rng(0), None, gravity_m_s2=9.81)
    np.testing.assert_allclose(clean.dt, NOMINAL_FRAME_S, atol=1e-6)  # clean data at the nominal 30 Hz
    kept = np.searchsorted(shard["image_stamps_ns"], clean.stamps_ns)  # shard index of each synced frame
    np.testing.assert_array_equal(clean.tracks, tracks["tracks2"][kept])
    seen = set()
    for seed in range(12):
        arrays = build_sequence("walk", shard, tracks, np.random.default_rng(seed), augment, gravity_m_s2=9.81)
        seen |= set(np.round(arrays.dt / (1 / 60)).astype(int).tolist())
    assert {1, 2, 3, 4} <= seen  # 60, 30, 20 and 15 Hz intervals (and dropped ones: twice those)
    with pytest.raises(ConfigError):
        AugmentConfig(frame_stride_probs=(0.5, 0.6))


def test_training_tracks_are_the_networks_tracks_over_dropped_frames_too(exact_shard: dict) -> None:
    count = len(exact_shard["image_stamps_ns"])
    rng = np.random.default_rng(3)
    tracks = {name: rng.uniform(-0.1, 0.1, (count, 64, TRACK_CHANNELS)).astype(np.float32)
              for name in ("tracks1", "tracks1_aug", "tracks2")}
    augment = AugmentConfig(drop_frame_prob=0.3)
    config = ModelConfig(flow_per_nominal_frame=True)
    as_extracted = build_sequence("walk", exact_shard, tracks, np.random.default_rng(1), augment, gravity_m_s2=9.81)
    per_period = build_sequence("walk", exact_shard, tracks, np.random.default_rng(1), augment, gravity_m_s2=9.81,
                                network_tracks=config.network_tracks)
    dropped = as_extracted.dt > 1.5 * NOMINAL_FRAME_S
    assert dropped.any() and not dropped.all()
    scale = (NOMINAL_FRAME_S / as_extracted.dt)[:, None, None]
    np.testing.assert_allclose(per_period.tracks[..., 2:4], as_extracted.tracks[..., 2:4] * scale, rtol=1e-6)
    np.testing.assert_array_equal(per_period.tracks[..., [0, 1, 4, 5]], as_extracted.tracks[..., [0, 1, 4, 5]])
    assert np.all(per_period.tracks[dropped][..., 2:4] != as_extracted.tracks[dropped][..., 2:4])  # halved there


def tiny_training(root: Path, *, train_seeds: tuple[int, ...] = (21,), epochs: int = 1,
                  extra: str = "") -> Path:
    """Shards of 2.5 s head motion (train seeds, val seed 22) and a training config for them; its path."""
    for split, seed in [("train", s) for s in train_seeds] + [("val", 22)]:
        motion = MotionConfig(motion="head", duration_s=2.5, rest_s=0.6)
        write_shard(generate_sequence(SynthConfig(motion=motion), seed=seed), root / "data" / split / f"{seed}.npz")
    config = root / "train.yaml"
    config.write_text(f"""/**:
  ros__parameters:
    train:
      model_config: {Path(__file__).resolve().parents[2] / 'config' / 'model.yaml'}
      dataset_root: {root / 'data'}
      cache_dir: {root / 'cache'}
      out_dir: {root / 'runs'}
      models_dir: {root / 'models'}
      epochs: {epochs}
      batch_size: 2
      curriculum_epochs: [1]
      curriculum_windows: [8, 16]
      curriculum_quantile: [0.6, 1.0]
      passes_per_epoch: 1.0
{extra}""")
    return config


def test_tiny_training_run_exports_a_loadable_model_and_resumes(tmp_path: Path) -> None:
    config = tiny_training(tmp_path)
    assert train_main(["--config", str(config), "--model", "multihead"]) == 0
    network, training = load_model(tmp_path / "models" / "multihead.safetensors")
    assert network.config.family == "multihead" and training["train_sequences"] == 1
    assert network.config.trained_frame_rates_hz == (30.0,)  # a 30 Hz shard, every image
    assert training["val_ate_geomean_m"] > 0 and training["epoch"] >= 0  # the selection score of the epoch kept
    assert training["distributed_backend"] is None  # one device, strategy auto: no process group
    assert network.config.visual_velocity and network.visual_velocity is not None  # config/model.yaml's recipe
    last_path = tmp_path / "runs" / "multihead" / "checkpoints" / "last.ckpt"
    first_steps = torch.load(last_path, weights_only=True)["global_step"]
    assert train_main(["--config", str(config), "--model", "multihead", "--epochs", "2", "--resume"]) == 0
    last = torch.load(last_path, weights_only=True)
    assert last["global_step"] > first_steps > 0  # continued, not restarted
    assert last["hyper_parameters"]["model_config"]["family"] == "multihead"
    timing = json.loads((tmp_path / "runs" / "multihead" / "timing.json").read_text())
    assert len(timing["runs"]) == 2 and timing["total_wall_s"] > 0


def test_track_caches_computed_ahead_in_two_processes_are_those_training_uses(tmp_path: Path) -> None:
    config = tiny_training(tmp_path, train_seeds=(21, 23), extra="""    augment:
      frame_stride_probs: [0.5, 0.5]
""")
    assert train_main(["--config", str(config), "--cache-only", "--workers", "2"]) == 0
    caches = sorted((tmp_path / "cache" / "train").glob("*.tracks.npz"))
    assert [c.name for c in caches] == ["21.tracks.npz", "23.tracks.npz"] and not (tmp_path / "models").exists()
    written = {c: c.stat().st_mtime_ns for c in caches}
    assert train_main(["--config", str(config), "--model", "multihead"]) == 0
    assert {c: c.stat().st_mtime_ns for c in caches} == written  # loaded by the training, not computed again
    network, training = load_model(tmp_path / "models" / "multihead.safetensors")
    assert training["train_sequences"] == 2
    assert network.config.trained_frame_rates_hz == (15.0, 30.0)  # 30 Hz shards, every image or every second


def test_hard_rule_ablation_is_its_own_model_file(tmp_path: Path) -> None:
    """Also trains with the window-integrated translation loss switched on."""
    config = tiny_training(tmp_path, extra="      integrated_weight: 1.0\n")
    assert train_main(["--config", str(config), "--model", "hybrid", "--fusion", "hard"]) == 0
    network, _ = load_model(tmp_path / "models" / "hybrid_hard.safetensors")
    assert network.config.family == "hybrid" and network.config.fusion == "hard"
    last = torch.load(tmp_path / "runs" / "hybrid_hard" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["hyper_parameters"]["train_config"]["integrated_weight"] == 1.0
    assert not (tmp_path / "models" / "hybrid.safetensors").exists()


def test_frozen_visual_velocity_keeps_its_least_squares_start(tmp_path: Path) -> None:
    config = tiny_training(tmp_path, extra="      freeze_visual_velocity: true\n")
    last_path = tmp_path / "runs" / "multihead" / "checkpoints" / "last.ckpt"
    assert train_main(["--config", str(config), "--model", "multihead"]) == 0
    first = torch.load(last_path, weights_only=True)["state_dict"]
    assert train_main(["--config", str(config), "--model", "multihead", "--epochs", "2", "--resume"]) == 0
    second = torch.load(last_path, weights_only=True)["state_dict"]
    frozen = [name for name in first if name.startswith("network.visual_velocity.")]
    assert len(frozen) == 2 and float(first["network.visual_velocity.weight"].abs().sum()) > 0  # started, not zero
    assert all(torch.equal(first[name], second[name]) for name in frozen)
    assert not torch.equal(first["network.head.translation.0.weight"], second["network.head.translation.0.weight"])


def test_ddp_on_two_cpu_processes_trains_and_rank_zero_alone_exports(tmp_path: Path) -> None:
    """`devices: 2` runs Lightning DDP unchanged (gloo on CPU here, NCCL on GPUs): both ranks train on
    their shard of the windows, and rank 0 alone writes the timing and the model file."""
    config = tiny_training(tmp_path, train_seeds=(21, 23), extra="      accelerator: cpu\n      devices: 2\n")
    train = Path(sys.executable).parent / "arvr-vio-train"
    result = subprocess.run([str(train), "--config", str(config), "--model", "multihead"], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in result.stderr
    assert result.stderr.count("model written to") == 1
    network, training = load_model(tmp_path / "models" / "multihead.safetensors")
    assert network.config.family == "multihead" and training["devices"] == 2
    assert training["distributed_backend"] == "gloo"
    timing = json.loads((tmp_path / "runs" / "multihead" / "timing.json").read_text())
    assert len(timing["runs"]) == 1


def test_strategy_ddp_wraps_one_device_in_ddp(tmp_path: Path) -> None:
    """`strategy: ddp` runs DDP even on one device: the path (NCCL) that a single lent GPU can check."""
    config = tiny_training(tmp_path, extra="      accelerator: cpu\n      strategy: ddp\n")
    train = Path(sys.executable).parent / "arvr-vio-train"
    result = subprocess.run([str(train), "--config", str(config), "--model", "multihead"], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GLOBAL_RANK: 0, MEMBER: 1/1" in result.stderr
    _, training = load_model(tmp_path / "models" / "multihead.safetensors")
    assert training["distributed_backend"] == "gloo" and training["devices"] == 1


def test_bad_training_config_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_the_checkpoint_is_selected_by_the_geometric_mean_so_one_failing_sequence_cannot_choose() -> None:
    assert geometric_mean_ate(np.array([0.02, 0.08])) == pytest.approx(0.04)
    assert geometric_mean_ate(np.array([0.0, 1.0])) == pytest.approx(1e-3)  # floored at 1 um before the log
    # a checkpoint 20 % better on three sequences and 12 % worse on the one where every checkpoint fails
    trained, untrained = np.array([0.04, 0.04, 0.20, 2.8]), np.array([0.05, 0.05, 0.25, 2.5])
    assert np.mean(trained) > np.mean(untrained)  # the arithmetic mean would keep the untrained one
    assert geometric_mean_ate(trained) < geometric_mean_ate(untrained)
