"""``arvr-vio-eval GT EST``: score an estimated trajectory against ground truth.

GT and EST are trajectory files (TUM, EuRoC CSV, KITTI; told apart by content) or
bags (rosbag2 folder, .db3, .mcap, ROS 1 .bag) with a topic picked by
``--gt-topic``/``--est-topic`` (GT and EST may be the same bag). Prints a table
of ATE, RPE, drift and KITTI errors; ``--json`` writes the flat report and
``--plot`` a PNG (top view after alignment, ATE over time), both atomically.

Example::

    arvr-vio-eval test/data/trajectories/freiburg1_xyz-groundtruth.txt \\
        test/data/trajectories/freiburg1_xyz-rgbdslam.txt --align sim3 --json report.json --plot report.png

Exit codes: 0 done, 2 bad input (one line on stderr naming the file or topic).
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from arvr_hybrid_vio.core.alignment import ALIGN_MODES
from arvr_hybrid_vio.core.errors import VioError
from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate, format_report_table, write_report_json
from arvr_hybrid_vio.core.metrics import RPE_UNITS
from arvr_hybrid_vio.core.trajectory import Trajectory
from arvr_hybrid_vio.io.trajectory_bags import load_trajectory

_FORMATS = ("auto", "tum", "euroc", "kitti")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    defaults = EvalConfig()
    parser = argparse.ArgumentParser(prog="arvr-vio-eval", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("gt", help="ground-truth trajectory file or bag")
    parser.add_argument("est", help="estimated trajectory file or bag")
    for side in ("gt", "est"):
        parser.add_argument(f"--{side}-topic", default=None, help=f"{side} topic in a bag (pose types or /tf)")
        parser.add_argument(f"--{side}-format", choices=_FORMATS, default="auto", help=f"{side} file format")
        parser.add_argument(f"--{side}-frames", nargs=2, metavar=("PARENT", "CHILD"), default=("", ""),
                            help=f"{side} from the bag's TF tree: pose of CHILD in PARENT")
    parser.add_argument("--align", choices=ALIGN_MODES, default=defaults.align, help="Umeyama alignment")
    parser.add_argument("--align-first-n", type=int, default=defaults.align_first_n,
                        help="align on the first N matched poses only (0: all)")
    parser.add_argument("--max-time-diff", type=float, default=defaults.max_time_diff_s,
                        help="largest stamp difference of a matched pose pair (s)")
    parser.add_argument("--rpe-delta", type=float, default=defaults.rpe_delta, help="RPE pair spacing")
    parser.add_argument("--rpe-unit", choices=RPE_UNITS, default=defaults.rpe_unit,
                        help="RPE delta unit: s, m (as evo_rpe -u m), f (as evo_rpe -u f)")
    parser.add_argument("--json", default=None, help="write the flat report here (JSON)")
    parser.add_argument("--plot", default=None, help="write a PNG plot here")
    return parser


def _load(path: str, *, fmt: str, topic: str | None, frames: Sequence[str]) -> Trajectory:
    return load_trajectory(path, fmt=fmt, topic=topic, parent_frame=frames[0], child_frame=frames[1])


def run(args: argparse.Namespace) -> int:
    """Evaluate and write outputs; raises VioError on bad input."""
    config = EvalConfig(align=args.align, align_first_n=args.align_first_n, max_time_diff_s=args.max_time_diff,
                        rpe_delta=args.rpe_delta, rpe_unit=args.rpe_unit)
    gt = _load(args.gt, fmt=args.gt_format, topic=args.gt_topic, frames=args.gt_frames)
    est = _load(args.est, fmt=args.est_format, topic=args.est_topic, frames=args.est_frames)
    report = evaluate(gt, est, config)
    flat = report.to_dict()
    print(f"ground truth: {gt.source} ({len(gt)} poses)\nestimate:     {est.source} ({len(est)} poses)")
    print(format_report_table(flat))
    if args.json:
        write_report_json(flat, args.json)
        print(f"report: {args.json}")
    if args.plot:
        from arvr_hybrid_vio.core.plots import plot_evaluation
        plot_evaluation(report, args.plot, title=f"{Path(est.source).name} vs {Path(gt.source).name}")
        print(f"plot: {args.plot}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``arvr-vio-eval``; returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except VioError as exc:
        print(f"arvr-vio-eval: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"arvr-vio-eval: error: cannot write output: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
