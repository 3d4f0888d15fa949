"""Python's cyclic garbage collector around the start-up of a long-lived process.

Importing torch and loading a model create about a million objects that live as long as the process
and form no garbage. Left in the collector's reach, every full pass walks them all: passes of 10-125 ms
were logged here (AMD EPYC, 2026-11-27) inside a running ``arvr-vio-node`` and inside the bench's
timed replays and DDS measurements, a pause the stream then has to catch up on. ``collector_paused``
turns the collector off for the start-up (faster: ~0.15 s of ``arvr-vio-infer``'s start-up were
collector passes) and then freezes everything alive (``gc.freeze``): it is never walked again, and
later passes only see what the run itself creates. Garbage made after the block is still collected.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off for the block; then everything alive frozen out of its reach and the
    collector back as it was (also when the block raises)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
