"""arvr-vio-infer: run the streaming estimator over a bag and write the body trajectory as TUM.

    arvr-vio-infer BAG --model models/hybrid.safetensors|imu-only --out EST.tum
                   [--image-topic /cam0/image_raw] [--imu-topic /imu0] [--accel-topic TOPIC]
                   [--device auto|cpu|cuda] [--config config/vio_synthetic.yaml]

Messages are pushed in log-time order into the same ``SyncBuffer`` the node uses and every
synced frame goes through the same ``VioEstimator``, so the poses equal the node's (to float
round-off: offline, the estimator is handed the next frames and runs the network over them in
one pass, see ``core.training.replay.run_estimator``). The bag is decoded, and each frame pair's
features tracked (``core.model.front_end.tracks_ahead``), in a reader process beside this one
(``io.reader_process``); the estimator uses those tracks where they match, which gives the same poses.
When the estimator is about to wait for the reader, the reader leaves the next frame's network tracks
to it (``LEAVE_TRACKS_BELOW``), so the two processes share the tracking.
That process also checks the bag's topics and reads its camera calibration first, so this one goes
straight to importing torch.
A gyro and an accelerometer on two topics (``--accel-topic``) are joined as the node joins them
(``core.imu_join``). Stamps are the message header stamps. ``--config`` reads the ``sync``, ``estimator`` and
``vio`` sections of a ROS parameter file (defaults otherwise); the camera calibration comes,
as in the node, from the bag's CameraInfo on ``vio.camera_info_topic`` or the ``vio.camera_*``
parameters.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from arvr_hybrid_vio.core.collector import collector_paused
from arvr_hybrid_vio.core.devices import DEVICES
from arvr_hybrid_vio.core.errors import VioError
from arvr_hybrid_vio.core.estimator import IMU_ONLY, EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.feature_tracker import TrackedFrame, TrackerConfig, tracked_ahead
from arvr_hybrid_vio.core.imu_join import ImuJoiner
from arvr_hybrid_vio.core.model.front_end import TracksAhead, VisualFrontEnd, tracks_ahead
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.onnx_network import CHUNK_FRAMES
from arvr_hybrid_vio.core.model_header import read_config
from arvr_hybrid_vio.core.sync_buffer import SyncBuffer, SyncConfig
from arvr_hybrid_vio.core.trajectory import write_tum
from arvr_hybrid_vio.core.training.replay import run_estimator
from arvr_hybrid_vio.core.types import SyncedFrame
from arvr_hybrid_vio.io.bags import BagError, open_bag, read_messages, reader_topic_types, resolve_bag_path
from arvr_hybrid_vio.io.image_messages import IMAGE_TYPES, compressed_topic, grey_image
from arvr_hybrid_vio.io.imu_messages import imu_sample
from arvr_hybrid_vio.io.reader_process import ReaderProcess
from arvr_hybrid_vio.nodes.vio_node_config import CameraInfoValues, VioNodeConfig, load_node_configs

if TYPE_CHECKING:
    from rosbags.highlevel import AnyReader

    from arvr_hybrid_vio.core.model.camera_input import CameraModel

LOGGER = logging.getLogger("arvr_vio_infer")
IMU_TYPE = "sensor_msgs/msg/Imu"
# Synced frames the bag reader process may decode ahead (at 640x480 mono, ~80 MB of images).
READ_AHEAD_FRAMES = 256
# The reader leaves a frame's network tracks to the estimator when fewer of its frames than this
# wait in the queue: the estimator would otherwise wait for them (the two processes share the work)
LEAVE_TRACKS_BELOW = 2
# Frames the estimator holds ahead to run the network over at once: one ONNX chunk. After the reader's last
# frame the estimator steps these alone, so a deeper lookahead (the replay default, 64) only lengthens that
# tail (0.11 -> 0.05 s on a 20 s bag). On onnxruntime the network runs the same 16-frame chunks either way
# (the poses are byte-identical); torch's passes over 16 instead of 64 frames moved them by 7e-9 m
LOOKAHEAD_FRAMES = CHUNK_FRAMES
# OpenCV's threads in each process: the reader and the estimator already keep both cores busy, so OpenCV's
# own worker threads (Lucas-Kanade, corners) only contend with the other process
OPENCV_THREADS = 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="arvr-vio-infer", description=__doc__.split("\n")[0])
    parser.add_argument("bag", help="rosbag2 folder, .db3/.mcap file or ROS 1 .bag")
    parser.add_argument("--model", required=True, help="model file (.safetensors) or 'imu-only'")
    parser.add_argument("--out", required=True, help="output TUM trajectory of the body (IMU) frame")
    parser.add_argument("--image-topic", default="/cam0/image_raw",
                        help="camera topic: sensor_msgs/Image, or CompressedImage (JPEG/PNG, e.g. /cam0/image_raw/compressed)")
    parser.add_argument("--imu-topic", default="/imu0", help="sensor_msgs/Imu topic")
    parser.add_argument("--accel-topic", default="",
                        help="accelerometer topic (sensor_msgs/Imu) when it is apart from the gyro (a RealSense at "
                             "unite_imu_method none; --imu-topic then gives the gyro)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="inference device")
    parser.add_argument("--config", help="ROS parameter file (`sync`, `estimator`, `vio` sections)")
    return parser.parse_args(argv)


def _stamp_ns(message: object) -> int:
    stamp = message.header.stamp  # type: ignore[attr-defined]
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def check_topics(bag: str, opened: AnyReader, image_topic: str, imu_topic: str,
                 accel_topic: str = "") -> dict[str, str]:
    """The topic types of ``bag`` (``opened``: it open, ``open_bag``); BagError unless the topics exist
    with the right types (``accel_topic`` only when given)."""
    types = reader_topic_types(opened)
    wanted_types = [(image_topic, IMAGE_TYPES), (imu_topic, (IMU_TYPE,))] + ([(accel_topic, (IMU_TYPE,))] if accel_topic
                                                                             else [])
    for topic, wanted in wanted_types:
        if topic not in types:
            compressed = compressed_topic(topic)
            hint = (f"; its compressed transport is there: --image-topic {compressed}"
                    if topic == image_topic and types.get(compressed) in IMAGE_TYPES else "")
            raise BagError(f"{bag}: topic {topic} not in bag; it has {sorted(types)}{hint}")
        if types[topic] not in wanted:
            raise BagError(f"{bag}: topic {topic} is {types[topic]}, expected {' or '.join(wanted)}")
    return types


def _message_count(opened: AnyReader, topics: tuple[str, ...]) -> int | None:
    try:
        return sum(c.msgcount for c in opened.connections if c.topic in topics)
    except AttributeError:  # a storage that does not count
        return None


def bag_frames(bag: str, opened: AnyReader, *, image_topic: str, imu_topic: str, sync: SyncConfig,
               progress: bool = True, accel_topic: str = "") -> Iterator[SyncedFrame]:
    """Synced frames of ``bag`` (``opened``: it open, ``open_bag``): messages in log-time order through a
    SyncBuffer, drained after each push.

    Images that cannot be decoded are logged and skipped (the buffer then sees a missing frame).
    ``accel_topic``: the accelerometer apart from the gyro of ``imu_topic``, joined as the node joins them
    (``core.imu_join``).
    """
    from tqdm import tqdm  # the reader process's alone: not imported by the main one before it forks
    buffer = SyncBuffer(sync)
    joiner = ImuJoiner(jump_back_ns=sync.jump_back_ns)
    topics = [image_topic, imu_topic] + ([accel_topic] if accel_topic else [])
    total = _message_count(opened, tuple(topics))
    bar = tqdm(total=total, unit="msg", desc="infer", disable=not progress, file=sys.stderr)
    cdr = bool(getattr(opened, "is2", False))  # rosbag2 (CDR bytes), not a ROS 1 bag
    for message in read_messages(opened, topics, path=bag):
        bar.update()
        if message.topic in (imu_topic, accel_topic):
            sample = imu_sample(message.rawdata) if cdr else None  # three fields, without rosbags' full decode
            if sample is None:
                decoded = message.decode()
                velocity, accel = decoded.angular_velocity, decoded.linear_acceleration
                sample = (_stamp_ns(decoded), (velocity.x, velocity.y, velocity.z), (accel.x, accel.y, accel.z))
            stamp_ns, velocity_xyz, accel_xyz = sample
            if not accel_topic:
                buffer.push_imu(stamp_ns, np.array(velocity_xyz), np.array(accel_xyz))
            else:
                joined = (joiner.add_gyro(stamp_ns, np.array(velocity_xyz)) if message.topic == imu_topic
                          else joiner.add_accel(stamp_ns, np.array(accel_xyz)))
                for stamp_ns, gyro, accel in joined:
                    buffer.push_imu(stamp_ns, gyro, accel)
        else:
            decoded = message.decode()
            try:
                buffer.push_image(_stamp_ns(decoded), grey_image(decoded))
            except VioError as exc:
                LOGGER.warning("%s: skipping an image at %d ns: %s", bag, _stamp_ns(decoded), exc)
        while (frame := buffer.pop_synced()) is not None:
            yield frame
    bar.close()


def frames_with_tracks(bag: str, opened: AnyReader, *, image_topic: str, imu_topic: str, sync: SyncConfig,
                       model: ModelConfig | None, camera: CameraModel | None, window: TrackerConfig | None,
                       progress: bool = True, waiting: Callable[[], int] | None = None,
                       accel_topic: str = "") -> Iterator[
                           tuple[SyncedFrame, TracksAhead | None, TrackedFrame | None]]:
    """The synced frames of ``bag`` (``opened``: it open), each with what can be computed ahead of the estimator: the network's
    tracks into it for ``model``'s visual front-end on ``camera`` (None throughout when ``model`` is
    None: the IMU-only baseline), and its window-velocity tracks with ``window`` (None: disabled).

    ``waiting``: how many frames the estimator has not taken yet (``ReaderProcess``); below
    ``LEAVE_TRACKS_BELOW`` a frame's network tracks are left to the estimator (None), which then
    computes them itself. The window tracks always come from here: each frame's continue the last."""
    frames = bag_frames(bag, opened, image_topic=image_topic, imu_topic=imu_topic, sync=sync, progress=progress,
                        accel_topic=accel_topic)
    with_window = tracked_ahead(frames, window) if window is not None else ((frame, None) for frame in frames)
    if model is None:
        yield from ((frame, None, tracked) for frame, tracked in with_window)
        return
    latest: list[TrackedFrame | None] = [None]

    def frames_only() -> Iterator[SyncedFrame]:
        for frame, tracked in with_window:
            latest[0] = tracked
            yield frame

    # tracks_ahead yields each frame's result as soon as it has read that frame
    front_end = VisualFrontEnd(model, camera)
    leave = None if waiting is None else (lambda: waiting() < LEAVE_TRACKS_BELOW)
    yield from ((frame, ahead, latest[0]) for frame, ahead in tracks_ahead(frames_only(), front_end, leave=leave))


