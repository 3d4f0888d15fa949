"""arvr-vio-play: replay a bag on ROS 2 topics with its recorded timing (``ros2 bag play`` for this venv).

Usage::

    arvr-vio-play BAG [--rate R] [--clock] [--delay S] [--topics T ...] [--loop]

BAG is a rosbag2 folder, a ``.db3`` or ``.mcap`` file, or a ROS 1 ``.bag``.
Messages go out at their log times (scaled by ``--rate``) as the bag's own CDR
bytes (ROS 1 messages converted to ROS 2 first), on reliable keep-all publishers
(transient-local for ``/tf_static`` and latched topics), so a reliable subscriber
loses nothing. Before the first message the player waits up to
``--wait-subscribers`` seconds for every topic to have a subscriber, then
``--delay`` seconds; at the end it waits for reliable subscribers to acknowledge.
``--clock`` publishes the bag time on ``/clock`` for nodes with ``use_sim_time``.
"""
from __future__ import annotations

import argparse
import faulthandler
import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rclpy
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock
from tqdm import tqdm

from arvr_hybrid_vio.core.collector import collector_paused
from arvr_hybrid_vio.io.bags import BagError
from arvr_hybrid_vio.ros.conversions import ns_to_time
from arvr_hybrid_vio.ros.qos import REPLAY_LATCHED_QOS, REPLAY_QOS, TF_QOS
from arvr_hybrid_vio.tools.play_schedule import (
    Scheduled,
    TopicPlan,
    iter_cdr_messages,
    read_topic_plans,
    schedule,
    sim_time_ns,
)

LOG = logging.getLogger("arvr_vio_play")
PROG = "arvr-vio-play"
SETTLE_S = 1.0
TEARDOWN_S = 10.0
TEARDOWN_BACKSTOP_S = 5.0  # after TEARDOWN_S: faulthandler's exit, for a hang that holds the GIL


