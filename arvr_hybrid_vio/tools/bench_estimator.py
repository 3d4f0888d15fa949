"""ROS-free parts of ``arvr-vio-bench``: the estimator step, the network step, evaluation speed.

The estimator is driven exactly as the node drives it: a synthetic camera + IMU
stream is pushed into a :class:`SyncBuffer` in stamp order, every released frame
goes through ``VioEstimator.step`` and every IMU sample through
``propagate_imu``. A probe around the network's ``step`` records its inputs so
that the network alone can then be timed on the very same inputs.
"""
from __future__ import annotations

import cProfile
import io
import logging
import pstats
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.step_shadow import StepShadow
from arvr_hybrid_vio.core.sync_buffer import SyncBuffer, SyncConfig
from arvr_hybrid_vio.core.synth.imu import ImuConfig
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, SynthSequence, generate_sequence
from arvr_hybrid_vio.core.timing import BenchmarkError, device_synchronizer, time_calls
from arvr_hybrid_vio.core.types import SyncedFrame

LOGGER = logging.getLogger(__name__)
EVENT_IMAGE, EVENT_IMU = 0, 1  # at equal stamps the image comes first, as in the layout bags


def synthetic_sequence(*, duration_s: float, imu_rate_hz: float = 200.0, seed: int = 0, motion: str = "head",
                       start_time_s: int = 1_700_000_000) -> SynthSequence:
    """A rendered 160x128, 30 Hz camera + IMU sequence (starts with 1 s at rest)."""
    config = SynthConfig(motion=MotionConfig(motion=motion, duration_s=duration_s),
                         imu=ImuConfig(rate_hz=imu_rate_hz), start_time_s=start_time_s)
    return generate_sequence(config, seed=seed)


def sensor_events(sequence: SynthSequence) -> list[tuple[int, int, int]]:
    """(stamp_ns, kind, index) of every image and IMU sample, in the order a bag or a rig delivers them."""
    events = [(int(s), EVENT_IMU, i) for i, s in enumerate(sequence.imu_stamps_ns)]
    events += [(int(s), EVENT_IMAGE, i) for i, s in enumerate(sequence.image_stamps_ns)]
    return sorted(events)


@dataclass
class NetworkProbe(StepShadow):
    """Wraps ``network.step``: records its inputs and times it (with device synchronisation)."""

    network: Any  # VioNetwork, or OnnxNetwork (numpy arrays)
    synchronize: Callable[[], None]
    inputs: list[tuple[Any, Any, Any]] = field(default_factory=list)
    durations_ms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        StepShadow.__init__(self, self.network)  # the previous step may be a GraphBackedStep
        self._step = self.network.step
        self.network.step = self  # instance attribute shadows the method until ``remove``

    def __call__(self, tracks: Any, inertial: Any, context: Any, state: Any) -> Any:
        self.inputs.append((_copied(tracks), _copied(inertial), _copied(context)))
        self.synchronize()
        started = time.perf_counter()
        result = self._step(tracks, inertial, context, state)
        self.synchronize()
        self.durations_ms.append((time.perf_counter() - started) * 1e3)
        return result


def _copied(array: Any) -> Any:
    """A copy of a torch tensor or a numpy array."""
    return array.clone() if hasattr(array, "clone") else array.copy()


@dataclass
class ReplayTimes:
    """Per-call durations of one replay through the estimator (tracked frames only)."""

    step_ms: list[float] = field(default_factory=list)  # VioEstimator.step of frames that gave a pose
    imu_ms: list[float] = field(default_factory=list)  # propagate_imu calls that gave a pose
    positions: list[np.ndarray] = field(default_factory=list)  # (3,) position of each frame pose
    frames: int = 0  # frames popped from the buffer
    poses: int = 0  # frames that gave a pose


