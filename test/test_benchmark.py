"""arvr-vio-benchmark on a tiny synthetic test split: one table, every model, targets marked."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from arvr_hybrid_vio.core.dataset import write_shard
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.network import VioNetwork
from arvr_hybrid_vio.core.model_io import save_model
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence
from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.tools.benchmark import format_table, main, means, position_held_scores, Row, target_lines


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    motion = MotionConfig(motion="standing", duration_s=2.5, rest_s=0.6)
    sequence = generate_sequence(SynthConfig(motion=motion), seed=31)
    write_shard(sequence, root / "data" / "test" / "test_00_standing.npz")
    torch.manual_seed(0)
    for family in ("hybrid", "multihead"):
        save_model(root / "models" / f"{family}.safetensors", VioNetwork(ModelConfig(family=family)))
    return root


def test_benchmark_prints_one_table_with_every_model(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = setup / "report.json"
    code = main(["--dataset", str(setup / "data"), "--models-dir", str(setup / "models"),
                 "--models", "hybrid,multihead,lstm,imu-only,position-held", "--json", str(report)])
    assert code == 0
    table = capsys.readouterr().out
    for label in ("Hybrid", "Multi-Head", "IMU-only", "Position held", "Seed targets", "ATE < 1.00 cm", ">=   24 %"):
        assert label in table
    assert "LSTM-only" in table and "not evaluated" in table and "lstm.safetensors" in table
    rows = json.loads(report.read_text())["rows"]
    assert len(rows) == 5 and sum(r["scores"] is None for r in rows) == 1
    hybrid = next(r for r in rows if r["model"] == "hybrid")["scores"]
    assert all(math.isfinite(hybrid[m]) for m in ("ate_cm", "rpe_trans_cm", "rpe_rot_deg"))


def test_targets_are_marked_from_the_means() -> None:
    good = {"ate_cm": 0.5, "rpe_trans_cm": 0.1, "rpe_rot_deg": 0.2, "drift_m_per_100m": 0.05}
    worse = {k: 2 * v for k, v in good.items()}
    lines = "\n".join(target_lines({"hybrid": good, "multihead": worse}))
    assert lines.count("NOT MET") == 0 and lines.count("MET") == 8 and "mean over test sequences" in lines
    assert "mean over val sequences" in "\n".join(target_lines({"hybrid": good}, split="val"))
    lines = "\n".join(target_lines({"hybrid": worse, "multihead": good}))
    assert lines.count("NOT MET") == 6  # ATE 1.00 and drift 0.10 are not below their limits; no gain over Multi-Head
    rows = [Row("s", "hybrid", {**good, "path_m": 1.0, "poses": 10}), Row("s", "multihead", None, "missing")]
    assert "missing" in format_table(rows, means(rows, ["hybrid", "multihead"]))


def test_no_test_shards_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dataset", str(tmp_path)]) == 2
    assert "no test shards" in capsys.readouterr().err


def test_position_held_reference_scores_the_true_motion_as_error(setup: Path) -> None:
    shard = load_shard(setup / "data" / "test" / "test_00_standing.npz")
    scores = position_held_scores(shard)
    stamps, truth = shard["gt_stamps_ns"], shard["gt_positions_xyz"]
    at_camera = truth[np.searchsorted(stamps, shard["image_stamps_ns"])]
    spread = np.sqrt(np.mean(np.sum((at_camera - at_camera.mean(axis=0)) ** 2, axis=1)))
    assert scores["ate_cm"] == pytest.approx(100.0 * spread, rel=1e-9)  # the optimum over rigid alignments
    assert scores["rpe_rot_deg"] == pytest.approx(0.0, abs=1e-6)  # the orientation is the truth
    end_to_end = np.linalg.norm(at_camera[-1] - at_camera[0])
    path = np.sum(np.linalg.norm(np.diff(at_camera, axis=0), axis=1))
    assert scores["drift_m_per_100m"] == pytest.approx(100.0 * end_to_end / path, rel=1e-9)
    assert 0.0 < scores["rpe_trans_cm"] and scores["poses"] == len(at_camera)
