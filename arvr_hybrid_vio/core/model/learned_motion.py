"""The estimator's learned motion source: features -> network step (cached state) -> relative motion.

The network's velocity is a measurement, not the state: the estimator fuses it (variance from
the network's own log-variance) with the velocity the IMU propagated from the previous frame
and with the camera's window velocity. The network never sees the estimator's velocity,
so its errors cannot feed back into its inputs.

The network's inputs do not depend on its outputs either: the gravity direction they carry
comes from an attitude of their own, the gyro integrated from the estimator's orientation
at the start and pulled towards the accelerometer's vertical in calm intervals, without the
network's rotation corrections. So when the frames that follow are known (offline replay),
the network runs over up to ``LOOKAHEAD_FRAMES`` of them in one pass (``VioNetwork.run``)
and the results are served frame by frame: the same numbers as one step per frame, to float
round-off, at a fraction of the cost (the weights are read once per chunk, not per frame).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arvr_hybrid_vio.core.devices import check_device
from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.geometry import nearest_rotation, so3_exp
from arvr_hybrid_vio.core.model.camera_input import CameraModel
from arvr_hybrid_vio.core.model.front_end import FrameView, VisualFrontEnd
from arvr_hybrid_vio.core.model.inputs import inertial_inputs
from arvr_hybrid_vio.core.model.motion_source import LOOKAHEAD_FRAMES, RelativeMotion
from arvr_hybrid_vio.core.strapdown import (
    NavState, Preintegration, SpecificForceMean, displacement_at_rest, gated_tilt_corrected, gravity_body, preintegrate,
)
from arvr_hybrid_vio.core.types import SyncedFrame

LOGGER = logging.getLogger(__name__)
NETWORK_RUNTIMES = ("auto", "torch", "onnxruntime")  # estimator.network_runtime
# present wherever an NVIDIA driver is loaded: without it torch cannot see CUDA either, so device auto is the CPU
NVIDIA_DRIVER = "/proc/driver/nvidia/version"
# The frames' period is judged over this many frames; beyond OFF_RATE_RATIO times the span of the rates the network
# was trained at (ModelConfig.trained_frame_rates_hz), either way, it is less accurate (2026-11-29, models trained at
# 30 Hz only, flow per 1/30 s, mean ATE over eight procedural sequences, measure 21: the hybrid's 4.50 cm at 30 Hz,
# 13.52 at 15 Hz, 10.68 at 20 Hz, 9.33 at 40 Hz; the Multi-Head's 7.29, 18.60, 15.63 and 20.49; README, "Camera
# rate"). 60 and 90 Hz cameras reach the estimator at 30 Hz, thinned by the SyncBuffer (sync.target_frame_rate_hz)
RATE_CHECK_FRAMES = 30
OFF_RATE_RATIO = 1.25


@dataclass(frozen=True)
class InputState:
    """What the network's inputs carry from one frame to the next."""

    reference: FrameView | None  # the previous frame as the network sees it (tracks start there)
    # (3, 3) R_world_body the inputs' gravity direction comes from; None until the first step takes
    # the estimator's orientation
    attitude: np.ndarray | None
    # the specific force's mean along that attitude, for the tilt pull's lean gate
    force_mean: SpecificForceMean = SpecificForceMean()


@dataclass(frozen=True)
class StepInputs:
    """One frame's network inputs (float32)."""

    tracks: np.ndarray  # (N, TRACK_CHANNELS)
    inertial: np.ndarray  # (INERTIAL_DIM,)
    context: np.ndarray  # (3,) motion magnitude, mean |gyro|, mean | |accel| - g |


@dataclass
class FramesAhead:
    """Network results of frames evaluated in one pass, served in order while the caller's frames match."""

    frames: list[SyncedFrame]  # evaluated frames, compared by identity
    inputs: list[StepInputs]  # their inputs
    preintegrations: list[Preintegration]  # their IMU preintegrations (the estimator reuses them)
    input_states: list[InputState]  # the input state after each
    outputs: list[tuple[np.ndarray, ...]]  # velocity, dtheta, translation logvar, rotation logvar, weights
    state_before: dict  # network state before the first frame
    state_after: dict  # network state after the last frame
    served: int = 0  # frames handed out so far


def resolve_device(device: str) -> Any:
    """``auto`` -> CUDA when available, else CPU, as a ``torch.device``.

    Raises:
        ConfigError: an unknown name, or ``cuda`` without a CUDA device.
    """
    import torch
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but torch sees no CUDA device; use 'auto' or 'cpu'")
    check_device(device)
    return torch.device(device)