def bag_reader(bag: str, *, image_topic: str, imu_topic: str, sync: SyncConfig, model: ModelConfig | None,
               vio: VioNodeConfig | None, window: TrackerConfig | None, progress: bool = True,
               waiting: Callable[[], int] | None = None, accel_topic: str = "") -> Iterator[
                   CameraModel | None | tuple[SyncedFrame, TracksAhead | None, TrackedFrame | None]]:
    """What ``arvr-vio-infer``'s reader process sends: first the rig camera (``rig_camera``; BagError
    unless the bag has both topics with the right types), then ``frames_with_tracks`` on that camera.
    The bag is opened once for all of it."""
    with opencv_threads(OPENCV_THREADS), open_bag(bag) as opened:  # set here too: a spawned reader starts afresh
        camera = rig_camera(bag, opened, check_topics(bag, opened, image_topic, imu_topic, accel_topic), vio)
        yield camera
        yield from frames_with_tracks(bag, opened, image_topic=image_topic, imu_topic=imu_topic, sync=sync,
                                      model=model, camera=camera, window=window, progress=progress, waiting=waiting,
                                      accel_topic=accel_topic)


def offered(estimator: VioEstimator, frames: Iterator[tuple[SyncedFrame, TracksAhead | None,
                                                            TrackedFrame | None]]) -> Iterator[SyncedFrame]:
    """The frames of ``frames_with_tracks``, what was computed ahead offered to the estimator's
    network front-end and window tracker on the way (each uses it only where it matches)."""
    front_end = getattr(estimator.source, "front_end", None)
    tracker = estimator.visual_velocity.tracker if estimator.visual_velocity is not None else None
    for frame, ahead, tracked in frames:
        if ahead is not None and front_end is not None:
            front_end.offer(ahead)
        if tracked is not None and tracker is not None:
            tracker.offer(tracked)
        yield frame


