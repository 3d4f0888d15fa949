"""arvr-vio-infer on a short synthetic bag: TUM of the right length, same poses as the array replay."""
from __future__ import annotations

import contextlib
import itertools
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.network import VioNetwork
from arvr_hybrid_vio.core.model_io import save_model
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence
from arvr_hybrid_vio.core.trajectory import read_tum
from arvr_hybrid_vio.core.training.replay import run_estimator, synced_frames
from arvr_hybrid_vio.io.sensor_bags import image_message, imu_message, streams_from_sequence, write_sensor_bag
from arvr_hybrid_vio.core.model_header import read_config
from arvr_hybrid_vio.core.sync_buffer import SyncConfig
from arvr_hybrid_vio.io.bags import BagWriter, open_bag
from arvr_hybrid_vio.nodes.vio_node_config import VioNodeConfig
from arvr_hybrid_vio.tools import infer as infer_tool
from arvr_hybrid_vio.tools.infer import LEAVE_TRACKS_BELOW, bag_reader, frames_with_tracks, main, offered


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, Path]:
    folder = tmp_path_factory.mktemp("infer")
    sequence = generate_sequence(SynthConfig(motion=MotionConfig(motion="head", duration_s=2.0, rest_s=0.7)), seed=11)
    bag = write_sensor_bag(folder / "short", streams_from_sequence(sequence))
    torch.manual_seed(0)
    model = save_model(folder / "hybrid.safetensors", VioNetwork(ModelConfig(family="hybrid")))
    return sequence, bag, model


def replay_positions(sequence: object, model: str) -> np.ndarray:
    estimator = VioEstimator.from_file(model, EstimatorConfig(device="cpu"))
    trajectory = run_estimator(estimator, synced_frames(
        sequence.image_stamps_ns, sequence.images, sequence.imu_stamps_ns, sequence.gyro, sequence.accel))
    return trajectory.positions_xyz


