"""arvr-vio-bench end to end with a tiny network and short streams (real node over DDS, real infer/eval CLIs).

No timing assertions: the machine is shared. The test checks that every key is
measured, finite and consistent with what was streamed.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.network import VioNetwork
from arvr_hybrid_vio.core.model_io import save_model
from arvr_hybrid_vio.tools.bench import REQUIRED_KEYS, main

TINY = ModelConfig(visual_dim=32, inertial_dim=32, width=32, transformer_layers=1, heads=2, window=4, ffn=64,
                   conv_branch=8)
NUMERIC_EXCEPT = {"device", "torch_version", "cpu_model", "gpu_name", "model", "model_family", "python_version",
                  "targets", "step_path", "cuda_graph_error", "node_executor", "network_path",
                  "onnxruntime_version"}


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict]:
    folder = tmp_path_factory.mktemp("bench")
    model = save_model(folder / "tiny.safetensors", VioNetwork(TINY))
    out = folder / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "arvr_hybrid_vio.tools.bench", "--device", "cpu", "--model", str(model),
         "--json", str(out), "--duration", "3", "--infer-long-duration", "4", "--warmup", "5", "--network-iterations", "10",
         "--eval-poses", "1000"], capture_output=True, text=True, timeout=150, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads(out.read_text())


def test_json_has_every_key_finite(bench_run: tuple[subprocess.CompletedProcess, dict]) -> None:
    _, results = bench_run
    missing = [key for key in REQUIRED_KEYS if key not in results]
    assert not missing
    numeric = {k: v for k, v in results.items() if k not in NUMERIC_EXCEPT and not isinstance(v, dict)}
    bad = {k: v for k, v in numeric.items() if not isinstance(v, (int, float)) or not math.isfinite(v)}
    assert not bad
    assert results["device"] == "cpu" and results["gpu_name"] is None
    assert results["torch_version"] and results["cpu_model"]


def test_values_are_consistent(bench_run: tuple[subprocess.CompletedProcess, dict]) -> None:
    _, results = bench_run
    assert results["params_total"] == sum(p.numel() for p in VioNetwork(TINY).parameters())
    assert results["model_family"] == "hybrid"
    for prefix in ("step_latency_ms", "step_latency_paced_ms", "network_step_ms", "node_e2e_latency_ms",
                   "imu_propagate_ms", "imu_rate_latency_ms"):
        assert 0 < results[f"{prefix}_p50"] <= results[f"{prefix}_p99"]
    # the real-time replay steps the same frames as the back-to-back one
    assert results["step_latency_paced_ms_count"] == results["step_latency_ms_count"]
    assert results["paced_pose_max_diff_m"] == 0.0  # images tracked on arrival there: the same poses
    assert results["network_step_ms_count"] == 10
    # every frame the node tracked came back over DDS, and offline inference saw the same frames
    # (within one: at the very first stamp image and IMU travel on two topics, in either order)
    assert results["sustained_200hz_odometry"] == results["node_e2e_latency_ms_count"] > 0
    # to the node's publication (the DDS source timestamp, wall clock) is part of the way to receipt here:
    # same frames, and shorter frame by frame, so at every quantile (a clock mix-up breaks both)
    assert results["node_e2e_received_ms_count"] == results["node_e2e_latency_ms_count"]
    for quantile in ("p50", "p99"):
        assert 0 < results[f"node_e2e_latency_ms_{quantile}"] <= results[f"node_e2e_received_ms_{quantile}"] < 1000
    assert abs(results["bag_infer_poses"] - results["sustained_200hz_odometry"]) <= 1
    assert results["sustained_200hz_drops"] == sum(results["sustained_200hz_losses"].values())
    assert results["imu_rate_output_hz"] > 0 and results["bag_infer_realtime_factor"] > 0
    assert results["bag_infer_long_poses"] > results["bag_infer_poses"] and results["bag_infer_long_realtime_factor"] > 0
    assert results["eval_poses"] == 1000 and results["eval_time_s"] > 0
    assert set(results["targets"]) >= {"step_p99_le_10ms", "sensor_rate_step_p99_le_10ms",
                                       "node_e2e_p99_le_sensor_rate_step_p99_plus_2ms", "sustained_30hz_1khz_zero_drops"}


def test_table_names_the_machine(bench_run: tuple[subprocess.CompletedProcess, dict]) -> None:
    done, results = bench_run
    assert results["cpu_model"] in done.stdout
    # vio.executor auto: the EventsExecutor on this rclpy (Kilted)
    assert results["node_executor"] == "events" and "node executor events" in done.stdout
    assert results["network_path"] == "cpu onnxruntime" and results["onnxruntime_version"]
    assert f"network cpu onnxruntime {results['onnxruntime_version']} (1 threads) |" in done.stdout
    assert "estimator step, batch 1" in done.stdout and "targets:" in done.stdout


@pytest.mark.parametrize("args, needle", [
    (["--model", "/nonexistent/model.safetensors"], "/nonexistent/model.safetensors"),
    (["--model", "imu-only", "--duration", "1"], "--duration"),
    (["--model", "imu-only", "--config", "/nonexistent.yaml"], "/nonexistent.yaml"),
    (["--model", "imu-only", "--no-node", "--soak-minutes", "1"], "--no-node"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err


def test_corrupt_model_is_refused_before_measuring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "truncated.safetensors"
    model.write_bytes(b"not a safetensors file")
    assert main(["--model", str(model)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(model) in lines[0] and "corrupt" in lines[0] and "Traceback" not in err


def test_no_node_measures_the_rest_and_judges_only_that(tmp_path: Path) -> None:
    """`--no-node` (a machine with torch but no ROS 2): no node keys, no node targets, the rest measured."""
    model = save_model(tmp_path / "tiny.safetensors", VioNetwork(TINY))
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "arvr_hybrid_vio.tools.bench", "--device", "cpu", "--model", str(model), "--no-node",
         "--json", str(out), "--duration", "3", "--infer-long-duration", "0", "--warmup", "5",
         "--network-iterations", "10", "--eval-poses", "1000"], capture_output=True, text=True, timeout=150,
        check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["node_measured"] is False
    assert not [key for key in results if key.startswith(("node_", "sustained_")) and key != "node_measured"]
    assert not [name for name in results["targets"] if "node" in name or "sustained" in name]
    assert {"step_p99_le_10ms", "bag_infer_ge_10x_realtime", "params_le_10M"} <= set(results["targets"])
    assert results["bag_infer_poses"] > 0 and results["step_latency_ms_p99"] > 0
    assert "node end-to-end" not in done.stdout and "targets:" in done.stdout
