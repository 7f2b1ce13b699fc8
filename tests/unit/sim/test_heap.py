"""The simulator's calmed garbage collector (sim/heap.py)."""

import gc

from sim.heap import calm_collector


def test_the_calm_collector_is_undone_on_exit():
    # Start unfrozen, as a process that never froze anything (an earlier test in this process may have).
    gc.unfreeze()
    thresholds = gc.get_threshold()
    with calm_collector(young_threshold=12_345):
        assert gc.get_threshold()[0] == 12_345
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0
