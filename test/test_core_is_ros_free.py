"""arvr_hybrid_vio.core imports no ROS: no rclpy, no rosbags, no *_msgs, no ROS adapters of this package."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "arvr_hybrid_vio" / "core"
FORBIDDEN_ROOTS = {"rclpy", "rosbags", "rosidl_runtime_py", "rosgraph_msgs", "builtin_interfaces", "tf2_ros",
                   "tf_transformations", "cv_bridge", "sensor_msgs_py", "launch", "launch_ros", "rosbag2_py"}
FORBIDDEN_PACKAGES = ("arvr_hybrid_vio.ros", "arvr_hybrid_vio.nodes", "arvr_hybrid_vio.io", "arvr_hybrid_vio.tools")


def is_forbidden(module: str) -> bool:
    root = module.split(".")[0]
    return (root in FORBIDDEN_ROOTS or root.endswith("_msgs") or root.endswith("_srvs")
            or any(module == p or module.startswith(p + ".") for p in FORBIDDEN_PACKAGES))


def core_modules() -> list[str]:
    return sorted(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                  for path in CORE.rglob("*.py"))


def imported_names(path: Path) -> list[str]:
    """Absolute module names a source file imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(ROOT).parent.parts)
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(filter(None, [base, node.module or ""]))
            names += [module] + [f"{module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names.append(str(node.args[0].value))
    return names


def test_checker_catches_ros_imports() -> None:
    assert all(is_forbidden(m) for m in ("rclpy.node", "sensor_msgs.msg", "tf2_msgs", "std_srvs.srv", "rosbags.rosbag2",
                                         "arvr_hybrid_vio.ros.conversions", "arvr_hybrid_vio.io.bags"))
    assert not any(is_forbidden(m) for m in ("numpy", "torch.nn", "scipy.spatial", "arvr_hybrid_vio.core.geometry"))


def test_core_sources_import_no_ros() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 4
    offenders = {str(path.relative_to(ROOT)): bad for path in files
                 if (bad := sorted({n for n in imported_names(path) if is_forbidden(n)}))}
    assert offenders == {}, f"core modules importing ROS (move that code to arvr_hybrid_vio/ros or io): {offenders}"


def test_importing_every_core_module_loads_no_ros() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert "arvr_hybrid_vio.core" in loaded
    offenders = sorted(m for m in loaded if is_forbidden(m))
    assert offenders == [], f"importing arvr_hybrid_vio.core pulls in ROS modules: {offenders}"
