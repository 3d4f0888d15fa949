"""Real-time sensor streams through the VIO node over DDS, and what comes back (``arvr-vio-bench``).

From a :class:`~arvr_hybrid_vio.tools.bench_node.Session` this measures:

* end-to-end latency: from the moment a frame is complete on the wire (its image
  and the first IMU sample at or after its stamp have been published; the node cannot
  release a frame before) to the moment the node publishes its Odometry (same stamp; the
  DDS sample's source timestamp, taken by the node's publisher), and to the moment that
  Odometry arrives back here (adds the return hop and this process's executor);
  also from the image's own publication (adds the wait for that IMU sample);
* the node's own numbers from ``/diagnostics`` (receive -> publish, inference time);
* losses: messages published vs received by the node, the node's dropped counts,
  skipped frames, odometry and IMU-rate messages published vs received;
* the IMU-rate output frequency; and, in soak mode, the node's resident memory.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from arvr_hybrid_vio.core.synth.sequence import SynthSequence
from arvr_hybrid_vio.core.timing import BenchmarkError
from arvr_hybrid_vio.ros.conversions import arrays_to_imu, numpy_to_image
from arvr_hybrid_vio.tools.bench_estimator import EVENT_IMAGE, sensor_events
from arvr_hybrid_vio.tools.bench_node import SETTLE_S, SKIPPED_KEYS, BenchClient, Session


@dataclass(frozen=True)
class Published:
    """When each message of a stream went out (wall-clock seconds, the clock of DDS source timestamps)."""

    image_stamps_ns: np.ndarray  # (F,) int64
    image_times: np.ndarray  # (F,) publish times
    imu_stamps_ns: np.ndarray  # (M,) int64
    imu_times: np.ndarray  # (M,) publish times
    wall_s: float  # first to last publication

    def frame_complete_times(self) -> np.ndarray:
        """(F,) when each frame could first be released: its image and the next IMU sample are out."""
        index = np.searchsorted(self.imu_stamps_ns, self.image_stamps_ns, side="left")
        after = self.imu_times[np.minimum(index, len(self.imu_times) - 1)]
        after = np.where(index < len(self.imu_times), after, np.inf)
        return np.maximum(self.image_times, after)


def _messages(sequence: SynthSequence, shift_ns: int) -> list[tuple[int, int, Any]]:
    """(kind, stamp_ns, message) in delivery order, built before the clock starts."""
    out = []
    for stamp_ns, kind, index in sensor_events(sequence):
        stamp_ns += shift_ns
        if kind == EVENT_IMAGE:
            msg = numpy_to_image(sequence.images[index], "mono8", stamp_ns=stamp_ns, frame_id="cam0")
        else:
            msg = arrays_to_imu(stamp_ns, sequence.gyro[index], sequence.accel[index], frame_id="imu0")
        out.append((kind, stamp_ns, msg))
    return out


def publish_stream(client: BenchClient, sequence: SynthSequence, *, shift_ns: int) -> Published:
    """Publish every image and IMU sample at its stamp's pace (real time), recording when each went out."""
    messages = _messages(sequence, shift_ns)
    first_ns = messages[0][1]
    start = time.monotonic() + 0.05  # paced on the monotonic clock, stamped on the wall clock
    stamps: dict[int, list[int]] = {EVENT_IMAGE: [], 1 - EVENT_IMAGE: []}
    times: dict[int, list[float]] = {EVENT_IMAGE: [], 1 - EVENT_IMAGE: []}
    for kind, stamp_ns, msg in messages:
        delay = start + (stamp_ns - first_ns) * 1e-9 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        times[kind].append(time.time())
        (client.image_pub if kind == EVENT_IMAGE else client.imu_pub).publish(msg)
        stamps[kind].append(stamp_ns)
    imu = 1 - EVENT_IMAGE
    all_times = times[EVENT_IMAGE] + times[imu]
    return Published(np.asarray(stamps[EVENT_IMAGE], dtype=np.int64), np.asarray(times[EVENT_IMAGE]),
                     np.asarray(stamps[imu], dtype=np.int64), np.asarray(times[imu]),
                     float(max(all_times) - min(all_times)))


