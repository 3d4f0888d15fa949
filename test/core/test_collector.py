"""collector_paused: the collector off in the block, what the block made frozen, the collector restored."""
from __future__ import annotations

import gc

import pytest

from arvr_hybrid_vio.core.collector import collector_paused


@pytest.mark.parametrize("enabled", [True, False])
def test_the_start_up_is_frozen_and_the_collector_restored(enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    try:
        with collector_paused():
            assert not gc.isenabled()
            kept = [[] for _ in range(1000)]  # objects made during the start-up ...
        assert gc.isenabled() == enabled
        assert gc.get_freeze_count() >= len(kept)  # ... are out of the collector's reach
        with pytest.raises(RuntimeError), collector_paused():
            raise RuntimeError("a start-up that fails")
        assert gc.isenabled() == enabled
    finally:
        gc.unfreeze()
        gc.enable()
