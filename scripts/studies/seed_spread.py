"""How much the hybrid-vs-Multi-Head comparison moves with the training seed.

    python scripts/studies/seed_spread.py LABEL=MODELS_DIR [LABEL=MODELS_DIR ...]
                                          [--dataset data_out/dataset] [--models hybrid,multihead]
                                          [--split test|val]

Each MODELS_DIR holds ``hybrid.safetensors`` and ``multihead.safetensors`` trained with one recipe
and one seed (``arvr-vio-train`` with ``train.seed`` and ``train.models_dir`` changed). Every model
is scored on the test split (or ``--split val``) exactly as ``arvr-vio-benchmark`` does (``run_all``, ``means``); the
script prints the mean over the test sequences per run, the hybrid's margin over the Multi-Head
per metric (positive: the hybrid is better), and the mean and standard deviation over the runs.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=MODELS_DIR")
    parser.add_argument("--dataset", default="data_out/dataset")
    parser.add_argument("--models", default="hybrid,multihead")
    parser.add_argument("--split", default="test", choices=("test", "val"))
    args = parser.parse_args()
    models = args.models.split(",")
    shards = list_shards(Path(args.dataset), args.split)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for run in args.runs:
        label, folder = run.split("=", 1)
        results[label] = means(run_all(shards, models, Path(folder), "cpu"), models)
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
