"""The scheduling policy engine: `decide(snapshot, policy) -> Decisions`, pure standard library.

Vocabulary in model.py; queueing policies in queueing/ (QUEUEING_POLICIES), placement policies in
placement/ (PLACEMENT_POLICIES); a pool's configuration is a PoolPolicy; what the engine keeps from one
cycle to the next is the caller's EngineCache.
"""

from services.scheduler.domain.engine.cache import EngineCache
from services.scheduler.domain.engine.cycle import decide
from services.scheduler.domain.engine.fairness import decay_usage
from services.scheduler.domain.engine.policy import PoolPolicy
from services.scheduler.domain.engine.queueing import QUEUEING_POLICIES

__all__ = ["QUEUEING_POLICIES", "EngineCache", "PoolPolicy", "decay_usage", "decide"]
