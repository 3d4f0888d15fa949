"""How wrong each velocity source is, against the truth, through a replay (a diagnostic).

    python scripts/studies/velocity_sources.py SHARD.npz [SHARD.npz ...] [--model models/hybrid.safetensors|imu-only]

Replays each shard through the estimator as shipped and records, at every frame, the three body-frame
velocities at the interval's start that ``VioEstimator._fused_velocity`` sees and makes: the network's
measurement with its reported sigma, the camera window's (when a solve came out) with its sigma, and
the fused Kalman estimate, with the network-consistency inflation then in force. It prints, per 3 s
block and over the whole shard, the true speed, the RMS error of each source (m/s) and the median
inflation. Body-frame velocities are compared (the estimated orientation against the true one), so the
estimator's own yaw (it starts at 0) does not matter.
"""
import numpy as np

from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
from arvr_hybrid_vio.core.training.replay import shard_frames
from study_arguments import parse_study_arguments

BLOCK_S = 3.0


def replay(path: str, model: str) -> np.ndarray:
    """Rows of (time s, true (3), network (3), network sigma, window (3), window sigma, fused (3), inflation)."""
    shard = load_shard(path)
    estimator = VioEstimator.from_file(model, EstimatorConfig(device="cpu"))
    stamps, rotations = np.asarray(shard["gt_stamps_ns"]), quat_wxyz_to_matrix(shard["gt_quats_wxyz"])
    velocities = np.asarray(shard["gt_velocity_xyz"])
    rows, current = [], {}
    fused_velocity = estimator._fused_velocity

    def recording(state, pre, motion, visual):
        fused = fused_velocity(state, pre, motion, visual)
        index = min(int(np.searchsorted(stamps, current["start_ns"])), len(stamps) - 1)
        to_body = state.rotation.T
        nan3 = np.full(3, np.nan)
        network = nan3 if motion.velocity_body is None else np.asarray(motion.velocity_body)
        network_sigma = np.nan if motion.velocity_body is None else float(np.sqrt(motion.velocity_var))
        window = nan3 if visual is None else to_body @ visual.velocity_xyz
        window_sigma = np.nan if visual is None else float(np.sqrt(np.trace(visual.covariance) / 3.0))
        rows.append((current["start_ns"] * 1e-9, *(rotations[index].T @ velocities[index]), *network, network_sigma,
                     *window, window_sigma, *(to_body @ fused), estimator.network_consistency.inflation()))
        return fused

    estimator._fused_velocity = recording
    for frame in shard_frames(shard):
        current["start_ns"] = int(frame.imu_stamps_ns[0])
        estimator.step(frame)
    table = np.array(rows)
    table[:, 0] -= table[0, 0]
    return table


def rms_error(estimate: np.ndarray, true: np.ndarray, mask: np.ndarray) -> float:
    chosen = mask & np.all(np.isfinite(estimate), axis=1)
    return float(np.sqrt(np.mean(np.sum((estimate[chosen] - true[chosen]) ** 2, axis=1)))) if chosen.any() else np.nan


def line(label: str, table: np.ndarray, mask: np.ndarray) -> str:
    true, network, window, fused = table[:, 1:4], table[:, 4:7], table[:, 8:11], table[:, 12:15]
    solved = np.isfinite(window[:, 0]) & mask
    return (f"{label:>9}: true {np.linalg.norm(true[mask], axis=1).mean():.2f} m/s | network error "
            f"{rms_error(network, true, mask):.2f} (sigma {np.nanmedian(table[mask, 7]):.2f}) | window error "
            f"{rms_error(window, true, mask):.2f} (sigma {np.nanmedian(table[mask, 11]):.2f}, "
            f"{100 * solved.sum() / mask.sum():.0f} % of frames) | fused error {rms_error(fused, true, mask):.2f} | "
            f"inflation {np.median(table[mask, 15]):.1f}")


def main() -> None:
    args = parse_study_arguments(__doc__)
    for path in args.shards:
        table = replay(path, args.model)
        print(f"{path} ({args.model}), body-frame velocity RMS errors, m/s")
        for start in np.arange(0.0, table[-1, 0], BLOCK_S):
            print(line(f"{start:.0f}-{start + BLOCK_S:.0f} s", table, (table[:, 0] >= start) & (table[:, 0] < start + BLOCK_S)))
        print(line("all", table, np.ones(len(table), dtype=bool)))


if __name__ == "__main__":
    main()
