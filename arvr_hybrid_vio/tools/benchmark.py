"""arvr-vio-benchmark: accuracy of every model on the held-out test sequences, against the seed's targets.

    arvr-vio-benchmark [--dataset data_out/dataset] [--models-dir models]
                       [--models hybrid,hybrid_hard,multihead,lstm,transformer,hybrid:no-window,
                                 multihead:no-window,imu-only,imu-only:window,position-held]
                       [--json report.json]

A model runs with the estimator's defaults, the camera's window velocity included
(``core.visual_velocity``), except ``imu-only``, which is plain strapdown as the issue defines it.
``<model>:no-window`` turns the window velocity off (the network alone corrects the IMU), and
``imu-only:window`` turns it on for strapdown (no learning anywhere).

Each test shard is replayed through the same sync buffer and streaming estimator the node
uses; the estimate is scored with the evaluation core (SE(3) Umeyama alignment, RPE over
1 s, end-point drift per 100 m). One table: one row per sequence and model, then the mean
over sequences per model, then the seed's targets marked met / not met.

``position-held`` is a reference, not a model: the true orientation with the position never
moving (a perfect 3-DoF tracker), placed at the true trajectory's mean position, which is where
any rigid alignment puts a constant trajectory. A 6-DoF estimator adds positional tracking
only where it scores below this row.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from arvr_hybrid_vio.core.devices import DEVICES
from arvr_hybrid_vio.core.dataset import list_shards, load_shard
from arvr_hybrid_vio.core.errors import ConfigError, VioError
from arvr_hybrid_vio.core.estimator import IMU_ONLY, EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
from arvr_hybrid_vio.core.metrics import ate, drift, rpe
from arvr_hybrid_vio.core.model.learned_motion import NETWORK_RUNTIMES
from arvr_hybrid_vio.core.training.replay import ground_truth, run_estimator, shard_frames
from arvr_hybrid_vio.core.visual_velocity import VisualVelocityConfig

LOGGER = logging.getLogger("arvr_vio_benchmark")
POSITION_HELD = "position-held"
NO_WINDOW, WINDOW = ":no-window", ":window"
DEFAULT_MODELS = ("hybrid", "hybrid_hard", "multihead", "lstm", "transformer", "hybrid" + NO_WINDOW,
                  "multihead" + NO_WINDOW, IMU_ONLY, IMU_ONLY + WINDOW, POSITION_HELD)
LABELS = {"hybrid": "Hybrid", "multihead": "Multi-Head", "lstm": "LSTM-only", "transformer": "Transformer-only",
          "hybrid_hard": "Hybrid hard-rule", IMU_ONLY: "IMU-only", POSITION_HELD: "Position held",
          "hybrid" + NO_WINDOW: "Hybrid no-window", "multihead" + NO_WINDOW: "Multi-Head no-win.",
          IMU_ONLY + WINDOW: "IMU + window"}
RPE_DELTA_S = 1.0
METRICS = ("ate_cm", "rpe_trans_cm", "rpe_rot_deg", "drift_m_per_100m")
ABSOLUTE_TARGETS = {"ate_cm": 1.00, "rpe_trans_cm": 0.25, "rpe_rot_deg": 0.5, "drift_m_per_100m": 0.10}
IMPROVEMENT_TARGETS = {"ate_cm": 7.0, "rpe_trans_cm": 17.0, "rpe_rot_deg": 24.0, "drift_m_per_100m": 23.0}


@dataclass(frozen=True)
class Row:
    """Scores of one model on one sequence (None: could not be evaluated)."""

    sequence: str
    model: str
    scores: dict[str, float] | None
    note: str = ""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="arvr-vio-benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="data_out/dataset", help="dataset root with test/*.npz shards")
    parser.add_argument("--split", default="test", help="which split to score (test, val)")
    parser.add_argument("--models-dir", default="models", help="folder with <family>.safetensors")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated families and/or imu-only")
    parser.add_argument("--device", choices=DEVICES, default="cpu", help="inference device")
    parser.add_argument("--network-runtime", choices=NETWORK_RUNTIMES, default=EstimatorConfig.network_runtime,
                        help="what runs the networks (estimator.network_runtime)")
    parser.add_argument("--json", help="also write all rows and the summary as JSON here")
    return parser.parse_args(argv)


def score(shard: dict[str, Any], estimator: VioEstimator) -> dict[str, float]:
    """ATE (cm), RPE-1s translation (cm) and rotation (deg), drift (m/100 m) of one replay."""
    estimate = run_estimator(estimator, shard_frames(shard))
    report = evaluate(ground_truth(shard), estimate,
                      EvalConfig(align="se3", rpe_delta=RPE_DELTA_S, rpe_unit="s")).to_dict()
    drift = report["drift_m_per_100m"]
    return {"ate_cm": 100.0 * report["ate_rmse_m"], "rpe_trans_cm": 100.0 * report["rpe_trans_rmse_m"],
            "rpe_rot_deg": report["rpe_rot_rmse_deg"], "drift_m_per_100m": math.nan if drift is None else drift,
            "path_m": report["path_length_m"], "poses": report["matched_poses"]}


def position_held_scores(shard: dict[str, Any]) -> dict[str, float]:
    """The ``position-held`` reference at the camera stamps, scored with the evaluation core's metrics.

    The true orientation, the position fixed at the true mean position. ``evaluate`` cannot align a
    constant trajectory (Umeyama is degenerate, as in evo), but every rigid alignment of it lands on
    one point and the mean is the ATE-optimal one, so the metrics are applied to it directly.
    """
    truth = ground_truth(shard)
    stamps = np.asarray(shard["image_stamps_ns"], dtype=np.int64)
    stamps = stamps[(stamps >= truth.stamps_ns[0]) & (stamps <= truth.stamps_ns[-1])]
    nearest = np.clip(np.searchsorted(truth.stamps_ns, stamps), 0, len(truth) - 1)
    ref_poses = truth.poses_se3()[nearest]
    est_poses = ref_poses.copy()
    est_poses[:, :3, 3] = ref_poses[:, :3, 3].mean(axis=0)
    relative = rpe(ref_poses, est_poses, delta=RPE_DELTA_S, unit="s", est_stamps_ns=truth.stamps_ns[nearest])
    end_point = drift(ref_poses, est_poses)
    return {"ate_cm": 100.0 * ate(ref_poses, est_poses).stats.rmse, "rpe_trans_cm": 100.0 * relative.trans.rmse,
            "rpe_rot_deg": relative.rot.rmse,
            "drift_m_per_100m": math.nan if end_point.drift_m_per_100m is None else end_point.drift_m_per_100m,
            "path_m": end_point.path_length_m, "poses": len(stamps)}


def model_path(models_dir: Path, model: str) -> str:
    """``imu-only`` as is, else ``<models_dir>/<model>.safetensors``."""
    return IMU_ONLY if model == IMU_ONLY else str(models_dir / f"{model}.safetensors")


def estimator_config(model: str, device: str, runtime: str = EstimatorConfig.network_runtime) -> EstimatorConfig:
    """The estimator settings of a benchmark model name (see the module docstring)."""
    window = not model.endswith(NO_WINDOW) and (not model.startswith(IMU_ONLY) or model.endswith(WINDOW))
    return EstimatorConfig(device=device, network_runtime=runtime, visual_velocity=VisualVelocityConfig(enabled=window))


def run_all(shards: list[Path], models: list[str], models_dir: Path, device: str,
            runtime: str = EstimatorConfig.network_runtime) -> list[Row]:
    """Score every model on every shard; a model that cannot load gives rows with a note."""
    rows: list[Row] = []
    bar = tqdm(total=len(shards) * len(models), desc="benchmark", unit="run", file=sys.stderr)
    for shard_path in shards:
        shard = load_shard(shard_path)
        for model in models:
            if model == POSITION_HELD:
                rows.append(Row(shard_path.stem, model, position_held_scores(shard)))
                bar.update()
                continue
            try:
                family = model.split(":")[0]
                estimator = VioEstimator.from_file(model_path(models_dir, family),
                                                   estimator_config(model, device, runtime))
                rows.append(Row(shard_path.stem, model, score(shard, estimator)))
            except VioError as exc:
                rows.append(Row(shard_path.stem, model, None, str(exc)))
            bar.update()
    bar.close()
    return rows


def means(rows: list[Row], models: list[str]) -> dict[str, dict[str, float]]:
    """Mean of each metric over sequences, per model (NaN drift values skipped)."""
    out: dict[str, dict[str, float]] = {}
    for model in models:
        scored = [r.scores for r in rows if r.model == model and r.scores is not None]
        if scored:
            out[model] = {m: _nanmean([s[m] for s in scored]) for m in METRICS}
    return out


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}" if value < 100 else f"{value:.1f}"


def format_table(rows: list[Row], summary: dict[str, dict[str, float]], *, split: str = "test") -> str:
    """The benchmark table (per sequence, mean) followed by the target checks over ``split``."""
    header = f"{'sequence':<18} {'model':<18} {'ATE cm':>9} {'RPE-1s cm':>10} {'RPE-1s deg':>10} {'drift m/100m':>12}"
    lines = [header, "-" * len(header)]
    for row in rows:
        if row.scores is None:
            lines.append(f"{row.sequence:<18} {LABELS.get(row.model, row.model):<18} not evaluated: {row.note}")
        else:
            lines.append(f"{row.sequence:<18} {LABELS.get(row.model, row.model):<18} "
                         + " ".join(f"{_fmt(row.scores[m]):>{w}}" for m, w in zip(METRICS, (9, 10, 10, 12))))
    lines.append("-" * len(header))
    for model, values in summary.items():
        lines.append(f"{'MEAN':<18} {LABELS.get(model, model):<18} "
                     + " ".join(f"{_fmt(values[m]):>{w}}" for m, w in zip(METRICS, (9, 10, 10, 12))))
    return "\n".join(lines + [""] + target_lines(summary, split=split))


def target_lines(summary: dict[str, dict[str, float]], *, split: str = "test") -> list[str]:
    """The seed's targets for the hybrid (means over the ``split`` sequences), each met or not."""
    hybrid, multi = summary.get("hybrid"), summary.get("multihead")
    if hybrid is None:
        return ["Seed targets: hybrid model not evaluated."]
    names = {"ate_cm": "ATE < 1.00 cm", "rpe_trans_cm": "RPE-1s trans < 0.25 cm", "rpe_rot_deg": "RPE-1s rot < 0.5 deg",
             "drift_m_per_100m": "drift < 0.10 m/100 m"}
    lines = [f"Seed targets (hybrid, mean over {split} sequences):"]
    for metric, limit in ABSOLUTE_TARGETS.items():
        value = hybrid[metric]
        lines.append(f"  {names[metric]:<34} {_fmt(value):>10}   {'MET' if value < limit else 'NOT MET'}")
    if multi is None:
        return lines + ["  hybrid vs Multi-Head: Multi-Head not evaluated."]
    for metric, needed in IMPROVEMENT_TARGETS.items():
        gain = 100.0 * (multi[metric] - hybrid[metric]) / multi[metric] if multi[metric] else math.nan
        verdict = "MET" if gain >= needed else "NOT MET"
        lines.append(f"  hybrid better than Multi-Head by >= {needed:>4.0f} % {metric:<17} "
                     f"{_fmt(gain):>8} %   {verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Entry point of arvr-vio-benchmark."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    args = parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        shards = list_shards(args.dataset, args.split)
        if not shards:
            raise ConfigError(f"{args.dataset}: no {args.split} shards (make them with arvr-vio-dataset)")
        rows = run_all(shards, models, Path(args.models_dir), args.device, args.network_runtime)
    except VioError as exc:
        print(f"arvr-vio-benchmark: {exc}", file=sys.stderr)
        return 2
    summary = means(rows, models)
    print(format_table(rows, summary, split=args.split))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": [r.__dict__ for r in rows], "mean": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
