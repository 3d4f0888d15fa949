"""ament_python / pip package definition of arvr_hybrid_vio."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "arvr_hybrid_vio"

# Each node and tool is registered twice: a ROS-style name for `ros2 run
# arvr_hybrid_vio <name>` and an `arvr-vio-*` name for a venv's PATH.
ENTRY_POINTS = {
    "vio_node": "arvr_hybrid_vio.nodes.vio_node:main",
    "eval_node": "arvr_hybrid_vio.nodes.eval_node:main",
    "play": "arvr_hybrid_vio.tools.play:main",
    "eval": "arvr_hybrid_vio.tools.eval_cli:main",
    "synth": "arvr_hybrid_vio.tools.synth:main",
    "import_euroc": "arvr_hybrid_vio.tools.import_euroc:main",
    "dataset": "arvr_hybrid_vio.tools.dataset:main",
    "fetch_motions": "arvr_hybrid_vio.tools.fetch_motions:main",
    "train": "arvr_hybrid_vio.tools.train:main",
    "infer": "arvr_hybrid_vio.tools.infer:cli",
    "export_onnx": "arvr_hybrid_vio.tools.export_onnx:main",
    "benchmark": "arvr_hybrid_vio.tools.benchmark:main",
    "bench": "arvr_hybrid_vio.tools.bench:main",
    "demo": "arvr_hybrid_vio.tools.demo:main",
}
DASHED = {"vio_node": "node", "eval_node": "eval-node", "import_euroc": "import-euroc",
          "fetch_motions": "fetch-motions", "export_onnx": "export-onnx"}

console_scripts = [f"{name} = {target}" for name, target in ENTRY_POINTS.items()]
console_scripts += [
    f"arvr-vio-{DASHED.get(name, name)} = {target}" for name, target in ENTRY_POINTS.items()
]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/models", glob("models/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="arvr_hybrid_vio maintainers",
    maintainer_email="maintainers@arvr-hybrid-vio.invalid",
    description="Learned hybrid visual-inertial odometry for AR/VR with ROS 2 nodes and evo-exact evaluation.",
    license="Apache-2.0",
    entry_points={"console_scripts": console_scripts},
)
