"""Test-wide settings: every pytest run talks DDS on its own domain, on this host only.

Several test runs (and a developer's own nodes) may share a machine; a private,
randomly chosen ROS_DOMAIN_ID keeps their messages apart. Child processes that
tests start inherit it through the environment.

Ctrl-C tests send SIGINT to child processes. A run started as a background job of a
non-interactive shell (``cmd &``) has SIGINT ignored, and an ignored signal stays ignored
across exec, so every child would ignore it too (this broke two Ctrl-C tests once). The
run therefore restores the default disposition, which its children then inherit.
"""
from __future__ import annotations

import os
import random
import signal

os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("OMP_NUM_THREADS", "1")

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