def replay(estimator: VioEstimator, sequence: SynthSequence, *, sync_config: SyncConfig,
           stamp_shift_ns: int = 0, real_time: bool = False) -> ReplayTimes:
    """Push the sequence through a fresh SyncBuffer and the estimator in node order; time every call.

    As in the node, frames released by a push are stepped first, then the IMU sample is
    propagated for the IMU-rate output. With ``real_time`` each sample is pushed no earlier
    than its stamp says (sleeping in between), as a live sensor stream arrives, each accepted
    image is tracked on arrival (``VioEstimator.prepare_image``, untimed), as the node does with
    ``vio.track_on_arrival``, so that the frame's step finds its tracks ready, and after each step
    ``VioEstimator.finish_frame`` runs untimed (deferred work, as the node does when idle).
    """
    buffer, times = SyncBuffer(sync_config), ReplayTimes()
    events = sensor_events(sequence)
    wall0, first_ns = time.perf_counter(), events[0][0]
    for stamp_ns, kind, index in events:
        if real_time and (delay := wall0 + (stamp_ns - first_ns) * 1e-9 - time.perf_counter()) > 0:
            time.sleep(delay)
        stamp_ns += stamp_shift_ns
        if kind == EVENT_IMAGE:
            if buffer.push_image(stamp_ns, sequence.images[index]) and real_time:
                estimator.prepare_image(stamp_ns + buffer.config.time_offset_ns, sequence.images[index])
        else:
            buffer.push_imu(stamp_ns, sequence.gyro[index], sequence.accel[index])
        for frame in _drain(buffer):
            times.frames += 1
            started = time.perf_counter()
            pose = estimator.step(frame)
            if pose is not None:
                times.step_ms.append((time.perf_counter() - started) * 1e3)
                times.positions.append(pose.position_xyz)
                times.poses += 1
            if real_time:  # as the node when idle: work the pose did not wait for (untimed)
                estimator.finish_frame()
        if kind == EVENT_IMU:
            started = time.perf_counter()
            if estimator.propagate_imu(stamp_ns, sequence.gyro[index], sequence.accel[index]) is not None:
                times.imu_ms.append((time.perf_counter() - started) * 1e3)
    return times


def _drain(buffer: SyncBuffer) -> Iterator[SyncedFrame]:
    while (frame := buffer.pop_synced()) is not None:
        yield frame


def network_of(estimator: VioEstimator) -> Any | None:
    """The estimator's network (a VioNetwork, or an OnnxNetwork on onnxruntime), or None for the IMU-only
    baseline."""
    return getattr(estimator.source, "network", None)


def time_network_steps(network: Any, inputs: list[tuple[Any, Any, Any]], *, device: Any, warmup: int,
                       iterations: int) -> np.ndarray:
    """The network's own (eager) streaming ``step`` alone, on recorded inputs (cycled), state carried.

    The first ``warmup`` steps fill the Transformer's key/value cache and are not timed.

    Returns:
        (iterations,) durations in ms.
    """
    import torch

    from arvr_hybrid_vio.core.graph_step import eager_step
    if not inputs:
        raise BenchmarkError("network step: no recorded inputs (did the estimator track any frame?)")
    state, step = {"value": network.initial_state(1, device)}, eager_step(network)

    def one(index: int) -> None:
        tracks, inertial, context = inputs[index % len(inputs)]
        with torch.inference_mode():
            _, state["value"] = step(tracks, inertial, context, state["value"])
    return time_calls(one, iterations=iterations, warmup=warmup, synchronize=device_synchronizer(device))


def profile_steps(estimator: VioEstimator, sequence: SynthSequence, *, sync_config: SyncConfig,
                  top: int = 12) -> list[str]:
    """cProfile of a replay: the ``top`` functions by cumulative time, as text lines."""
    estimator.reset()
    profiler = cProfile.Profile()
    profiler.enable()
    replay(estimator, sequence, sync_config=sync_config, stamp_shift_ns=_later(sequence, 2))
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    return [line for line in text.getvalue().splitlines() if line.strip()]


def _later(sequence: SynthSequence, laps: int) -> int:
    """A stamp shift that places a replay ``laps`` sequence lengths later (no jump back)."""
    span = int(sequence.imu_stamps_ns[-1] - sequence.imu_stamps_ns[0]) + 1_000_000_000
    return laps * span


def estimator_from(model: str, config: EstimatorConfig) -> VioEstimator:
    """``VioEstimator.from_file`` (the node's path)."""
    return VioEstimator.from_file(model, config)


