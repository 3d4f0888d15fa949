"""How much the hybrid-vs-Multi-Head comparison moves with the training seed.

    python scripts/studies/seed_spread.py LABEL=MODELS_DIR [LABEL=MODELS_DIR ...]
                                          [--dataset data_out/dataset] [--models hybrid,multihead]
                                          [--split test|val] [--per-sequence]

Each MODELS_DIR holds ``hybrid.safetensors`` and ``multihead.safetensors`` trained with one recipe
and one seed (``arvr-vio-train`` with ``train.seed`` and ``train.models_dir`` changed). Every model
is scored on the test split (or ``--split val``) exactly as ``arvr-vio-benchmark`` does (``run_all``, ``means``); the
script prints the mean over the test sequences per run, the hybrid's margin over the Multi-Head
per metric (positive: the hybrid is better), and the mean and standard deviation over the runs.
With ``--per-sequence`` it also prints each model's ATE and RPE-1s per sequence, mean ± std over the runs.
"""
import argparse
import statistics
from pathlib import Path

from arvr_hybrid_vio.core.dataset import list_shards
from arvr_hybrid_vio.tools.benchmark import IMPROVEMENT_TARGETS, LABELS, METRICS, means, run_all


def margins(summary: dict[str, dict[str, float]]) -> dict[str, float]:
    """Percent by which the hybrid beats the Multi-Head, per metric."""
    hybrid, multi = summary["hybrid"], summary["multihead"]
    return {m: 100.0 * (multi[m] - hybrid[m]) / multi[m] for m in METRICS}


def spread(values: list[float]) -> str:
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):7.2f} ± {deviation:5.2f}"


def print_per_sequence(rows_of: dict[str, list], models: list[str], sequences: list[str]) -> None:
    """ATE and RPE-1s per sequence and model: mean ± std over the runs."""
    print(f"{'sequence':<20} {'model':<18} {'ATE cm':>17} {'RPE-1s cm':>17}")
    for sequence in sequences:
        for model in models:
            scored = [r.scores for rows in rows_of.values() for r in rows
                      if r.sequence == sequence and r.model == model and r.scores is not None]
            print(f"{sequence:<20} {LABELS[model]:<18} " + " ".join(
                f"{spread([s[m] for s in scored]):>17}" for m in ("ate_cm", "rpe_trans_cm")))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=MODELS_DIR")
    parser.add_argument("--dataset", default="data_out/dataset")
    parser.add_argument("--models", default="hybrid,multihead")
    parser.add_argument("--split", default="test", choices=("test", "val"))
    parser.add_argument("--per-sequence", action="store_true", help="also print ATE and RPE-1s per sequence")
    args = parser.parse_args()
    models = args.models.split(",")
    shards = list_shards(Path(args.dataset), args.split)
    results: dict[str, dict[str, dict[str, float]]] = {}
    rows_of: dict[str, list] = {}
    for run in args.runs:
        label, folder = run.split("=", 1)
        rows_of[label] = run_all(shards, models, Path(folder), "cpu")
        results[label] = means(rows_of[label], models)
    if args.per_sequence:
        print_per_sequence(rows_of, models, [shard.stem for shard in shards])
    header = f"{'run':<14} {'model':<12} " + " ".join(f"{m:>17}" for m in METRICS)
    print(header + "\n" + "-" * len(header))
    for label, summary in results.items():
        for model in models:
            print(f"{label:<14} {LABELS[model]:<12} " + " ".join(f"{summary[model][m]:17.3f}" for m in METRICS))
        print(f"{label:<14} {'margin %':<12} " + " ".join(f"{v:17.1f}" for v in margins(summary).values()))
    print("-" * len(header))
    for model in models:
        print(f"{'mean ± std':<14} {LABELS[model]:<12} "
              + " ".join(f"{spread([r[model][m] for r in results.values()]):>17}" for m in METRICS))
    print(f"{'mean ± std':<14} {'margin %':<12} "
          + " ".join(f"{spread([margins(r)[m] for r in results.values()]):>17}" for m in METRICS))
    print(f"{'target':<14} {'margin %':<12} " + " ".join(f"{IMPROVEMENT_TARGETS[m]:17.1f}" for m in METRICS))


if __name__ == "__main__":
    main()