@contextmanager
def opencv_threads(count: int) -> Iterator[None]:
    """OpenCV's thread count set to ``count`` for the block, restored after."""
    previous = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def load_configs(path: str | None, device: str) -> tuple[SyncConfig, EstimatorConfig, VioNodeConfig | None]:
    """Sync, estimator and (when a file is given) vio settings, with the device overridden."""
    if not path:
        return SyncConfig(), dataclasses.replace(EstimatorConfig(), device=device), None
    configs = load_node_configs(path)
    return configs.sync, dataclasses.replace(configs.estimator, device=device), configs.vio


def rig_camera(bag: str, opened: AnyReader, types: dict[str, str], vio: VioNodeConfig | None) -> CameraModel | None:
    """The camera as the node would set it: the first CameraInfo of ``bag`` (``opened``: it open) on
    ``vio.camera_info_topic`` (when set and in ``types``, the bag's topics), else the ``vio.camera_*``
    parameters, else None (training camera)."""
    if vio is None:
        return None
    info = None
    if vio.camera_info_topic and vio.camera_info_topic in types:
        messages = read_messages(opened, [vio.camera_info_topic], path=bag)
        first = next(messages, None)
        messages.close()  # the bag's reading goes on from its start (frames_with_tracks)
        info = None if first is None else CameraInfoValues.from_message(first.decode())
    return vio.rig_camera(info)


