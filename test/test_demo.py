"""arvr-vio-demo (`make demo`): the real graph over DDS prints a report and writes the plot;
bad input gives one clear line and exit code 2; Ctrl-C stops every child process."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(Path(sys.executable).parent / "arvr-vio-demo")
pytestmark = pytest.mark.timeout(240)


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain ``text`` (children left behind)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in line and "-m pytest" not in line:
            found.append(line)
    return found


def test_demo_prints_the_report_and_writes_the_plot(tmp_path: Path):
    out = tmp_path / "demo"
    result = subprocess.run([DEMO, "--out", str(out)], capture_output=True, text=True, timeout=200, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ATE rmse (SE3-aligned)" in result.stdout and "frames synced / dropped" in result.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["matched_poses"] > 200 and report["ate_rmse_m"] >= 0
    assert f"{report['ate_rmse_m'] * 100:.2f} cm" in result.stdout
    assert (out / "trajectory.png").stat().st_size > 10_000
    assert "/ 0\n" in result.stdout.split("frames synced / dropped")[1].split("\n")[0] + "\n"
    assert "initialising -> tracking" in result.stdout  # the node's states during the replay
    assert "Traceback" not in (out / "vio_node.log").read_text()
    assert not processes_mentioning(str(out))


@pytest.mark.parametrize("argv, expected", [
    (["--bag", "/no/such/bag"], "/no/such/bag"),
    (["--model", "/no/such/model.safetensors"], "/no/such/model.safetensors"),
    (["--bag", str(ROOT / "test" / "data" / "bags" / "tf_example")], "missing topic"),
    (["--params", "/no/such.yaml"], "/no/such.yaml"),
])
def test_bad_input_is_one_clear_line(argv: list[str], expected: str, tmp_path: Path):
    result = subprocess.run([DEMO, "--out", str(tmp_path / "o"), *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arvr-vio-demo: error:") and expected in lines[0]


def test_ctrl_c_stops_every_child(tmp_path: Path):
    out = tmp_path / "interrupted"
    demo = subprocess.Popen([DEMO, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not processes_mentioning(str(out / "report.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(out / "report.json")), "the evaluation node never started"
    time.sleep(2.0)
    demo.send_signal(signal.SIGINT)
    _, stderr = demo.communicate(timeout=60)
    assert demo.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr
    assert not processes_mentioning(str(out))
