"""Test helper, run as its own process: record topics and print what arrived as one JSON line.

Usage::

    python topic_recorder.py --timeout 20 /tf:tf2_msgs/msg/TFMessage:517 /tf_static:tf2_msgs/msg/TFMessage:1:latched

Each argument is ``TOPIC:TYPE:COUNT[:latched]`` (COUNT -1: record without waiting
for a number). Subscriptions are reliable and keep-all (transient-local for
latched topics). The process prints ``READY`` once subscribed, then, when every
counted topic has its count (plus a short grace period to catch extras) or at
the timeout, ``{"topic": [[stamp_ns, sha256 of the CDR bytes], ...], ...}``.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import sys
import time
from typing import Any

import rclpy
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message

GRACE_S = 0.5


def stamp_ns(msg: Any) -> int:
    """Header stamp, first transform's stamp (TFMessage), clock (Clock); -1 if none."""
    stamp = None
    if hasattr(msg, "header"):
        stamp = msg.header.stamp
    elif getattr(msg, "transforms", None):
        stamp = msg.transforms[0].header.stamp
    elif hasattr(msg, "clock"):
        stamp = msg.clock
    return -1 if stamp is None else stamp.sec * 1_000_000_000 + stamp.nanosec


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("specs", nargs="+")
    args = parser.parse_args()
    rclpy.init()
    node = rclpy.create_node("topic_recorder")
    received: dict[str, list[list[Any]]] = {}
    expected: dict[str, int] = {}
    for spec in args.specs:
        topic, msgtype, count, *flags = spec.split(":")
        package, kind, name = msgtype.split("/")
        cls = getattr(importlib.import_module(f"{package}.{kind}"), name)
        durability = DurabilityPolicy.TRANSIENT_LOCAL if "latched" in flags else DurabilityPolicy.VOLATILE
        qos = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE, durability=durability)
        received[topic] = []
        expected[topic] = int(count)

        def record(raw: bytes, topic: str = topic, cls: Any = cls) -> None:
            received[topic].append([stamp_ns(deserialize_message(raw, cls)), hashlib.sha256(raw).hexdigest()])

        node.create_subscription(cls, topic, record, qos, raw=True)
    print("READY", flush=True)
    deadline, complete_at = time.monotonic() + args.timeout, None
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if complete_at is None and all(len(received[t]) >= n for t, n in expected.items() if n >= 0):
            complete_at = time.monotonic()
        if complete_at is not None and time.monotonic() - complete_at > GRACE_S:
            break
    print(json.dumps(received), flush=True)
    # Done: leave without DDS teardown. Fast DDS's destroy_node was seen to spin forever, rarely, holding the
    # GIL (2026-11-28), where no Python watchdog thread can run; the test has what it needs by now.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