@dataclass(frozen=True)
class EstimatorBench:
    """Everything measured on the estimator and its network."""

    step_ms: np.ndarray  # estimator steps after warm-up
    imu_ms: np.ndarray  # propagate_imu calls after warm-up
    network_in_step_ms: np.ndarray  # the network's share of those steps (empty for imu-only)
    network_ms: np.ndarray  # the network step alone on recorded inputs (empty for imu-only)
    params_total: int  # network parameters (0 for imu-only)
    family: str  # model family or "imu-only"
    inputs: list[tuple[Any, Any, Any]]  # recorded network inputs (for other paths, e.g. CUDA graphs)
    paced_step_ms: np.ndarray  # (S,) VioEstimator.step in a real-time replay (empty if not run)
    paced_network_ms: np.ndarray  # (S,) the network's share of those steps
    paced_pose_max_diff_m: float  # largest |paced - timed| position (tracks on arrival change nothing: 0)
    positions: np.ndarray  # (P, 3) positions of the timed replay's poses (to compare paths)


def bench_estimator(estimator: VioEstimator, sequence: SynthSequence, *, sync_config: SyncConfig,
                    warmup: int, network_iterations: int, paced: bool = True) -> EstimatorBench:
    """Time the estimator (two replays: the first warms up, the second is timed) and its network.

    With ``paced``, a third replay runs at the sensors' real rate (it takes the sequence's
    duration), tracking each image on arrival as the node does: steps 33 ms apart find the weights
    out of the CPU caches, as in a live node, where back-to-back steps keep them warm.
    """
    network = network_of(estimator)
    replay(estimator, sequence, sync_config=sync_config)  # warm-up pass: allocations, caches, lazy imports
    times, probe = _probed_replay(estimator, sequence, sync_config=sync_config, laps=1, real_time=False)
    if len(times.step_ms) <= warmup:
        raise BenchmarkError(f"estimator step: only {len(times.step_ms)} tracked frames for a warm-up of "
                             f"{warmup}; use a longer sequence")
    in_step = np.asarray(probe.durations_ms[warmup:] if probe else [], dtype=np.float64)
    alone = np.asarray([], dtype=np.float64)
    if network is not None:
        alone = time_network_steps(network, probe.inputs, device=_device(network),
                                   warmup=max(warmup, network.config.window), iterations=network_iterations)
    skip_imu = int(round(warmup * len(times.imu_ms) / max(len(times.step_ms), 1)))
    paced_step, paced_network, paced_diff = np.asarray([]), np.asarray([]), float("nan")
    if paced:
        paced_times, paced_probe = _probed_replay(estimator, sequence, sync_config=sync_config, laps=2, real_time=True)
        paced_step = np.asarray(paced_times.step_ms[warmup:])
        paced_network = np.asarray(paced_probe.durations_ms[warmup:] if paced_probe else [])
        timed, replayed = np.asarray(times.positions), np.asarray(paced_times.positions)
        paced_diff = float(np.abs(timed - replayed).max()) if timed.shape == replayed.shape else float("inf")
    return EstimatorBench(
        step_ms=np.asarray(times.step_ms[warmup:]), imu_ms=np.asarray(times.imu_ms[skip_imu:]),
        network_in_step_ms=in_step, network_ms=alone,
        params_total=_parameter_count(network), family=getattr(estimator.source, "name", "unknown"),
        inputs=probe.inputs if probe is not None else [], positions=np.asarray(times.positions),
        paced_step_ms=paced_step, paced_network_ms=paced_network, paced_pose_max_diff_m=paced_diff)


def _probed_replay(estimator: VioEstimator, sequence: SynthSequence, *, sync_config: SyncConfig, laps: int,
                   real_time: bool) -> tuple[ReplayTimes, NetworkProbe | None]:
    """A replay of the reset estimator ``laps`` sequence lengths later, with the network's steps probed."""
    network = network_of(estimator)
    estimator.reset()
    probe = NetworkProbe(network, device_synchronizer(_device(network))) if network is not None else None
    try:
        times = replay(estimator, sequence, sync_config=sync_config, stamp_shift_ns=_later(sequence, laps),
                       real_time=real_time)
    finally:
        if probe is not None:
            probe.remove()
    return times, probe


