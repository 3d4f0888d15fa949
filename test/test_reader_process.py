"""ReaderProcess: a generator run in a child process, items in order, errors carried back, stopped on close."""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from arvr_hybrid_vio.core.errors import VioError
from arvr_hybrid_vio.core.sync_buffer import SyncConfig
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence
from arvr_hybrid_vio.io.bags import BagError, open_bag
from arvr_hybrid_vio.io.reader_process import ReaderProcess, ReaderProcessError
from arvr_hybrid_vio.io.sensor_bags import streams_from_sequence, write_sensor_bag
from arvr_hybrid_vio.tools.infer import bag_frames


def arrays(count: int, *, fail_after: int | None = None) -> Iterator[np.ndarray]:
    for index in range(count):
        if fail_after is not None and index == fail_after:
            raise BagError(f"corrupt message {index}")
        yield np.full((4, 5), index, dtype=np.int64)


class Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("cannot travel")
        self.lock = threading.Lock()  # locks do not pickle


def raises_unpicklable() -> Iterator[int]:
    yield 1
    raise Unpicklable()


def dies_silently() -> Iterator[int]:
    yield 1
    os._exit(3)


def endless(path: str) -> Iterator[int]:
    index = 0
    with open(path, "a") as produced:
        while True:
            produced.write(f"{index}\n")
            produced.flush()
            yield index
            index += 1


def reports_waiting(folder: str, *, waiting: Callable[[], int]) -> Iterator[object]:
    """Three items, then what ``waiting`` said with all three untaken and after the parent took them."""
    for index in range(3):
        yield index
    with_three = waiting()
    Path(folder, "seen").touch()  # the parent takes the three items only now
    deadline = time.monotonic() + 20.0
    while waiting() > 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    yield with_three, waiting()


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_the_reader_can_see_how_many_items_the_parent_has_not_taken(tmp_path: Path, start_method: str) -> None:
    with ReaderProcess(reports_waiting, (str(tmp_path),), queue_size=8, start_method=start_method,
                       waiting_kwarg="waiting") as reader:
        deadline = time.monotonic() + 20.0
        while not (tmp_path / "seen").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [next(reader) for _ in range(3)] == [0, 1, 2]
        assert next(reader) == (3, 0)


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_items_arrive_in_order_through_a_small_queue(start_method: str) -> None:
    with ReaderProcess(arrays, (50,), queue_size=2, start_method=start_method) as reader:
        received = list(reader)
    assert len(received) == 50
    for index, item in enumerate(received):
        np.testing.assert_array_equal(item, np.full((4, 5), index))


def test_reader_exception_is_raised_after_the_items_before_it() -> None:
    received = []
    with ReaderProcess(arrays, (10,), {"fail_after": 6}) as reader, pytest.raises(BagError, match="corrupt message 6"):
        for item in reader:
            received.append(int(item[0, 0]))
    assert received == [0, 1, 2, 3, 4, 5]


def test_unpicklable_exception_comes_back_as_vio_error_with_its_type() -> None:
    with ReaderProcess(raises_unpicklable) as reader, pytest.raises(VioError, match="Unpicklable: cannot travel"):
        list(reader)


def test_child_that_dies_without_a_word_is_an_error() -> None:
    with ReaderProcess(dies_silently) as reader, pytest.raises(ReaderProcessError, match="exit code 3"):
        list(reader)


def test_close_stops_a_reader_left_early(tmp_path: Path) -> None:
    marker = tmp_path / "progress"
    reader = ReaderProcess(endless, (str(marker),), queue_size=4)
    assert next(reader) == 0 and next(reader) == 1
    reader.close()
    assert not reader._process.is_alive()
    written = marker.read_text().count("\n")
    assert written < 10  # the queue bounds how far the child ran ahead
    time.sleep(0.3)
    assert marker.read_text().count("\n") == written  # and it runs no more
    with pytest.raises(StopIteration):
        next(reader)


def _bag_frames(bag: str, **options: object) -> Iterator[object]:
    with open_bag(bag) as opened:
        yield from bag_frames(bag, opened, **options)


def test_bag_frames_through_the_reader_equal_in_process(tmp_path: Path) -> None:
    sequence = generate_sequence(SynthConfig(motion=MotionConfig(motion="head", duration_s=1.5, rest_s=0.5)), seed=4)
    bag = str(write_sensor_bag(tmp_path / "bag", streams_from_sequence(sequence)))
    options = {"image_topic": "/cam0/image_raw", "imu_topic": "/imu0", "sync": SyncConfig(), "progress": False}
    direct = list(_bag_frames(bag, **options))
    with ReaderProcess(_bag_frames, (bag,), options, queue_size=8) as reader:
        through = list(reader)
    assert len(through) == len(direct) > 30
    for a, b in zip(direct, through):
        assert (a.stamp_ns, a.frame_index) == (b.stamp_ns, b.frame_index)
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.imu_stamps_ns, b.imu_stamps_ns)
        np.testing.assert_array_equal(a.gyro_rad_s, b.gyro_rad_s)
        np.testing.assert_array_equal(a.accel_m_s2, b.accel_m_s2)
