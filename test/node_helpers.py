"""A VioNode and a test's driver node spun in this process over real DDS (the in-process node tests)."""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import rclpy
from rclpy.context import Context
from rclpy.node import Node

from arvr_hybrid_vio.nodes.vio_node import VioNode, make_executor, spin


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


@contextlib.contextmanager
def spinning(context: Context, node: VioNode, driver: Node) -> Iterator[None]:
    """Spin both nodes on the node's default executor (``vio.executor: auto``) in a thread; on exit stop the
    node, the thread and the executor, destroy both nodes and shut ``context`` down."""
    executor = make_executor(context)
    executor.add_node(node)
    executor.add_node(driver)
    stop_spinning = threading.Event()
    spinner = threading.Thread(target=spin, args=(executor, context), kwargs={"until": stop_spinning}, daemon=True)
    spinner.start()
    try:
        yield
    finally:
        node.stop()
        stop_spinning.set()
        spinner.join(timeout=5.0)
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        driver.destroy_node()
        rclpy.try_shutdown(context=context)
