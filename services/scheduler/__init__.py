"""The scheduler: quotas, jobs, nodes, GPUs and allocations; places GPU jobs on nodes through their agents.

Run: `python -m services.scheduler.main` (settings: services/scheduler/settings.py, env prefix AIFACTORY_).
Every instance records facts from its consumers; the holder of the leader lease (NATS KV bucket
`scheduler_lease`, key `leader`) runs the cycles: settle exits, lost nodes and cancels, then let the
policy engine (domain/engine, configured by the scheduler_* settings) decide on a snapshot and apply
its decisions, all in one transaction fenced by the lease epoch.
"""
