"""Which of the shipped hybrid's three streams its poses depend on (inference-time ablation).

    python scripts/studies/stream_ablation.py [--split test] [--dataset data_out/dataset]
                                              [--model models/hybrid.safetensors]

Each held-out sequence is replayed through the estimator as the benchmark does (``score``), with the
trained hybrid as shipped and then with its fusion weights changed at inference: one stream's weight
set to zero (the other two renormalised), or all the weight on one stream. Nothing is retrained: this
measures what the trained model uses, not what a model trained without a stream could reach (that is
the benchmark's LSTM-only and Transformer-only rows). Prints per-sequence ATE / RPE-1s and the means.
"""
import argparse
import statistics
from pathlib import Path

import torch

from arvr_hybrid_vio.core.dataset import list_shards, load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.tools.benchmark import score

STREAMS = ("lstm", "transformer", "multiscale")  # fusion order


def variants() -> dict[str, torch.Tensor | None]:
    """Name -> weight mask over the streams (None: as shipped)."""
    out: dict[str, torch.Tensor | None] = {"as shipped": None}
    for index, name in enumerate(STREAMS):
        out[f"without {name}"] = torch.tensor([0.0 if i == index else 1.0 for i in range(3)])
    for index, name in enumerate(STREAMS):
        out[f"{name} only"] = torch.tensor([1.0 if i == index else 0.0 for i in range(3)])
    return out


def masked(estimator: VioEstimator, mask: torch.Tensor) -> None:
    """Multiply the network's fusion weights by ``mask`` and renormalise them (in place)."""
    fusion = estimator.source.network.fusion
    original = fusion.weights

    def weights(context: torch.Tensor) -> torch.Tensor:
        kept = original(context) * mask.to(context.device)
        return kept / kept.sum(dim=-1, keepdim=True)

    fusion.weights = weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--dataset", default="data_out/dataset")
    parser.add_argument("--model", default="models/hybrid.safetensors")
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants()}
    for path in list_shards(Path(args.dataset), args.split):
        shard = load_shard(path)
        cells = []
        for name, mask in variants().items():
            estimator = VioEstimator.from_file(args.model, EstimatorConfig(device="cpu", torch_threads=1))
            if estimator.source.network.fusion is None:
                raise SystemExit(f"{args.model}: not a hybrid (no fusion)")
            if mask is not None:
                masked(estimator, mask)
            scores = score(shard, estimator)
            results[name].append((scores["ate_cm"], scores["rpe_trans_cm"]))
            cells.append(f"{name}: {scores['ate_cm']:.2f}/{scores['rpe_trans_cm']:.2f}")
        print(f"{path.stem:18s} ATE/RPE-1s cm | " + " | ".join(cells), flush=True)
    print(f"\n{'variant':24s} mean ATE cm   mean RPE-1s cm")
    for name, values in results.items():
        print(f"{name:24s} {statistics.mean(v[0] for v in values):11.2f}   {statistics.mean(v[1] for v in values):14.2f}")


if __name__ == "__main__":
    main()