class PlayError(BagError):
    """The bag cannot be played here (e.g. a message type without a Python module)."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options (ROS arguments after ``--ros-args`` are left to rclpy)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("bag", type=Path, help="rosbag2 folder, .db3, .mcap or ROS 1 .bag")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    parser.add_argument("--clock", action="store_true", help="publish the bag time on /clock")
    parser.add_argument("--clock-hz", type=float, default=40.0, help="/clock rate while waiting (default 40)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before the first message")
    parser.add_argument("--topics", nargs="+", metavar="T", help="play only these topics")
    parser.add_argument("--loop", action="store_true", help="replay from the start when the bag ends")
    parser.add_argument("--wait-subscribers", type=float, default=5.0, metavar="S",
                        help="wait up to S seconds for every topic to have a subscriber (default 5, 0: none)")
    parser.add_argument("--wait-all", action="store_true",
                        help="wait for a subscriber on EVERY played topic (up to --wait-subscribers), instead of "
                             "starting once matches settle; use when several subscriber processes are starting")
    parser.add_argument("--ack-timeout", type=float, default=5.0, metavar="S",
                        help="at the end, wait up to S seconds for reliable subscribers to acknowledge")
    args = parser.parse_args(argv)
    if not args.rate > 0 or args.delay < 0 or not args.clock_hz > 0:
        parser.error("--rate and --clock-hz must be > 0 and --delay >= 0")
    return args


def message_class(msgtype: str) -> Any:
    """The rclpy class of ``pkg/msg/Name``.

    Raises:
        ImportError: no Python module provides the type.
    """
    package, kind, name = msgtype.split("/") if msgtype.count("/") == 2 else ("", "", msgtype)
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ImportError(str(exc)) from exc


def resolve_classes(bag: Path, plans: Sequence[TopicPlan]) -> dict[str, Any]:
    """Message classes of every planned topic.

    Raises:
        PlayError: a type has no Python module, with the topic and the package to install.
    """
    classes = {}
    for plan in plans:
        try:
            classes[plan.topic] = message_class(plan.msgtype)
        except ImportError:
            package = plan.msgtype.split("/")[0].replace("_", "-")
            raise PlayError(f"{bag}: topic {plan.topic} has type {plan.msgtype}, which has no Python message"
                            f" module here; install it (e.g. ros-kilted-{package}) or leave the topic out"
                            " with --topics") from None
    return classes


class Player:
    """Publishes scheduled bag messages from one node; ``run()`` plays until the bag (or Ctrl-C) ends."""

    def __init__(self, node: Node, args: argparse.Namespace, plans: Sequence[TopicPlan],
                 classes: dict[str, Any]) -> None:
        self._node, self._args, self._plans = node, args, list(plans)
        self._publishers = {
            plan.topic: node.create_publisher(classes[plan.topic], plan.topic,
                                              REPLAY_LATCHED_QOS if plan.latched else REPLAY_QOS)
            for plan in plans}
        self._clock = None
        if args.clock:
            self._clock = node.create_publisher(Clock, "/clock", TF_QOS)
            self._clock_msg = Clock()

    def wait_for_subscribers(self) -> None:
        """Wait (at most ``--wait-subscribers`` s) until every topic has a matched subscription.

        Unless ``--wait-all``, also stops once some topic has one and no new match came for ``SETTLE_S``: a
        subscriber process is matched on all its topics at once, and topics that no one
        subscribes to should not hold up playback for long. Discovery here usually takes
        well under a second, but sometimes about 3 s (one announcement period of Fast DDS).
        """
        deadline = time.monotonic() + self._args.wait_subscribers
        counts, changed = self._match_counts(), time.monotonic()
        while time.monotonic() < deadline and not all(counts.values()):
            time.sleep(0.02)
            if (now_counts := self._match_counts()) != counts:
                counts, changed = now_counts, time.monotonic()
            elif not self._args.wait_all and any(counts.values()) and time.monotonic() - changed > SETTLE_S:
                break
        lonely = sorted(topic for topic, count in counts.items() if not count)
        if lonely and self._args.wait_subscribers > 0:
            LOG.info("no subscriber yet on %s; playing anyway", ", ".join(lonely))

    def _match_counts(self) -> dict[str, int]:
        return {topic: publisher.get_subscription_count() for topic, publisher in self._publishers.items()}

    def run(self) -> int:
        """Play; returns the number of messages published."""
        total = sum(plan.count for plan in self._plans)
        topics = [plan.topic for plan in self._plans]
        items = schedule(lambda: iter_cdr_messages(self._args.bag, topics), rate=self._args.rate,
                         delay_s=self._args.delay, loop=self._args.loop)
        published, previous = 0, None
        with tqdm(total=total, unit="msg", desc=self._args.bag.name, file=sys.stderr, mininterval=0.5) as bar:
            start = time.monotonic()
            for item in items:
                if previous is not None and item.lap != previous.lap:
                    bar.reset()
                self._wait_until(start, previous, item)
                self._publishers[item.message.topic].publish(item.message.cdr)
                published, previous = published + 1, item
                bar.update()
        return published

    def _wait_until(self, start: float, previous: Scheduled | None, upcoming: Scheduled) -> None:
        """Sleep until the upcoming message is due, publishing /clock meanwhile."""
        period = 1.0 / self._args.clock_hz if self._clock else 0.1
        while True:
            elapsed = time.monotonic() - start
            if self._clock is not None:
                self._publish_clock(sim_time_ns(previous, upcoming, elapsed, rate=self._args.rate))
            remaining = upcoming.offset_s - elapsed
            if remaining <= 0:
                return
            time.sleep(min(remaining, period))

    def _publish_clock(self, stamp_ns: int) -> None:
        self._clock_msg.clock = ns_to_time(stamp_ns)
        self._clock.publish(self._clock_msg)

    def wait_for_acks(self) -> None:
        """Give reliable subscribers up to ``--ack-timeout`` s to acknowledge everything sent."""
        deadline = time.monotonic() + self._args.ack_timeout
        for topic, publisher in self._publishers.items():
            left = max(0.0, deadline - time.monotonic())
            if not publisher.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9))):
                LOG.warning("%s: not every subscriber acknowledged within %.1f s", topic, self._args.ack_timeout)


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def play(args: argparse.Namespace, plans: Sequence[TopicPlan], classes: dict[str, Any],
         ros_args: Sequence[str]) -> int:
    """Start rclpy, play, shut down. Returns the exit code."""
    rclpy.init(args=["arvr_vio_play", *ros_args], signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("arvr_vio_player")
    code = 1
    try:
        code = _play_on(node, args, plans, classes)
    finally:
        _teardown(node, code)
    return code


def _play_on(node: Node, args: argparse.Namespace, plans: Sequence[TopicPlan], classes: dict[str, Any]) -> int:
    try:
        with collector_paused():  # a collector pass during the timed replay would be a burst (16-22 ms logged)
            player = Player(node, args, plans, classes)
        player.wait_for_subscribers()
        count = player.run()
        player.wait_for_acks()
        LOG.info("published %d messages from %s", count, args.bag)
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BagError as exc:
        return _fail(str(exc))


def _teardown(node: Node, code: int) -> None:
    """Destroy the node and shut rclpy down; exit anyway if DDS teardown hangs.

    Fast DDS 3.2 was seen here, rarely, spinning forever in ``destroy_participant``
    once playback had finished; everything has been sent and acknowledged by then.
    A Python timer exits with ``code`` after ``TEARDOWN_S``. A hang inside the C++ call
    that holds the GIL (seen in the test recorder, 2026-11-28) never lets that timer
    run, so faulthandler's watchdog, a C thread, ends the process ``TEARDOWN_BACKSTOP_S``
    later (status 1, with every thread's stack on stderr).
    """
    def abandon() -> None:
        print(f"{PROG}: DDS teardown did not finish in {TEARDOWN_S:.0f} s; exiting", file=sys.stderr, flush=True)
        os._exit(code)

    watchdog = threading.Timer(TEARDOWN_S, abandon)
    watchdog.daemon = True
    watchdog.start()
    faulthandler.dump_traceback_later(TEARDOWN_S + TEARDOWN_BACKSTOP_S, exit=True)
    try:
        node.destroy_node()
        rclpy.try_shutdown()
    finally:
        faulthandler.cancel_dump_traceback_later()
        watchdog.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``arvr-vio-play``; returns 0, 2 on bad input, 130 on Ctrl-C."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ros_args = argv[argv.index("--ros-args"):] if "--ros-args" in argv else []
    args = parse_args(argv[: len(argv) - len(ros_args)])
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        plans = read_topic_plans(args.bag, args.topics)
        classes = resolve_classes(args.bag, plans)
    except BagError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    if not plans:
        return _fail(f"{args.bag}: no messages to play")
    return play(args, plans, classes, ros_args)


if __name__ == "__main__":
    sys.exit(main())
