"""The scheduling policy engine: `decide(snapshot, policy) -> Decisions`, pure standard library.

Vocabulary in model.py; queueing policies in queueing/ (QUEUEING_POLICIES), placement policies in
placement/ (PLACEMENT_POLICIES); a pool's configuration is a PoolPolicy.
"""

from services.scheduler.domain.engine.cycle import decide
from services.scheduler.domain.engine.fairness import decay_usage
from services.scheduler.domain.engine.policy import PoolPolicy
from services.scheduler.domain.engine.queueing import QUEUEING_POLICIES

__all__ = ["QUEUEING_POLICIES", "PoolPolicy", "decay_usage", "decide"]