def main(argv: list[str] | None = None) -> int:
    """Entry point of arvr-vio-infer."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args = parse_args(argv)
    try:
        resolve_bag_path(args.bag)  # a mistyped path fails here, before torch is imported
        sync, config, vio = load_configs(args.config, args.device)
        model = None if args.model == IMU_ONLY else read_config(args.model)  # the header: no torch yet
        # From here a child process checks the bag, decodes it and tracks features (the network's
        # visual front-end and the window velocity's tracks, torch-free) while this one imports torch,
        # loads the model and steps the estimator: both cores work at once (see io.reader_process,
        # core.model.front_end, core.feature_tracker).
        with opencv_threads(OPENCV_THREADS), ReaderProcess(bag_reader, (args.bag,), {
                "image_topic": args.image_topic, "imu_topic": args.imu_topic, "accel_topic": args.accel_topic,
                "sync": sync, "model": model,
                "vio": vio, "window": config.visual_velocity.tracker if config.visual_velocity.enabled
                else None}, queue_size=READ_AHEAD_FRAMES, waiting_kwarg="waiting") as reader:
            with collector_paused():
                estimator = VioEstimator.from_file(args.model, config)
            estimator.set_camera(next(reader))  # the reader's first item: the bag checked, its camera
            trajectory = run_estimator(estimator, offered(estimator, reader), lookahead=LOOKAHEAD_FRAMES,
                                       source=f"{args.bag} ({estimator.source.name})")
        if len(trajectory) == 0:
            raise VioError(f"{args.bag}: no pose estimated (too short for the 0.5 s initialisation, or no IMU?)")
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_tum(trajectory, args.out)
    except VioError as exc:
        print(f"arvr-vio-infer: {exc}", file=sys.stderr)
        return 2
    LOGGER.info("%d poses written to %s; estimator counters: %s", len(trajectory), args.out, estimator.counters)
    front_end = getattr(estimator.source, "front_end", None)
    if front_end is not None:
        LOGGER.info("feature tracks: %s", front_end.counters)
    if estimator.visual_velocity is not None:
        tracker = estimator.visual_velocity.tracker
        LOGGER.info("window tracks: %d taken from the reader, %d computed", tracker.offered_used, tracker.computed)
    return 0


def cli() -> None:
    """Console-script entry: ``main``, then exit without tearing the interpreter down.

    The trajectory is written and closed by then; what a normal exit would add is torch's and the
    collector's teardown of objects that die with the process anyway (about 0.1 s, 5 % of a 20 s bag's
    run: the real-time factor is measured start-up and exit included).
    """
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    cli()
