"""Test-wide settings: every pytest run talks DDS on its own domain, on this host only.

Several test runs (and a developer's own nodes) may share a machine; a private,
randomly chosen ROS_DOMAIN_ID keeps their messages apart. Child processes that
tests start inherit it through the environment.
"""
from __future__ import annotations

import os
import random

os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("OMP_NUM_THREADS", "1")
