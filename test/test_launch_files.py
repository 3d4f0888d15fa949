"""The launch files compile, and every executable they start is a console script of setup.py (or RViz).

launch and launch_ros are not installable here, so the files cannot run; this test
catches syntax errors, renamed executables and config files that do not exist.
"""
from __future__ import annotations

import ast
import py_compile
from pathlib import Path

import pytest

from arvr_hybrid_vio.core.config_io import read_parameters
from arvr_hybrid_vio.nodes.vio_node_config import load_node_configs

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
EXTERNAL_EXECUTABLES = {"rviz2"}


def setup_entry_points() -> set[str]:
    """Names in setup.py's ENTRY_POINTS dict (read with ast: running setup.py would call setup())."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ENTRY_POINTS" for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no ENTRY_POINTS dict")


def launched(path: Path) -> tuple[set[str], set[str], set[str]]:
    """(executables, packages, config files under share/config) named in a launch file."""
    executables, packages, configs = set(), set(), set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and isinstance(node.value, ast.Constant):
            if node.arg == "executable":
                executables.add(node.value.value)
            elif node.arg == "package":
                packages.add(node.value.value)
        if isinstance(node, ast.List) and len(node.elts) == 3 and all(isinstance(e, ast.Constant) for e in node.elts[1:]):
            if node.elts[1].value == "config":
                configs.add(node.elts[2].value)
    return executables, packages, configs


def test_there_are_the_two_launch_files():
    assert {p.name for p in LAUNCH_FILES} == {"vio.launch.py", "replay_eval.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_compiles_and_names_real_executables(path: Path, tmp_path: Path):
    py_compile.compile(str(path), cfile=str(tmp_path / "out.pyc"), doraise=True)
    executables, packages, configs = launched(path)
    assert executables, f"{path.name} starts no node"
    assert executables - EXTERNAL_EXECUTABLES <= setup_entry_points()
    assert packages - {"rviz2"} <= {"arvr_hybrid_vio"}
    for name in configs:
        assert (ROOT / "config" / name).is_file(), f"{path.name} names config/{name}, which does not exist"
    assert "generate_launch_description" in path.read_text()


def test_replay_launch_starts_player_node_and_eval_node():
    executables, _, _ = launched(ROOT / "launch" / "replay_eval.launch.py")
    assert {"play", "vio_node", "eval_node", "rviz2"} <= executables


@pytest.mark.parametrize("name", ["vio_rig", "vio_euroc", "vio_tumvi", "vio_synthetic"])
def test_vio_configs_load_into_the_node_dataclasses(name: str):
    path = ROOT / "config" / f"{name}.yaml"
    configs = load_node_configs(path)  # also checks every extrinsic is a rigid transform
    assert configs.vio.imu_topic == "/imu0" and configs.vio.image_topic == "/cam0/image_raw"
    assert configs.estimator.device == "auto"
    parameters = read_parameters(path)
    assert set(parameters) <= {"vio", "sync", "estimator", "qos_overrides"}