def network_runtime(runtime: str, device: str) -> str:
    """The runtime a network runs on: ``torch`` or ``onnxruntime`` (on the CPU only).

    ``auto`` is onnxruntime where ``device`` resolves to the CPU and torch on CUDA; device ``auto``
    is the CPU without asking torch where no NVIDIA driver is loaded (torch would not see CUDA either).

    Raises:
        ConfigError: an unknown runtime or device, or onnxruntime with device cuda.
    """
    if runtime not in NETWORK_RUNTIMES:
        raise ConfigError(f"estimator.network_runtime must be one of {NETWORK_RUNTIMES}, got {runtime!r}")
    check_device(device)
    if runtime == "onnxruntime" and device == "cuda":
        raise ConfigError("estimator.network_runtime 'onnxruntime' runs on the CPU; with estimator.device 'cuda' "
                          "use 'torch' (CUDA graphs) or 'auto'")
    if runtime != "auto":
        return runtime
    if device == "auto" and Path(NVIDIA_DRIVER).exists():
        device = resolve_device("auto").type
    return "onnxruntime" if device in ("auto", "cpu") else "torch"


class _TorchArrays:
    """How the estimator's numpy inputs reach a torch network on ``device``, and its outputs come back."""

    def __init__(self, device: Any) -> None:
        import torch
        self._torch, self._device = torch, device

    def batch(self, stacked: np.ndarray) -> Any:
        """(T, ...) -> (1, T, ...) on the device."""
        return self._torch.from_numpy(stacked)[None].to(self._device)

    def numpy(self, value: Any) -> np.ndarray:
        """(1, T, ...) -> (T, ...) float64 on the CPU."""
        return value[0].double().cpu().numpy()

    def scope(self) -> Any:
        return self._torch.inference_mode()


class _NumpyArrays:
    """The same for a network that takes numpy arrays (``core.model.onnx_network.OnnxNetwork``)."""

    @staticmethod
    def batch(stacked: np.ndarray) -> np.ndarray:
        return stacked[None]

    @staticmethod
    def numpy(value: np.ndarray) -> np.ndarray:
        return value[0].astype(np.float64)

    @staticmethod
    def scope() -> Any:
        return contextlib.nullcontext()


