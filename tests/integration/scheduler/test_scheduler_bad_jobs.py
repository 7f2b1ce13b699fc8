"""Issue 11: nothing one tenant's job carries stops scheduling for the others. A job whose row the cycle
cannot process is set aside (failed, with the reason on the job); an old event's out-of-range integer
priority is clamped; a tenant's "high" job preempts another tenant's work only when the operator allows
its project that class (the gateway's rule, whose events the real scheduler then acts on)."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.gateway.app.administration import CreateProject, CreateTenant
from services.gateway.app.jobs import SubmitJob
from services.gateway.app.use_cases import GatewayUseCases
from services.gateway.domain.auth import Principal
from services.gateway.domain.errors import InvalidInput
from shared.clock import ManualClock
from shared.events.gateway import JobSubmitted
from shared.events.jobs import JobSpec, JobState, JobSubmission
from shared.events.priority_classes import PriorityClasses
from shared.events.scheduler import AllocationBound, JobStateChanged, StopWorkload
from tests.integration.scheduler.harness import Bus, Schedulers, leader_epoch, now
from tests.unit.gateway.fakes import InMemoryStore

POISONED_SPEC = '{"name": "poisoned", "command": ["x"], "gpus_per_replica": 1, "max_runtime_s": 1e400}'
BROKEN_SPEC = '{"name": "poisoned", "command": "not a list", "gpus_per_replica": 1}'
INSERT_JOB_SQL = """
INSERT INTO jobs (job_id, tenant_id, project_id, spec, restart_policy, replicas, priority, submitted_at,
                  pool, state, reason, version)
VALUES ($1, 'ten_b', 'prj_b', $2::text::jsonb, 'requeue', 1, 0, now(), 'default', 'pending', 'queued', 1)
"""


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        # A row from before the bound: its maximum runtime is no float8 (the cycle's cast failed on it).
        (POISONED_SPEC, "set aside: max_runtime_s must be more than 0 and at most 31622400 s"),
        # A spec the placement cannot turn into start commands.
        (BROKEN_SPEC, "set aside: its workload cannot be started (command: Input should be a valid array)"),
    ],
)
async def test_a_job_whose_row_the_cycle_cannot_process_is_set_aside_and_the_others_are_placed(
    bus: Bus, schedulers: Schedulers, spec: str, reason: str
) -> None:
    host = await schedulers.start()
    await leader_epoch(host)
    await host.db.pool.execute(INSERT_JOB_SQL, "poisoned", spec)
    await bus.submit("good", gpus=1)
    await bus.register("n1", gpus=2)

    bound = await bus.wait_for(AllocationBound, job_id="good")
    assert bound.node_id == "n1"
    failed = await bus.wait_for(JobStateChanged, job_id="poisoned", state=JobState.FAILED)
    assert failed.reason.startswith(reason), failed.reason
    assert not bus.events(AllocationBound, job_id="poisoned")
    # And the cycle goes on: a later job is placed too.
    await bus.submit("later", gpus=1)
    await bus.wait_for(AllocationBound, job_id="later")


async def test_an_old_event_with_a_priority_beyond_int32_is_placed_at_most_at_the_default_class(
    bus: Bus, schedulers: Schedulers
) -> None:
    host = await schedulers.start()
    await leader_epoch(host)
    await bus.register("n1", gpus=1)
    await bus.submit("huge", gpus=1, priority=2**40)

    await bus.wait_for(AllocationBound, job_id="huge")
    stored = await host.db.pool.fetchval("SELECT priority FROM jobs WHERE job_id = 'huge'")
    assert stored == PriorityClasses().default_value


class GatewaySide:
    """The gateway's use cases (in memory) with its priority classes: the events they emit go to the bus."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.store = InMemoryStore()
        self.cases = GatewayUseCases.build(
            self.store, ManualClock(), "operator-key", classes=PriorityClasses()
        )

    async def project(self, tenant: str, max_priority_class: str | None = None) -> tuple[Principal, str]:
        operator = Principal.operator()
        created = await self.cases.administration.create_tenant(operator, CreateTenant(tenant))
        admin = await self.cases.authenticator.authenticate(created.admin_key)
        project = await self.cases.administration.create_project(
            operator, CreateProject("research", created.tenant.tenant_id, max_priority_class)
        )
        return admin, project.project_id

    async def submit(self, principal: Principal, project_id: str, name: str, priority_class: str) -> str:
        spec = JobSubmission(
            name=name, command=["train.py"], gpus_per_replica=2, priority_class=priority_class
        )
        job = (await self.cases.jobs.submit(principal, SubmitJob(project_id, spec))).job
        event = next(e for e in self.store.outbox if isinstance(e, JobSubmitted) and e.job_id == job.job_id)
        await self.bus.publish(event)
        return job.job_id


async def test_a_tenants_high_job_preempts_another_tenants_work_only_if_its_project_may_use_high(
    bus: Bus, schedulers: Schedulers
) -> None:
    await leader_epoch(await schedulers.start(scheduler_min_runtime_s=0.2))
    await bus.register("n1", gpus=2)
    gateway = GatewaySide(bus)
    tenant_a, project_a = await gateway.project("a")
    running = await gateway.submit(tenant_a, project_a, "a-work", "normal")
    bound = await bus.wait_for(AllocationBound, job_id=running)
    await bus.started(bound)
    await bus.wait_for(JobStateChanged, job_id=running, state=JobState.RUNNING)

    # 1. Tenant B's project may use the default class only: "high" is refused at the gateway, and an
    #    old event's huge integer priority is read at the default class: neither preempts A's work.
    tenant_b, project_b = await gateway.project("b")
    with pytest.raises(InvalidInput, match="spec.priority_class: priority class 'high' is above"):
        await gateway.submit(tenant_b, project_b, "b-high", "high")
    old = JobSpec(name="b-old", command=["train.py"], gpus_per_replica=2, priority=2**31 + 5)
    await bus.publish(
        JobSubmitted(occurred_at=now(), tenant_id="ten_b", project_id=project_b, job_id="b-old", spec=old)
    )
    await bus.wait_for(JobStateChanged, job_id="b-old", state=JobState.PENDING)
    await asyncio.sleep(1.0)  # several cycles
    assert not bus.events(StopWorkload, allocation_id=bound.allocation_id)

    # 2. The operator allows tenant C's project "high": its high job preempts A's.
    tenant_c, project_c = await gateway.project("c", max_priority_class="high")
    urgent = await gateway.submit(tenant_c, project_c, "c-high", "high")
    stop = await bus.wait_for(StopWorkload, allocation_id=bound.allocation_id)
    assert f"for job {urgent}" in stop.reason
    assert json.loads(JobSpec.model_validate(old.model_dump()).model_dump_json())["priority"] == 2**31 + 5
