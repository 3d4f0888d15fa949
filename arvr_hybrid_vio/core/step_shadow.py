"""Wrappers that stand in for a network's ``step`` on one instance, and take it back.

An instance attribute named ``step`` shadows the class's method, so the estimator's own code path
(``LearnedMotion`` calling ``network.step``) runs the wrapper unchanged: a CUDA-graph replay
(``core.graph_step``), or the benchmark's probes and autocast. Torch-free.
"""
from __future__ import annotations

from typing import Any


class StepShadow:
    """Base of a wrapper for ``network.step``: remembers what was there, ``remove`` puts it back."""

    def __init__(self, network: Any) -> None:
        self.network = network
        self._previous = network.__dict__.get("step")  # an earlier wrapper, or None (the method)

    def remove(self) -> None:
        """Restore what ``network.step`` was before this wrapper."""
        if self._previous is None:
            del self.network.step
        else:
            self.network.step = self._previous
