"""What the engine keeps from one cycle to the next: owned by the caller, passed to decide().

A busy pool's fleet, running jobs and queue barely change from one cycle to the next, so the engine
keeps what it built for the last cycle (the fleet's flavors, the running-job index, the gate's memo,
the cluster state, the last Holds) and checks each against the next snapshot: decide() stays a
function of its snapshot, and a fresh cache gives the same decisions, only slower.

One cache belongs to one fleet (a pool's nodes): given a snapshot of another fleet it starts afresh.
A scheduler deciding several pools in turn keeps one cache per pool. Not for two threads at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.scheduler.domain.engine.flavors import FleetFlavors
from services.scheduler.domain.engine.gating import GateMemo
from services.scheduler.domain.engine.holds import HoldsByJob
from services.scheduler.domain.engine.model import Node, RunningJob
from services.scheduler.domain.engine.placement_source import KeptCluster
from services.scheduler.domain.engine.running_index import RunningIndex


@dataclass(eq=False, slots=True)
class EngineCache:
    # The fleet the rest was built for (the last snapshot's nodes).
    nodes: tuple[Node, ...] | None = None
    flavors: FleetFlavors | None = None
    running: RunningIndex | None = None  # of the last snapshot's running jobs
    gate_memo: GateMemo | None = None
    cluster: KeptCluster | None = None  # the last cycle's cluster state, with its Place decisions
    holds: HoldsByJob = field(default_factory=dict)  # the last cycle's Holds, by job id

    def claim(self, nodes: tuple[Node, ...]) -> None:
        """Make this the cache of the fleet `nodes`: kept for the same fleet (the same tuple, or an
        equal one: equal tuples of the same Node objects compare fast), emptied for another."""
        if self.nodes is nodes:
            return
        if self.nodes is None or self.nodes != nodes:
            self.flavors = self.running = self.gate_memo = self.cluster = None
            self.holds = {}
        self.nodes = nodes

    def fleet_flavors(self, nodes: tuple[Node, ...]) -> FleetFlavors:
        """The flavors of the claimed fleet `nodes`, built once per fleet (it rarely changes)."""
        if self.flavors is None:
            self.flavors = FleetFlavors(nodes)
        return self.flavors

    def running_index(self, running: Sequence[RunningJob]) -> RunningIndex:
        """The kept index brought up to date with `running` (by identity: only what changed costs)."""
        index, self.running = self.running, None  # none left half-updated by a failure
        if index is None:
            index = RunningIndex()
        index.update(tuple(running))
        self.running = index
        return index
