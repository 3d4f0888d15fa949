"""`colcon build` of this package in a temporary workspace installs what `ros2 run` and `ros2 launch` need."""
from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import setuptools

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "arvr_hybrid_vio"
SOURCES = ("package.xml", "setup.py", "setup.cfg", "resource", PACKAGE, "launch", "config", "models")
DATA_FOLDERS = ("launch", "config", "models")


def setup_keywords(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The keywords setup.py passes to setuptools.setup (run with setup() captured)."""
    captured: dict[str, Any] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    return captured


def copy_package(destination: Path) -> None:
    destination.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, destination / name)


def data_files(folder: str) -> list[Path]:
    """Every file in a data folder of the source tree."""
    base = ROOT / folder
    return sorted(p.relative_to(ROOT) for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
        if base.is_dir() else []


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("colcon_ws")
    copy_package(ws / "src" / PACKAGE)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run([str(Path(sys.executable).parent / "colcon"), "build", "--base-paths", "src",
                             "--event-handlers", "console_direct-"], cwd=ws, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return ws


def test_console_scripts_land_in_lib(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scripts = [entry.split("=")[0].strip() for entry in setup_keywords(monkeypatch)["entry_points"]["console_scripts"]]
    assert {"play", "vio_node", "eval_node", "arvr-vio-play", "arvr-vio-node"} <= set(scripts)
    lib = workspace / "install" / PACKAGE / "lib" / PACKAGE
    for script in scripts:
        assert (lib / script).is_file(), f"{script} not in {lib}"
        assert os.access(lib / script, os.X_OK), f"{script} is not executable"


def test_marker_package_xml_and_data_files_in_share(workspace: Path) -> None:
    install = workspace / "install" / PACKAGE
    assert (install / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()
    assert (install / "share" / PACKAGE / "package.xml").read_bytes() == (ROOT / "package.xml").read_bytes()
    for folder in DATA_FOLDERS:
        for relative in data_files(folder):
            installed = install / "share" / PACKAGE / relative
            assert installed.is_file(), f"{relative} is not installed under share/{PACKAGE}"
            assert installed.read_bytes() == (ROOT / relative).read_bytes()


def test_installed_player_runs_from_the_install_space(workspace: Path) -> None:
    install = workspace / "install" / PACKAGE
    site = next(install.glob("lib/python3*/site-packages"))
    env = dict(os.environ, PYTHONPATH=f"{site}:{os.environ.get('PYTHONPATH', '')}")
    where = subprocess.run([sys.executable, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"], env=env,
                           cwd=workspace, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(install)), where.stdout + where.stderr
    result = subprocess.run([str(install / "lib" / PACKAGE / "play"), "--help"], env=env, cwd=workspace,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--clock" in result.stdout, result.stderr
