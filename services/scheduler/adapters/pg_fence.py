"""The epoch fence in PostgreSQL: one row holding the highest epoch any leader has used.

A newly elected leader claims its epoch here; each cycle's transaction then checks it
(`FENCE_AND_PROBE_SQL` in pg_cycle.py), so a deposed leader's writes are refused.
"""

from __future__ import annotations

from shared.db.pool import Database

# Above every epoch used so far, whatever the lease's revision (it restarts at 1 when NATS loses its
# data), and never below that revision (so epochs continue from those agents saw before this rule).
CLAIM_EPOCH_SQL = "UPDATE leader_fence SET epoch = GREATEST(epoch + 1, $1) RETURNING epoch"


class PgEpochFence:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, lease_revision: int) -> int:
        row = await self._db.fetchrow(CLAIM_EPOCH_SQL, lease_revision)
        assert row is not None, "leader_fence holds one row from the first migration"
        epoch: int = row["epoch"]
        return epoch
