"""Lightning DDP on the GPUs of this machine, through the real ``arvr-vio-train`` (issue 5: "DDP working
unchanged on several GPUs"): tiny synthetic shards, the shipped model recipe (config/model.yaml), ``strategy:
ddp`` on every visible GPU (so one lent GPU still runs DDP, over NCCL). Checks that it trained, that the
process group was NCCL and that one model file was written; prints the wall time.

Usage: python3 scripts/device/ddp_check.py OUT_DIR [--epochs 2] [--family hybrid]
Exit 0 when every check holds, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from arvr_hybrid_vio.core.dataset import write_shard
from arvr_hybrid_vio.core.model_io import load_model
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--family", default="hybrid")
    parser.add_argument("--accelerator", choices=("gpu", "cpu"), default="gpu",
                        help="cpu: one process over gloo (a dry run of this script without a GPU)")
    args = parser.parse_args()
    on_gpu = args.accelerator == "gpu"
    gpus = torch.cuda.device_count() if on_gpu else 1
    if gpus < 1:
        print("ddp_check: no CUDA device visible", file=sys.stderr)
        return 1
    backend, where = ("nccl", torch.cuda.get_device_name(0)) if on_gpu else ("gloo", "CPU")
    root = args.out / "ddp"
    for split, seed in (("train", 21), ("train", 23), ("val", 22)):
        motion = MotionConfig(motion="head", duration_s=6.0, rest_s=0.6)
        write_shard(generate_sequence(SynthConfig(motion=motion), seed=seed), root / "data" / split / f"{seed}.npz")
    config = root / "train.yaml"
    config.write_text(f"""/**:
  ros__parameters:
    train:
      model_config: {ROOT / 'config' / 'model.yaml'}
      dataset_root: {root / 'data'}
      cache_dir: {root / 'cache'}
      out_dir: {root / 'runs'}
      models_dir: {root / 'models'}
      epochs: {args.epochs}
      batch_size: 8
      curriculum_epochs: [1]
      curriculum_windows: [16, 32]
      curriculum_quantile: [0.6, 1.0]
      passes_per_epoch: 2.0
      accelerator: {args.accelerator}
      devices: {gpus}
      strategy: ddp
""")
    train = Path(sys.executable).parent / "arvr-vio-train"
    started = time.monotonic()
    done = subprocess.run([str(train), "--config", str(config), "--model", args.family], capture_output=True,
                          text=True, timeout=600, cwd=root)
    wall = time.monotonic() - started
    (args.out / "ddp_train.log").write_text(done.stderr)
    print(f"ddp_check: arvr-vio-train exit {done.returncode} after {wall:.1f} s on {gpus} x {where}")
    if done.returncode != 0:
        print(done.stderr[-3000:])
        return 1
    _, training = load_model(root / "models" / f"{args.family}.safetensors")
    timing = json.loads((root / "runs" / args.family / "timing.json").read_text())
    checks = {
        "trained and exported": True,
        f"process group backend is {backend}": training.get("distributed_backend") == backend,
        f"world size {gpus}": training.get("devices") == gpus,
        "one model file written (rank 0 alone)": done.stderr.count("model written to") == 1,
        f"trained on the {args.accelerator}": str(training.get("device", "")).startswith("cuda" if on_gpu else "cpu"),
    }
    print(json.dumps({"device": training.get("device"), "devices": training.get("devices"),
                      "distributed_backend": training.get("distributed_backend"),
                      "train_frames": training.get("train_frames"), "train_wall_s": timing.get("total_wall_s"),
                      "process_wall_s": round(wall, 1), "epochs": args.epochs}, indent=1))
    for name, ok in checks.items():
        print(f"  {'OK  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