@dataclass(frozen=True)
class StreamRun:
    """One real-time stream through the node and what came back."""

    name: str  # e.g. "30 Hz camera + 200 Hz IMU"
    published: Published
    e2e_ms: np.ndarray  # frame complete -> odometry published by the node (its DDS source timestamp)
    e2e_received_ms: np.ndarray  # frame complete -> odometry received here (adds the return hop)
    e2e_from_image_ms: np.ndarray  # image published -> odometry published
    e2e_times_s: np.ndarray  # publish time of each of those frames, from the first one
    odometry_received: int
    imu_rate_received: int
    imu_rate_output_hz: float  # IMU-rate odometry messages per second (receive clock)
    imu_rate_latency_ms: np.ndarray  # IMU sample published -> its IMU-rate odometry received
    losses: dict[str, int]  # every kind of loss; all zero = no drops
    node_counted_missing: int  # what the node itself counted as lost upstream (not added to drops)
    node_values: dict[str, float]  # the node's diagnostics after the run (latencies, counters)

    @property
    def drops(self) -> int:
        """Sum of all losses."""
        return int(sum(self.losses.values()))

    @property
    def e2e_growth_ms_per_s(self) -> float:
        """Slope of the end-to-end latency over the run (about 0 when the node keeps up)."""
        if self.e2e_ms.size < 2:
            return 0.0
        return float(np.polyfit(self.e2e_times_s, self.e2e_ms, 1)[0])

    @property
    def image_rate_hz(self) -> float:
        """Images published per second."""
        return _rate(self.published.image_times)

    @property
    def imu_rate_hz(self) -> float:
        """IMU samples published per second."""
        return _rate(self.published.imu_times)


def _imu_rate_latency_ms(published: Published, imu_rate: list[tuple[int, float]]) -> np.ndarray:
    """Per IMU-rate odometry: receive time minus the publish time of the IMU sample of its stamp."""
    publish_time = dict(zip(published.imu_stamps_ns.tolist(), published.imu_times.tolist()))
    return np.asarray([(received - publish_time[stamp]) * 1e3 for stamp, received in imu_rate
                       if stamp in publish_time], dtype=np.float64)


def _rate(times: np.ndarray) -> float:
    return float((len(times) - 1) / max(np.ptp(times), 1e-9)) if len(times) > 1 else 0.0


def _number(values: dict[str, str], key: str) -> float:
    try:
        return float(values[key])
    except (KeyError, ValueError) as exc:
        raise BenchmarkError(f"/diagnostics of arvr-vio-node has no numeric '{key}'") from exc


def _wait_settled(session: Session, *, timeout_s: float) -> None:
    """Until the node has taken in everything and published nothing new for SETTLE_S (or the timeout).

    Settled = two diagnostics SETTLE_S apart show the same input counts and no odometry arrived
    in between, so a backlog still being worked off never spills into the next run.
    """
    deadline = time.monotonic() + timeout_s
    inbox = session.client.inbox
    while time.monotonic() < deadline:
        before = session.fresh_diagnostics(after=time.monotonic())
        outputs = len(inbox.odometry) + len(inbox.imu_rate)
        time.sleep(SETTLE_S)
        after = session.fresh_diagnostics(after=time.monotonic())
        if outputs == len(inbox.odometry) + len(inbox.imu_rate) and all(
                before.get(key) == after.get(key) for key in ("images_received", "imu_received", "pending_frames")):
            return


def run_stream(session: Session, sequence: SynthSequence, *, name: str, shift_ns: int) -> StreamRun:
    """Reset the node, stream ``sequence`` in real time, wait for the node to finish, and measure."""
    session.reset_node()
    inbox = session.client.inbox
    before = session.fresh_diagnostics(after=time.monotonic())
    imu_rate_start = len(inbox.imu_rate)
    published = publish_stream(session.client, sequence, shift_ns=shift_ns)
    _wait_settled(session, timeout_s=30.0 + published.wall_s)
    after = session.fresh_diagnostics(after=time.monotonic())
    answers = np.array([inbox.odometry.get(int(s), (np.nan, np.nan)) for s in published.image_stamps_ns])
    received, sent = answers[:, 0], answers[:, 1]
    got = np.isfinite(received)
    imu_rate = inbox.imu_rate[imu_rate_start:]
    imu_times = np.array([t for _, t in imu_rate])
    complete = published.frame_complete_times()[got]
    return StreamRun(
        name=name, published=published,
        e2e_ms=(sent[got] - complete) * 1e3, e2e_received_ms=(received[got] - complete) * 1e3,
        e2e_from_image_ms=(sent[got] - published.image_times[got]) * 1e3,
        e2e_times_s=published.image_times[got] - published.image_times[0],
        odometry_received=int(got.sum()), imu_rate_received=len(imu_rate), imu_rate_output_hz=_rate(imu_times),
        imu_rate_latency_ms=_imu_rate_latency_ms(published, imu_rate),
        losses=_losses(published, before, after, odometry_received=int(got.sum()), imu_rate_received=len(imu_rate)),
        node_counted_missing=node_counted_missing(before, after),
        node_values={key: _number(after, key) for key in (
            "e2e_latency_ms_p50", "e2e_latency_ms_p99", "inference_ms_p50", "inference_ms_p99", "pending_frames")})