class LearnedMotion:
    """Relative motion from a trained network, one streaming step per frame: a ``VioNetwork`` on torch,
    or its ONNX export on onnxruntime (``OnnxNetwork``, same interface on numpy arrays)."""

    def __init__(self, network: Any, *, device: Any, gravity_m_s2: float,
                 tilt_correction_per_s: float = 0.2, tilt_gate_deg: float = 0.0,
                 measurement_scale: float = 1.0) -> None:
        """Wrap an eval-mode network already on ``device`` (a ``torch.device``; ``"cpu"`` for an ``OnnxNetwork``).

        Args:
            tilt_correction_per_s: rate (1/s) at which roll and pitch are pulled towards the
                accelerometer's gravity direction in calm intervals; 0 disables it.
            tilt_gate_deg: the pull is skipped while the specific force's 1 s mean leans more than
                this from the vertical (sustained acceleration), deg; 0: never skipped.
            measurement_scale: multiplies the network's velocity variance in the update.
        """
        self.network = network.eval()
        self.device = device
        self.runtime = getattr(network, "runtime", "torch")  # OnnxNetwork names itself
        self._arrays = _NumpyArrays() if self.runtime == "onnxruntime" else _TorchArrays(device)
        self.gravity_m_s2 = gravity_m_s2
        self.tilt_correction_per_s = tilt_correction_per_s
        self.tilt_gate_deg = tilt_gate_deg
        self.measurement_scale = measurement_scale
        self.name = network.config.family
        self.measures_velocity = True  # the network's velocity
        self.front_end = VisualFrontEnd(network.config)
        self.graph_step: Any = None  # core.graph_step.GraphBackedStep on network.step (CUDA), else None
        self._weights: np.ndarray | None = None
        self._frame_periods_s: list[float] | None = []  # the first RATE_CHECK_FRAMES periods, None once judged
        self.reset()

    @classmethod
    def from_file(cls, path: Path, *, device: str, torch_threads: int, gravity_m_s2: float,
                  cuda_graph: bool = False, runtime: str = "torch", onnx_cache_dir: str = "",
                  **options: float) -> LearnedMotion:
        """Load a model file (see ``core.model_io``) onto the resolved device.

        With ``cuda_graph`` on a CUDA device, the network's streaming step is replayed as a CUDA
        graph once its state is steady (``core.graph_step.GraphBackedStep``; eager if capture fails).
        With ``runtime`` ``onnxruntime`` the network runs on onnxruntime on the CPU (device auto or
        cpu), torch is not imported once its graphs are cached (``core.model.onnx_network``), and
        ``torch_threads`` sets onnxruntime's threads. ``auto``: onnxruntime where the device is the CPU,
        torch on CUDA (see ``network_runtime``).

        Raises:
            ConfigError: an unknown runtime or device, or onnxruntime asked for on a CUDA device.
        """
        runtime = network_runtime(runtime, device)
        if runtime == "onnxruntime":
            return cls._from_onnx(path, threads=torch_threads, cache_dir=onnx_cache_dir, gravity_m_s2=gravity_m_s2,
                                  **options)
        import torch

        from arvr_hybrid_vio.core.model_io import load_model
        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
        resolved = resolve_device(device)
        network, _ = load_model(path, device=resolved)
        LOGGER.info("loaded %s model %s on %s", network.config.family, path, resolved)
        motion = cls(network, device=resolved, gravity_m_s2=gravity_m_s2, **options)
        if cuda_graph and resolved.type == "cuda":
            from arvr_hybrid_vio.core.graph_step import GraphBackedStep
            motion.graph_step = GraphBackedStep.install(network)
        return motion

    @classmethod
    def _from_onnx(cls, path: Path, *, threads: int, cache_dir: str, gravity_m_s2: float,
                   **options: float) -> LearnedMotion:
        from arvr_hybrid_vio.core.model.onnx_network import OnnxNetwork
        network = OnnxNetwork.from_file(path, threads=threads, cache_dir=cache_dir or None)
        return cls(network, device=OnnxNetwork.device, gravity_m_s2=gravity_m_s2, **options)

    def reset(self) -> None:
        """Empty the network's temporal state and forget the reference image and the input attitude."""
        self._state = self.network.initial_state(1, self.device)
        self._inputs = InputState(None, None)
        self._ahead: FramesAhead | None = None
        self._weights = None
        self._network_velocity: tuple[np.ndarray, np.ndarray] | None = None
        self._force_mean = SpecificForceMean()  # along the estimator's attitude (relative_motion)

    @property
    def rig_camera(self) -> CameraModel | None:
        """The rig camera set with ``set_camera`` (None: the training camera's field of view)."""
        return self.front_end.rig_camera

    def set_camera(self, camera: CameraModel | None) -> None:
        """The rig's camera (intrinsics, distortion, mount); None assumes the training camera's
        field of view and mount at whatever size the images have."""
        self.front_end.set_camera(camera)

    def prepare_image(self, stamp_ns: int, image: np.ndarray) -> None:
        """Track features from the reference frame into an image whose frame still waits for its IMU
        (live); the frame's step then takes them (``VisualFrontEnd.offer``). Nothing before the first
        frame, or for an image not after the reference."""
        reference = self._inputs.reference
        if reference is None or int(stamp_ns) <= reference.stamp_ns:
            return
        self.front_end.offer(self.front_end.track_ahead(reference, self.front_end.view_image(stamp_ns, image)))

    def prepare_reference(self) -> None:
        """Find the corners to track out of the reference frame now (live: once its pose is out), so that
        ``prepare_image`` on the next image only tracks them (``VisualFrontEnd.prepare_corners``)."""
        if self._inputs.reference is not None:
            self.front_end.prepare_corners(self._inputs.reference)

    @property
    def network_path(self) -> str:
        """How the network steps: ``cpu``, ``cpu onnxruntime``, ``cuda eager``, ``cuda graph`` or ``cuda eager
        (graph capture failed: ...)`` (for diagnostics)."""
        if self.runtime == "onnxruntime":
            return "cpu onnxruntime"
        if self.device.type != "cuda":
            return self.device.type
        if self.graph_step is None:
            return "cuda eager"
        if self.graph_step.capture_error is not None:
            return f"cuda eager (graph capture failed: {self.graph_step.capture_error})"
        return "cuda graph"

    @property
    def counters(self) -> dict[str, int]:
        """How the feature tracks came about (``FrontEndCounters``)."""
        return dataclasses.asdict(self.front_end.counters)

    def start(self, frame: SyncedFrame) -> None:
        """The first tracked frame's image is the reference for the next step's tracks."""
        self._inputs = dataclasses.replace(self._inputs, reference=self.front_end.view(frame))

    def relative_motion(self, frame: SyncedFrame, state: NavState, pre: Preintegration,
                        upcoming: Sequence[SyncedFrame] = (), *,
                        acceleration_xyz: np.ndarray | None = None) -> RelativeMotion:
        """Network step on this frame's tracks and IMU, decoded into a relative motion.

        ``upcoming`` (the frames expected next, in order) lets the network run over them in one pass.
        ``acceleration_xyz`` (the estimator's) goes into the estimator orientation's accelerometer pull only:
        the network inputs' own attitude track stays open loop.
        """
        if self._inputs.attitude is None:
            self._inputs = dataclasses.replace(self._inputs, attitude=state.rotation)
        if self._frame_periods_s is not None:
            self._check_camera_rate(pre.dt_s)
        served = self._serve_ahead(frame)
        if served is None:
            self._drop_ahead()
            served = self._evaluate(frame, pre, upcoming)
        velocity, dtheta, translation_logvar, rotation_logvar, weights = served
        self._weights = weights
        translation_var = np.exp(translation_logvar)
        dt_s = max(pre.dt_s, 1e-3)
        self._network_velocity = (velocity, np.sqrt(translation_var) / dt_s)
        delta_rotation, self._force_mean = self._tilt_corrected(state.rotation, pre,
                                                                pre.delta_rotation @ so3_exp(dtheta), self._force_mean,
                                                                acceleration_xyz=acceleration_xyz)
        # the displacement at rest along the estimator's orientation (levelled by the window), not the
        # network inputs' own attitude track: during jumps that track's tilt drifts and its gravity leaks
        # into the position (docs/accuracy_history.md, "The displacement at rest"); the network's inputs keep their track
        at_rest = displacement_at_rest(state.rotation, pre, gravity_m_s2=self.gravity_m_s2)
        return RelativeMotion(delta_rotation, at_rest, np.exp(rotation_logvar), velocity_body=velocity,
                              velocity_var=self.measurement_scale * float(np.mean(translation_var)) / dt_s ** 2)

    def _check_camera_rate(self, period_s: float) -> None:
        """Once ``RATE_CHECK_FRAMES`` frame periods are seen: warn when their median's rate is more than
        ``OFF_RATE_RATIO`` outside the span of the rates the network was trained at, either way."""
        self._frame_periods_s.append(period_s)
        if len(self._frame_periods_s) < RATE_CHECK_FRAMES:
            return
        period_s, self._frame_periods_s = float(np.median(self._frame_periods_s)), None
        trained_hz = self.network.config.trained_frame_rates_hz
        low_hz, high_hz = min(trained_hz) / OFF_RATE_RATIO, max(trained_hz) * OFF_RATE_RATIO
        if not low_hz <= 1.0 / period_s <= high_hz:
            LOGGER.warning("frames reach the network at %.1f Hz; it was trained at %s Hz, and below about %.0f Hz or "
                           "above about %.1f Hz it is less accurate, up to several times (README, \"Camera rate\")",
                           1.0 / period_s, " / ".join(f"{rate:g}" for rate in trained_hz), low_hz, high_hz)

    def _step_inputs(self, frame: SyncedFrame, pre: Preintegration,
                     before: InputState) -> tuple[StepInputs, InputState]:
        """The frame's network inputs and the input state after it (no network involved)."""
        inertial = inertial_inputs(frame.imu_stamps_ns, frame.gyro_rad_s, frame.accel_m_s2,
                                   gravity_body(before.attitude), gravity_m_s2=self.gravity_m_s2, pre=pre)
        view = self.front_end.view(frame)
        tracks = self.network.config.network_tracks(
            self.front_end.tracks(view if before.reference is None else before.reference, view),
            pre.delta_rotation, pre.dt_s)
        features = inertial.features
        context = np.array([inertial.motion_magnitude, features[-2], features[-1]], dtype=np.float32)
        delta_rotation, force_mean = self._tilt_corrected(before.attitude, pre, pre.delta_rotation, before.force_mean)
        attitude = nearest_rotation(before.attitude @ delta_rotation)
        return (StepInputs(tracks, features.astype(np.float32), context),
                InputState(view, attitude, force_mean))

    def _evaluate(self, frame: SyncedFrame, pre: Preintegration,
                  upcoming: Sequence[SyncedFrame]) -> tuple[np.ndarray, ...]:
        """Run the network on ``frame`` and, in the same pass, on the plausible frames of ``upcoming``."""
        frames = [frame]
        for following in upcoming[:LOOKAHEAD_FRAMES - 1]:
            if following.frame_index == 0 or not following.is_usable():
                break  # the estimator restarts or skips there
            frames.append(following)
        state = self._inputs
        pres = [pre] + [preintegrate(f.imu_stamps_ns, f.gyro_rad_s, f.accel_m_s2) for f in frames[1:]]
        inputs, input_states = [], []
        for current, current_pre in zip(frames, pres):
            step_inputs, state = self._step_inputs(current, current_pre, state)
            inputs.append(step_inputs)
            input_states.append(state)
        state_before = self._state
        outputs, state_after = self._run_network(inputs, state_before)
        self._ahead = FramesAhead(frames, inputs, pres, input_states, outputs, state_before, state_after)
        return self._take_ahead()

    def preintegration_ahead(self, frame: SyncedFrame) -> Preintegration | None:
        """The preintegration of ``frame`` when it is the next frame evaluated ahead, else None."""
        return None if not self._is_next_ahead(frame) else self._ahead.preintegrations[self._ahead.served]

    def _is_next_ahead(self, frame: SyncedFrame) -> bool:
        """``frame`` is the next frame evaluated ahead (compared by identity)."""
        return self._ahead is not None and self._ahead.frames[self._ahead.served] is frame

    def _run_network(self, inputs: list[StepInputs], state: dict) -> tuple[list[tuple[np.ndarray, ...]], dict]:
        """The network over consecutive frames from ``state``: one ``step`` for one frame, else ``run``."""
        arrays = self._arrays

        def batch(name: str) -> Any:  # (1, T, ...) on the device
            return arrays.batch(np.stack([getattr(x, name) for x in inputs]))

        with arrays.scope():
            if len(inputs) == 1:
                out, state = self.network.step(batch("tracks")[:, 0], batch("inertial")[:, 0],
                                               batch("context")[:, 0], state)
                out = type(out)(*[None if t is None else t[:, None] for t in out])  # (1, 1, ...)
            else:
                out, state = self.network.run(batch("tracks"), batch("inertial"), batch("context"), state)
        values = [None if t is None else arrays.numpy(t) for t in out]  # each (T, 3)
        return [tuple(None if v is None else v[index] for v in values) for index in range(len(inputs))], state

    def _serve_ahead(self, frame: SyncedFrame) -> tuple[np.ndarray, ...] | None:
        """The precomputed result when ``frame`` is the next frame evaluated ahead, else None."""
        return self._take_ahead() if self._is_next_ahead(frame) else None

    def _take_ahead(self) -> tuple[np.ndarray, ...]:
        """Hand out the next frame evaluated ahead: its network outputs."""
        ahead = self._ahead
        index = ahead.served
        ahead.served += 1
        self._inputs = ahead.input_states[index]
        if ahead.served == len(ahead.frames):
            self._state, self._ahead = ahead.state_after, None
        return ahead.outputs[index]

    def _drop_ahead(self) -> None:
        """Forget frames evaluated ahead that were not served (a frame was skipped or replaced); the
        network state is rebuilt over the ones that were."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.served:
            self._state = self._run_network(ahead.inputs[:ahead.served], ahead.state_before)[1]

    def _tilt_corrected(self, rotation: np.ndarray, pre: Preintegration, delta_rotation: np.ndarray,
                        force_mean: SpecificForceMean, *,
                        acceleration_xyz: np.ndarray | None = None) -> tuple[np.ndarray, SpecificForceMean]:
        """Roll/pitch nudged towards the accelerometer in calm intervals, behind the lean gate of the
        attitude track whose mean is ``force_mean`` (``core.strapdown.gated_tilt_corrected``)."""
        return gated_tilt_corrected(rotation, pre, delta_rotation, force_mean, rate_per_s=self.tilt_correction_per_s,
                                    max_lean_deg=self.tilt_gate_deg, gravity_m_s2=self.gravity_m_s2,
                                    acceleration_xyz=acceleration_xyz)

    @property
    def network_velocity(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The last step's network output before fusion: body-frame velocity at the interval start
        (3,) m/s and its std (3,) m/s; None before the first step (for diagnostics)."""
        return self._network_velocity

    @property
    def fusion_weights(self) -> np.ndarray | None:
        """(3,) LSTM/Transformer/multi-scale weights of the last step (hybrid), else None."""
        return self._weights
