"""arvr-vio-eval through main(argv): outputs, evo's numbers, and every bad input -> exit 2, one line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import FREIBURG_EST, FREIBURG_GT, assert_reports_equal, make_trajectory, noisy, write_eval_bag

from arvr_hybrid_vio.core.evaluation import REPORT_KEYS
from arvr_hybrid_vio.core.trajectory_files import write_kitti, write_tum
from arvr_hybrid_vio.tools.eval_cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_freiburg_sim3_table_json_and_plot(tmp_path, capsys) -> None:
    report_path, plot_path = tmp_path / "report.json", tmp_path / "plots" / "eval.png"
    code = main([str(FREIBURG_GT), str(FREIBURG_EST), "--align", "sim3", "--json", str(report_path),
                 "--plot", str(plot_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "ate_rmse_m" in out and "0.013389" in out and "matched_poses             785" in out
    report = json.loads(report_path.read_text())
    assert tuple(report) == REPORT_KEYS
    assert report["ate_rmse_m"] == pytest.approx(0.013389384904168217, rel=1e-6)  # evo_ape tum ... -as
    assert report["alignment"] == "sim3" and report["rpe_unit"] == "s" and report["rpe_delta"] == 1.0
    assert plot_path.read_bytes()[:8] == PNG_MAGIC
    assert not list(tmp_path.glob("**/*.tmp"))  # atomic writes leave no temporaries


def test_same_bag_for_both_and_tf_ground_truth(tmp_path, capsys) -> None:
    gt = make_trajectory(300)
    est = noisy(gt.subset(np.arange(0, 300, 3)), sigma_m=0.01, sigma_rad=0.005)
    bag = write_eval_bag(tmp_path / "bag", gt, est)
    est_file = tmp_path / "est.txt"
    write_tum(est, est_file)
    outputs = []
    for args in (["--gt-topic", "/ground_truth/pose", "--est-topic", "/vio/odometry"],
                 ["--gt-topic", "/tf", "--gt-frames", "world", "imu", "--est-topic", "/vio/pose_cov"],
                 ["--gt-frames", "world", "imu", "--est-topic", "/vio/transform"]):
        json_path = tmp_path / f"r{len(outputs)}.json"
        assert main([str(bag), str(bag), *args, "--json", str(json_path)]) == 0
        outputs.append(json.loads(json_path.read_text()))
    write_tum(gt, tmp_path / "gt.txt")
    assert main([str(tmp_path / "gt.txt"), str(est_file), "--json", str(tmp_path / "files.json")]) == 0
    from_files = json.loads((tmp_path / "files.json").read_text())
    for report in outputs:
        assert_reports_equal(report, from_files)
    capsys.readouterr()


def _tum(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def _good_rows(count: int = 10, start: float = 100.0) -> list[str]:
    return [f"{start + 0.1 * k:.1f} {0.1 * k} {np.sin(k)} {np.cos(k)} 0 0 0 1" for k in range(count)]


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    good = _tum(tmp_path / "good.txt", _good_rows())
    later = _tum(tmp_path / "later.txt", _good_rows(start=500.0))
    two = _tum(tmp_path / "two.txt", _good_rows(2))
    backwards = _tum(tmp_path / "backwards.txt", _good_rows()[:5] + [_good_rows()[2]] + _good_rows()[6:])
    nan = _tum(tmp_path / "nan.txt", _good_rows()[:4] + ["100.4 nan 0 0 0 0 0 1"] + _good_rows()[5:])
    columns = _tum(tmp_path / "columns.txt", _good_rows()[:3] + ["100.3 0 0 0 0 0 1"] + _good_rows()[4:])
    kitti = tmp_path / "kitti.txt"
    write_kitti(make_trajectory(7), kitti)
    bag = write_eval_bag(tmp_path / "bag", make_trajectory(30), make_trajectory(30))
    return {
        "no overlap": ([str(good), str(later)], "do not overlap"),
        "fewer than 3": ([str(good), str(two)], "only 2 matched pose"),
        "non-monotonic": ([str(good), str(backwards)], "backwards.txt:6: stamps are not strictly increasing"),
        "nan row": ([str(nan), str(good)], "nan.txt:5: NaN"),
        "wrong columns": ([str(good), str(columns)], "columns.txt:4: expected 8 columns for TUM, got 7"),
        "forced format": ([str(good), str(good), "--est-format", "kitti"], "good.txt:1: expected 12 columns"),
        "topic not in bag": ([str(bag), str(bag), "--gt-topic", "/gt", "--est-topic", "/vio/odometry"],
                             "topic '/gt' not in bag"),
        "tf without frames": ([str(bag), str(bag), "--gt-topic", "/tf", "--est-topic", "/vio/odometry"],
                              "/tf: a TF topic needs a parent and a child frame"),
        "missing file": ([str(tmp_path / "missing.txt"), str(good)], "missing.txt: no such trajectory file"),
        "topic on a file": ([str(good), str(good), "--est-topic", "/x"], "good.txt: a topic ('/x') was given"),
        "kitti lengths": ([str(kitti), str(good)], "same number of poses"),
        "rpe too long": ([str(good), str(good), "--rpe-delta", "50"], "RPE delta 50 s gives no pose pairs"),
        "rpe zero": ([str(good), str(good), "--rpe-delta", "0"], "rpe_delta: must be a positive number"),
        "degenerate": ([str(good), str(_tum(tmp_path / "line.txt", [f"{100 + 0.1 * k:.1f} {k} 0 0 0 0 0 1"
                                                                    for k in range(10)]))], "degenerate"),
    }


def test_every_bad_input_exits_2_with_one_line(tmp_path, capsys) -> None:
    for name, (argv, message) in _bad_inputs(tmp_path).items():
        json_path = tmp_path / f"{name.replace(' ', '_')}.json"
        code = main([*argv, "--json", str(json_path)])
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert code == 2, name
        assert len(lines) == 1 and message in lines[0] and lines[0].startswith("arvr-vio-eval: error:"), (name, lines)
        assert "Traceback" not in captured.err and not json_path.exists(), name


def test_console_script_exit_code_and_stderr(tmp_path) -> None:
    bad = _tum(tmp_path / "nan.txt", ["1.0 nan 0 0 0 0 0 1"])
    script = Path(sys.executable).parent / "arvr-vio-eval"
    result = subprocess.run([str(script), str(bad), str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"arvr-vio-eval: error: {bad}:1: NaN or infinite value in pose row"
