"""The scheduler's settings (environment prefix AIFACTORY_, like every service)."""

from __future__ import annotations

import os
import socket

from pydantic import Field

from shared.settings import PlatformSettings


def default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class SchedulerSettings(PlatformSettings):
    # A node whose last heartbeat is older than this is declared lost.
    node_lost_after_s: float = Field(default=30.0, gt=0)
    # The leader lease's TTL; the leader refreshes it every third of it.
    lease_ttl_s: float = Field(default=10.0, gt=0)
    # A cycle runs after every relevant event, and at least this often.
    cycle_interval_s: float = Field(default=1.0, gt=0)
    # Names this instance in the lease, for operators.
    instance_id: str = Field(default_factory=default_instance_id)
    # Pending jobs per queue page; a cycle reads pages while free GPUs remain, at most cycle_max_pages.
    cycle_batch_size: int = Field(default=500, ge=1)
    cycle_max_pages: int = Field(default=10, ge=1)
