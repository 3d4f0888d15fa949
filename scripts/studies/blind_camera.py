"""How much the camera contributes: each test sequence scored with its tracks, and blind (every track zeroed).

    python scripts/studies/blind_camera.py [--model models/hybrid.safetensors] SHARD.npz [...]

The blind run replaces ``extract_tracks`` inside the network's visual front-end (``core.model.front_end``,
which the learned motion source tracks through) by an all-invalid track array (what the network sees when no corner is found), so the same weights run
on the IMU alone. Scores as in ``arvr-vio-benchmark`` (SE(3) ATE, RPE over 1 s).
"""
from unittest import mock

import numpy as np

from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.model import front_end
from arvr_hybrid_vio.tools.benchmark import score
from study_arguments import parse_study_arguments


def blind_tracks(prev_image, image, intrinsics, config, **_):  # noqa: ANN001 - same signature as extract_tracks
    from arvr_hybrid_vio.core.model.visual_tracks import TRACK_CHANNELS
    return np.zeros((config.max_tracks, TRACK_CHANNELS), dtype=np.float32)


def main() -> None:
    args = parse_study_arguments(__doc__)
    print(f"{'sequence':<20} {'ATE / RPE-1s cm':>18} {'blind ATE / RPE-1s cm':>24}")
    for path in args.shards:
        shard = load_shard(path)
        seeing = score(shard, VioEstimator.from_file(args.model, EstimatorConfig(device="cpu")))
        with mock.patch.object(front_end, "extract_tracks", blind_tracks):
            blind = score(shard, VioEstimator.from_file(args.model, EstimatorConfig(device="cpu")))
        name = path.rsplit("/", 1)[-1].removesuffix(".npz")
        print(f"{name:<20} {seeing['ate_cm']:8.2f} / {seeing['rpe_trans_cm']:6.2f}"
              f"{blind['ate_cm']:14.2f} / {blind['rpe_trans_cm']:6.2f}")


if __name__ == "__main__":
    main()