def _losses(published: Published, before: dict[str, str], after: dict[str, str], *, odometry_received: int,
            imu_rate_received: int) -> dict[str, int]:
    """Every way a message can be lost between the bench, the node and back (deltas over the run).

    The node's own gap-based estimates (``sync.imu_samples_missing``, ``sync.camera_frames_missing``)
    count messages lost before it -- the transport losses already here -- so they are left out of
    ``node_dropped`` and reported apart by ``node_counted_missing``.
    """
    def delta(key: str) -> int:
        return int(round(_number(after, key) - _number(before, key)))
    missing = delta("sync.imu_samples_missing") + delta("sync.camera_frames_missing")
    return {
        "images_lost_in_transport": len(published.image_times) - delta("images_received"),
        "imu_lost_in_transport": len(published.imu_times) - delta("imu_received"),
        "node_dropped": delta("dropped_total") - missing,
        "frames_skipped_by_estimator": sum(delta(key) for key in SKIPPED_KEYS),
        "frames_released_not_stepped": delta("sync.frames_out") - delta("estimator.frames"),
        "frames_tracked_not_published": delta("estimator.frames_tracked") - delta("odometry_published"),
        "odometry_lost_in_transport": delta("odometry_published") - odometry_received,
        "imu_rate_lost_in_transport": delta("imu_rate_published") - imu_rate_received,
    }


def node_counted_missing(before: dict[str, str], after: dict[str, str]) -> int:
    """Messages the node believes lost upstream (from gaps in the stamps), over a run."""
    return int(round(sum(_number(after, key) - _number(before, key)
                         for key in ("sync.imu_samples_missing", "sync.camera_frames_missing"))))


def _concatenate(laps: list[Published]) -> Published:
    return Published(np.concatenate([p.image_stamps_ns for p in laps]), np.concatenate([p.image_times for p in laps]),
                     np.concatenate([p.imu_stamps_ns for p in laps]), np.concatenate([p.imu_times for p in laps]),
                     float(sum(p.wall_s for p in laps)))


def soak(session: Session, sequence: SynthSequence, *, minutes: float, first_shift_ns: int) -> dict[str, Any]:
    """Replay ``sequence`` back to back (stamps continuing) for ``minutes``; the node's memory over time.

    The first lap is a warm-up; the growth and slope are from its end on. The node's
    ``/vio/path`` legitimately grows up to ``vio.path_max_poses`` (3000 poses 0.1 s apart:
    5 min), so the slope over the last third of a 10-minute soak is the leak test.
    """
    from arvr_hybrid_vio.core.timing import memory_slope_mb_per_min
    lap_ns = int(sequence.imu_stamps_ns[-1] - sequence.imu_stamps_ns[0]) + 5_000_000
    session.reset_node()
    inbox = session.client.inbox
    before = session.fresh_diagnostics(after=time.monotonic())
    odometry_start, imu_rate_start = len(inbox.odometry), len(inbox.imu_rate)
    started, times, rss, laps = time.monotonic(), [], [], []
    while time.monotonic() - started < minutes * 60.0 or len(laps) < 3:
        laps.append(publish_stream(session.client, sequence, shift_ns=first_shift_ns + len(laps) * lap_ns))
        times.append(time.monotonic() - started)
        rss.append(session.node.rss_bytes())
    _wait_settled(session, timeout_s=30.0)
    after, tail = session.fresh_diagnostics(after=time.monotonic()), min(2 * len(rss) // 3, len(rss) - 2)
    losses = _losses(_concatenate(laps), before, after, odometry_received=len(inbox.odometry) - odometry_start,
                     imu_rate_received=len(inbox.imu_rate) - imu_rate_start)
    return {"soak_minutes": (time.monotonic() - started) / 60.0, "soak_laps": len(laps),
            "soak_drops": sum(losses.values()), "soak_losses": losses,
            "soak_node_counted_missing": node_counted_missing(before, after),
            "soak_rss_start_mb": rss[0] / 2**20, "soak_rss_end_mb": rss[-1] / 2**20,
            "soak_rss_growth_mb": (rss[-1] - rss[0]) / 2**20,
            "soak_rss_slope_mb_per_min": memory_slope_mb_per_min(np.array(times[1:]), np.array(rss[1:])),
            "soak_rss_slope_last_third_mb_per_min": memory_slope_mb_per_min(
                np.array(times[tail:]), np.array(rss[tail:])),
            "soak_rss_series_mb": [round(value / 2**20, 2) for value in rss],
            "soak_series_minutes": [round(value / 60.0, 3) for value in times]}
