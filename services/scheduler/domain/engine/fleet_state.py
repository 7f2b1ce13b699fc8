"""What the engine keeps between cycles, per thread and per fleet.

The engine keeps state from one cycle to the next (the cluster state, the running-job index, the
gate's memo, the last Holds) and checks it against each snapshot, so decide() stays a function of
its snapshot. A scheduler that decides several pools in turn on one thread passes each pool's
snapshot with that pool's nodes, the same tuple while the pool's fleet stays the same: state kept for
one pool would be thrown away by the next pool's cycle. So it is kept per nodes tuple, for the last
few fleets.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from services.scheduler.domain.engine.model import Node

MAX_FLEETS = 8

_local = threading.local()

State = dict[str, Any]


def fleet_state(nodes: tuple[Node, ...]) -> State:
    """This thread's kept state for the fleet `nodes` (found by identity, else by equality)."""
    kept: OrderedDict[int, tuple[tuple[Node, ...], State]] | None = getattr(_local, "fleets", None)
    if kept is None:
        kept = _local.fleets = OrderedDict()
    entry = kept.get(id(nodes))
    if entry is None or entry[0] is not nodes:
        # The same fleet in a new tuple (equal tuples of the same Node objects compare fast).
        same = next((key for key, (known, _) in kept.items() if known == nodes), None)
        state: State = kept.pop(same)[1] if same is not None else {}
        entry = kept[id(nodes)] = (nodes, state)  # holding `nodes` keeps its id unique
        while len(kept) > MAX_FLEETS:
            kept.popitem(last=False)
    kept.move_to_end(id(nodes))
    return entry[1]