def _device(network: Any) -> Any:
    """The network's device: an OnnxNetwork names its own ("cpu"), a torch module's is its weights'."""
    return getattr(network, "device", None) or next(network.parameters()).device


def _parameter_count(network: Any | None) -> int:
    if network is None:
        return 0
    if hasattr(network, "params_total"):  # OnnxNetwork: counted at export
        return int(network.params_total)
    from arvr_hybrid_vio.core.model.network import parameter_count
    return parameter_count(network)


def eval_speed(*, poses: int, seed: int = 0) -> tuple[float, int]:
    """Seconds for ``evaluate`` (associate, align, ATE, RPE, drift, KITTI) on ``poses`` poses at 200 Hz.

    Returns:
        (seconds, matched poses).
    """
    from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
    from arvr_hybrid_vio.core.timing import Stopwatch
    gt, est = synthetic_trajectories(poses=poses, seed=seed)
    with Stopwatch() as watch:
        report = evaluate(gt, est, EvalConfig())
    return watch.elapsed_s, len(report.association)


def synthetic_trajectories(*, poses: int, seed: int = 0) -> tuple[Any, Any]:
    """A smooth 200 Hz ground truth and a drifting, noisy estimate of it (Trajectory pair)."""
    from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz, so3_exp
    from arvr_hybrid_vio.core.trajectory import Trajectory
    rng = np.random.default_rng(seed)
    t_s = np.arange(poses) / 200.0
    stamps = 1_700_000_000_000_000_000 + np.arange(poses, dtype=np.int64) * 5_000_000
    positions = np.stack([np.sin(0.3 * t_s), np.cos(0.2 * t_s), 0.1 * np.sin(t_s)], axis=-1)
    quats = matrix_to_quat_wxyz(so3_exp(np.stack([0.1 * np.sin(t_s), 0.2 * np.cos(0.5 * t_s), 0.5 * t_s], -1)))
    noisy = positions + rng.normal(0.0, 0.005, positions.shape) + 1e-4 * t_s[:, None]
    return (Trajectory(stamps, positions, quats, source="synthetic ground truth"),
            Trajectory(stamps, noisy, quats, source="synthetic estimate"))


class AutocastStep(StepShadow):
    """Shadows ``network.step`` with the eager step under ``torch.autocast`` (fp16 or bf16 on CUDA).

    For the benchmark's half-precision check only: the estimator itself runs fp32 (or its CUDA graph).
    """

    def __init__(self, network: Any, dtype: Any) -> None:
        from arvr_hybrid_vio.core.graph_step import eager_step
        super().__init__(network)
        self.dtype = dtype
        self._eager = eager_step(network)
        network.step = self

    def __call__(self, tracks: Any, inertial: Any, context: Any, state: Any) -> Any:
        import torch
        with torch.autocast(device_type=tracks.device.type, dtype=self.dtype):
            out, new_state = self._eager(tracks, inertial, context, state)
        return type(out)(*[None if t is None else t.float() for t in out]), new_state


def bench_cuda_graph(network: Any, inputs: list[tuple[Any, Any, Any]], *, iterations: int) -> tuple[np.ndarray, Any]:
    """The network step replayed as a CUDA graph, timed, and checked against the eager fp32 step.

    Returns:
        ((iterations,) durations in ms, GraphCheck over 64 steps).
    """
    import torch

    from arvr_hybrid_vio.core.graph_step import GraphedStep, compare_with_eager, eager_step
    device, window, count = _device(network), network.config.window, len(inputs)
    state, step = network.initial_state(1, device), eager_step(network)
    with torch.inference_mode():
        for index in range(window):  # fill the Transformer cache: the state reaches its steady shape
            _, state = step(*inputs[index % count], state)
    graphed = GraphedStep(network, *inputs[window % count], state)
    check = compare_with_eager(network, graphed, [inputs[(window + i) % count] for i in range(64)], state)
    graphed.load_state(state)
    times = time_calls(lambda i: graphed.step(*inputs[i % count]), iterations=iterations, warmup=10,
                       synchronize=device_synchronizer(device))
    return times, check