@pytest.mark.parametrize("which", ["imu-only", "model"])
def test_infer_writes_one_pose_per_tracked_frame(synthetic: tuple, tmp_path: Path, which: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    sequence, bag, model = synthetic
    model_arg = "imu-only" if which == "imu-only" else str(model)
    out = tmp_path / "est.tum"
    with caplog.at_level(logging.INFO):
        assert main([str(bag), "--model", model_arg, "--out", str(out), "--device", "cpu"]) == 0
    if which == "model":  # every frame pair's tracks came from the reader or, left to it, the estimator: once
        offered, computed = map(int, re.search(r"tracks_offered_used=(\d+), tracks_computed=(\d+)",
                                               caplog.text).groups())
        assert offered > 0 and offered + computed == len(sequence.image_stamps_ns) - 16
    # and the window velocity's tracks of every frame: the estimator tracked none itself
    assert re.search(r"window tracks: [1-9]\d* taken from the reader, 0 computed", caplog.text)
    trajectory = read_tum(out)
    frames = len(sequence.image_stamps_ns)
    # the first frame's window starts at the first IMU sample; 0.5 s of IMU initialise (15 frames at 30 Hz)
    assert len(trajectory) == frames - 15
    assert trajectory.stamps_ns[0] == sequence.image_stamps_ns[15]
    np.testing.assert_allclose(trajectory.positions_xyz, replay_positions(sequence, model_arg), atol=1e-6)


def _positions_through_reader(bag: Path, model: Path, waiting: object) -> tuple[np.ndarray, object]:
    """Poses of ``frames_with_tracks`` (as the reader process sends them, ``waiting`` as its queue
    depth) through ``offered`` into an estimator, and the estimator's front-end counters."""
    estimator = VioEstimator.from_file(model, EstimatorConfig(device="cpu"))
    with open_bag(bag) as opened:
        frames = frames_with_tracks(str(bag), opened, image_topic="/cam0/image_raw", imu_topic="/imu0",
                                    sync=SyncConfig(), model=read_config(model), camera=None,
                                    window=estimator.config.visual_velocity.tracker, progress=False, waiting=waiting)
        trajectory = run_estimator(estimator, offered(estimator, frames))
    return trajectory.positions_xyz, estimator.source.front_end.counters


def test_tracks_left_to_the_estimator_when_it_waits_give_the_same_poses(synthetic: tuple) -> None:
    """The reader leaves a frame's network tracks to the estimator when fewer than LEAVE_TRACKS_BELOW
    frames wait in its queue; the estimator computes those itself, with the same result."""
    _, bag, model = synthetic
    ahead, ahead_counters = _positions_through_reader(bag, model, lambda: LEAVE_TRACKS_BELOW)  # never left
    assert ahead_counters.tracks_computed == 0 and ahead_counters.tracks_offered_used > 30
    depths = itertools.cycle([0, LEAVE_TRACKS_BELOW - 1, LEAVE_TRACKS_BELOW, 50])  # half below the mark
    mixed, mixed_counters = _positions_through_reader(bag, model, lambda: next(depths))
    assert mixed_counters.tracks_computed > 10 and mixed_counters.tracks_offered_used > 10
    assert mixed_counters.tracks_computed + mixed_counters.tracks_offered_used == ahead_counters.tracks_offered_used
    np.testing.assert_array_equal(mixed, ahead)
    left, left_counters = _positions_through_reader(bag, model, lambda: 0)  # the estimator always waits
    assert left_counters.tracks_offered_used == 0
    np.testing.assert_array_equal(left, ahead)


def test_the_reader_opens_the_bag_once_and_reads_mcap_as_sqlite(synthetic: tuple, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``bag_reader`` checks the topics, reads the CameraInfo and the frames from one open bag (each
    open builds its type store), for either storage."""
    sequence, bag, model = synthetic
    mcap = write_sensor_bag(tmp_path / "short_mcap", streams_from_sequence(sequence), storage="mcap")
    opens: list[str] = []

    @contextlib.contextmanager
    def counted(path: str) -> Iterator[object]:
        opens.append(str(path))
        with open_bag(path) as reader:
            yield reader

    monkeypatch.setattr(infer_tool, "open_bag", counted)
    vio = VioNodeConfig(camera_info_topic="/cam0/camera_info")
    items = {}
    for path in (bag, mcap):
        items[path] = list(bag_reader(str(path), image_topic="/cam0/image_raw", imu_topic="/imu0", sync=SyncConfig(),
                                      model=read_config(model), vio=vio, window=EstimatorConfig().visual_velocity.tracker,
                                      progress=False))
    assert opens == [str(bag), str(mcap)]
    sqlite_items, mcap_items = items[bag], items[mcap]
    assert sqlite_items[0] == mcap_items[0] is not None  # the camera, from the bag's CameraInfo
    # the camera, then every frame but the first (stamped at the first IMU sample, it only anchors a window)
    assert len(sqlite_items) == len(mcap_items) == 1 + len(sequence.image_stamps_ns) - 1
    for (frame, ahead, tracked), (other, other_ahead, other_tracked) in zip(sqlite_items[1:], mcap_items[1:]):
        assert frame.stamp_ns == other.stamp_ns
        np.testing.assert_array_equal(frame.image, other.image)
        assert (ahead is None) == (other_ahead is None) and (tracked is None) == (other_tracked is None)
        if ahead is not None:
            np.testing.assert_array_equal(ahead.tracks, other_ahead.tracks)


def test_a_compressed_camera_topic_gives_the_raw_topics_poses(synthetic: tuple, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A bag whose camera is sensor_msgs/CompressedImage (image_transport's ``/compressed`` topic): PNG is
    lossless, so the shipped hybrid's poses are the raw bag's, byte for byte; JPEG runs the same path."""
    sequence, raw_bag, _ = synthetic
    streams = streams_from_sequence(sequence)
    shipped = str(Path(__file__).resolve().parents[1] / "models" / "hybrid.safetensors")
    outputs = {}
    for image_format in ("raw", "png", "jpeg"):
        bag = raw_bag if image_format == "raw" else write_sensor_bag(tmp_path / image_format, streams,
                                                                     image_format=image_format)
        topic = "/cam0/image_raw" + ("" if image_format == "raw" else "/compressed")
        outputs[image_format] = tmp_path / f"{image_format}.tum"
        assert main([str(bag), "--model", shipped, "--out", str(outputs[image_format]), "--image-topic", topic,
                     "--device", "cpu"]) == 0
    assert outputs["png"].read_bytes() == outputs["raw"].read_bytes()
    raw, jpeg = read_tum(outputs["raw"]), read_tum(outputs["jpeg"])
    np.testing.assert_array_equal(jpeg.stamps_ns, raw.stamps_ns)
    assert 0 < np.abs(jpeg.positions_xyz - raw.positions_xyz).max() < 0.01  # other pixels (0.9 mm measured)
    # the raw topic asked of a bag that has only the compressed one: the error names the one to pass
    assert main([str(tmp_path / "png"), "--model", "imu-only", "--out", str(tmp_path / "x.tum")]) == 2
    assert "--image-topic /cam0/image_raw/compressed" in capsys.readouterr().err


def test_a_gyro_and_an_accelerometer_on_two_topics_give_the_combined_topics_poses(synthetic: tuple,
                                                                                   tmp_path: Path) -> None:
    """``--accel-topic``: a bag as a RealSense at ``unite_imu_method: none`` records it (gyro and accelerometer
    on two topics, the other vector zero), joined as the node joins them: with the accelerometer at the gyro's
    stamps the poses are the combined bag's, byte for byte; at half its rate, interpolated, within 2 mm."""
    sequence, combined_bag, model = synthetic
    combined = tmp_path / "combined.tum"
    assert main([str(combined_bag), "--model", str(model), "--out", str(combined), "--device", "cpu"]) == 0
    outputs = {}
    for every in (1, 2):
        bag = tmp_path / f"split_{every}"
        with BagWriter(bag) as writer:
            writer.add_topic("/cam0/image_raw", "sensor_msgs/msg/Image")
            writer.add_topic("/camera/gyro/sample", "sensor_msgs/msg/Imu")
            writer.add_topic("/camera/accel/sample", "sensor_msgs/msg/Imu")
            events = sorted([(int(t), 1, i) for i, t in enumerate(sequence.imu_stamps_ns)]
                            + [(int(t), 0, i) for i, t in enumerate(sequence.image_stamps_ns)])
            for stamp, kind, index in events:
                if kind == 0:
                    writer.write("/cam0/image_raw", stamp, image_message(stamp, sequence.images[index]))
                    continue
                if index % every == 0:
                    writer.write("/camera/accel/sample", stamp, imu_message(stamp, np.zeros(3), sequence.accel[index],
                                                                           gyro_var=0.0, accel_var=0.0))
                writer.write("/camera/gyro/sample", stamp, imu_message(stamp, sequence.gyro[index], np.zeros(3),
                                                                      gyro_var=0.0, accel_var=0.0))
        outputs[every] = tmp_path / f"split_{every}.tum"
        assert main([str(bag), "--model", str(model), "--out", str(outputs[every]), "--device", "cpu",
                     "--imu-topic", "/camera/gyro/sample", "--accel-topic", "/camera/accel/sample"]) == 0
    assert outputs[1].read_bytes() == combined.read_bytes()
    reference, half = read_tum(combined), read_tum(outputs[2])
    np.testing.assert_array_equal(half.stamps_ns, reference.stamps_ns)
    assert 0 < np.abs(half.positions_xyz - reference.positions_xyz).max() < 0.002
    assert main([str(tmp_path / "split_1"), "--model", "imu-only", "--out", str(tmp_path / "x.tum"),
                 "--imu-topic", "/camera/gyro/sample", "--accel-topic", "/nope"]) == 2  # a missing topic: the error


def test_infer_bad_input_is_one_line_and_exit_2(synthetic: tuple, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _, bag, _ = synthetic
    out = str(tmp_path / "x.tum")
    cases = [([str(bag), "--model", "imu-only", "--out", out, "--image-topic", "/nope"], "/nope not in bag"),
             ([str(bag), "--model", "imu-only", "--out", out, "--imu-topic", "/cam0/image_raw"],
              "expected sensor_msgs/msg/Imu"),
             ([str(tmp_path / "missing"), "--model", "imu-only", "--out", out], "no such bag"),
             ([str(bag), "--model", str(tmp_path / "none.safetensors"), "--out", out], "model file not found")]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert message in err[-1] and "Traceback" not in "\n".join(err)


def test_the_reader_side_imports_no_torch() -> None:
    """The bag reader process decodes and tracks while the main process imports torch: it must not import it."""
    code = ("import sys; import arvr_hybrid_vio.tools.infer, arvr_hybrid_vio.core.model.front_end, "
            "arvr_hybrid_vio.core.model_header; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_main_process_leaves_rosbags_and_tqdm_to_the_reader() -> None:
    """The main process imports what it needs before it forks the reader; rosbags and tqdm (70 ms) are
    the reader's alone, imported there while the main process loads the model."""
    code = ("import sys; import arvr_hybrid_vio.tools.infer; "
            "print(sorted({name.split('.')[0] for name in sys.modules} & {'rosbags', 'tqdm'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_console_script_writes_the_trajectory_and_exits_with_main_s_code(synthetic: tuple, tmp_path: Path) -> None:
    """``arvr-vio-infer`` (``cli``) leaves by ``os._exit`` after ``main``: the trajectory must be whole on
    disk, the log flushed, and a failure still exit 2 with its one line."""
    sequence, bag, _ = synthetic
    script = Path(sys.executable).parent / "arvr-vio-infer"
    out = tmp_path / "est.tum"
    done = subprocess.run([str(script), str(bag), "--model", "imu-only", "--out", str(out), "--device", "cpu"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert f"poses written to {out}" in done.stderr  # logged after the write, flushed before the exit
    assert len(read_tum(out)) == len(sequence.image_stamps_ns) - 15
    failed = subprocess.run([str(script), str(bag), "--model", "imu-only", "--out", str(out), "--image-topic", "/nope"],
                            capture_output=True, text=True, check=False)
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1].startswith("arvr-vio-infer: ") and "/nope not in bag" in failed.stderr



def _opencv_threads_in_the_reader(*args: object, **kwargs: object) -> Iterator[object]:
    import cv2
    for item in bag_reader(*args, **kwargs):
        yield item, cv2.getNumThreads()


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_opencv_runs_one_thread_in_both_processes_and_is_restored_after(synthetic: tuple, start_method: str) -> None:
    """The reader and the estimator keep both cores busy; OpenCV's own worker threads would only contend
    (README, "arvr-vio-infer's tail"). The reader sets it itself (a spawned one inherits nothing); the
    caller's setting comes back after."""
    import cv2
    from arvr_hybrid_vio.io.reader_process import ReaderProcess
    _, bag, model = synthetic
    before = cv2.getNumThreads()
    kwargs = {"image_topic": "/cam0/image_raw", "imu_topic": "/imu0", "sync": SyncConfig(), "model": read_config(model),
              "vio": None, "window": None, "progress": False}
    with infer_tool.opencv_threads(infer_tool.OPENCV_THREADS), ReaderProcess(
            _opencv_threads_in_the_reader, (str(bag),), kwargs, start_method=start_method) as reader:
        assert cv2.getNumThreads() == infer_tool.OPENCV_THREADS == 1
        threads = {count for _, count in reader}
    assert threads == {1}
    assert cv2.getNumThreads() == before
