"""The per-shard study scripts (``scripts/studies``, ``SHARD.npz ... [--model PATH]``) still run against the
estimator as it is: each is replayed over a short shard with the shipped hybrid, as a user would call it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from arvr_hybrid_vio.core.dataset import write_shard
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence

REPO = Path(__file__).resolve().parents[1]
STUDIES = sorted(p.stem for p in (REPO / "scripts" / "studies").glob("*.py")
                 if "parse_study_arguments(" in p.read_text() and p.stem != "study_arguments")


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sequence = generate_sequence(SynthConfig(motion=MotionConfig(motion="walking", duration_s=4.0, rest_s=0.6)), seed=9)
    return write_shard(sequence, tmp_path_factory.mktemp("study") / "walk.npz")


def test_every_per_shard_study_is_found() -> None:
    assert {"oracle_orientation", "velocity_sources", "velocity_skill", "blind_camera"} <= set(STUDIES)


@pytest.mark.parametrize("study", STUDIES)
def test_the_study_runs_on_a_shard(study: str, shard: Path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "studies" / f"{study}.py"), str(shard),
                           "--model", str(REPO / "models" / "hybrid.safetensors")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "walk" in done.stdout  # each prints a line per shard, named by it
