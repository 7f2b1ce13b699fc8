"""Submitting, reading, listing and cancelling jobs."""

from __future__ import annotations

from dataclasses import dataclass, replace

from services.gateway.app.audit import record
from services.gateway.app.ports import GatewayStore, GatewayUnitOfWork, JobQuery
from services.gateway.domain.auth import Principal, Role, require_role, require_tenant_access, scope_tenant
from services.gateway.domain.errors import IdempotencyKeyReused, InvalidInput, NotFound
from services.gateway.domain.model import Job, new_job_id
from services.gateway.domain.pages import DEFAULT_PAGE_SIZE, check_page_size
from services.gateway.domain.requests import (
    JobPageCursor,
    check_idempotency_key,
    listing_filters,
    request_fingerprint,
)
from services.gateway.domain.rules import CancelOutcome, check_fits_fleet, decide_cancel
from shared.clock import Clock
from shared.events.gateway import JobCancelRequested, JobSubmitted
from shared.events.jobs import JobSpec, JobState, JobSubmission
from shared.events.priority_classes import PriorityClasses


@dataclass(frozen=True)
class SubmitJob:
    project_id: str
    spec: JobSubmission
    idempotency_key: str | None = None

    @property
    def fingerprint(self) -> str:
        # Hash of the validated request, so defaults spelled out or left implicit are the same request.
        return request_fingerprint({"project_id": self.project_id, "spec": self.spec.model_dump(mode="json")})


@dataclass(frozen=True)
class Submitted:
    job: Job
    created: bool  # False: an earlier submission with the same idempotency key


@dataclass(frozen=True)
class ListJobs:
    tenant_id: str | None = None  # operator only: narrow to one tenant
    project_id: str | None = None
    state: JobState | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    page_token: str | None = None


@dataclass(frozen=True)
class JobPage:
    items: list[Job]
    next_page_token: str | None


class Jobs:
    def __init__(self, store: GatewayStore, clock: Clock, classes: PriorityClasses | None = None) -> None:
        self._store = store
        self._clock = clock
        self._classes = classes or PriorityClasses()

    async def submit(self, principal: Principal, command: SubmitJob) -> Submitted:
        require_role(principal, Role.MEMBER)
        if command.idempotency_key is not None:
            check_idempotency_key(command.idempotency_key)
        async with self._store.transaction() as uow:
            project = await uow.projects.get(command.project_id)
            if project is None:
                raise NotFound("project", command.project_id)
            require_tenant_access(principal, project.tenant_id, "project", command.project_id)
            earlier = await _earlier_submission(uow, project.tenant_id, command)
            if earlier is not None:
                return Submitted(earlier, created=False)
            spec = self._in_class(command.spec, project.max_priority_class)
            check_fits_fleet(spec, await uow.nodes.list())
            now = self._clock.now()
            job = Job(
                job_id=new_job_id(),
                tenant_id=project.tenant_id,
                project_id=project.project_id,
                spec=spec,
                state=JobState.PENDING,
                reason="",
                version=0,
                created_at=now,
                updated_at=now,
                idempotency_key=command.idempotency_key,
                request_fingerprint=command.fingerprint if command.idempotency_key else None,
            )
            if not await uow.jobs.add(job):
                # A concurrent request with the same key committed first: answer with its job.
                earlier = await _earlier_submission(uow, project.tenant_id, command)
                assert earlier is not None
                return Submitted(earlier, created=False)
            await uow.emit(
                JobSubmitted(
                    occurred_at=now,
                    tenant_id=job.tenant_id,
                    project_id=job.project_id,
                    job_id=job.job_id,
                    spec=job.spec,
                )
            )
            await record(uow, principal, "job.submit", job.job_id, job.tenant_id, now)
        return Submitted(job, created=True)

    def _in_class(self, submitted: JobSubmission, project_max: str | None) -> JobSpec:
        """The spec in its priority class (the default one if it names none), at that class's priority;
        a class unknown or above the project's maximum is refused."""
        name = submitted.priority_class or self._classes.default
        refusal = self._classes.refusal(name, project_max)
        if refusal is not None:
            raise InvalidInput.one("spec.priority_class", refusal)
        return submitted.to_spec(name, self._classes.engine_priority(name))

    async def get(self, principal: Principal, job_id: str) -> Job:
        async with self._store.reading() as uow:
            return await _visible_job(uow, principal, job_id)

    async def list(self, principal: Principal, query: ListJobs) -> JobPage:
        check_page_size(query.page_size)
        tenant_id = scope_tenant(principal, query.tenant_id)
        filters = listing_filters(tenant_id, query.project_id, query.state)
        after = JobPageCursor.decode(query.page_token, filters) if query.page_token else None
        async with self._store.reading() as uow:
            # One row more than asked tells whether another page follows.
            rows = await uow.jobs.list(
                JobQuery(tenant_id, query.project_id, query.state, after, query.page_size + 1)
            )
        items = rows[: query.page_size]
        next_token = None
        if len(rows) > query.page_size:
            last = items[-1]
            next_token = JobPageCursor(last.created_at, last.job_id, filters).encode()
        return JobPage(items, next_token)

    async def cancel(self, principal: Principal, job_id: str) -> Job:
        require_role(principal, Role.MEMBER)
        async with self._store.transaction() as uow:
            job = await _visible_job(uow, principal, job_id, for_update=True)
            if decide_cancel(job) is CancelOutcome.ALREADY_REQUESTED:
                return job
            now = self._clock.now()
            job = replace(job, cancel_requested_at=now)
            await uow.jobs.save(job)
            await uow.emit(JobCancelRequested(occurred_at=now, tenant_id=job.tenant_id, job_id=job.job_id))
            await record(uow, principal, "job.cancel", job.job_id, job.tenant_id, now)
        return job


async def _earlier_submission(uow: GatewayUnitOfWork, tenant_id: str, command: SubmitJob) -> Job | None:
    if command.idempotency_key is None:
        return None
    earlier = await uow.jobs.find_by_idempotency_key(tenant_id, command.idempotency_key)
    if earlier is not None and earlier.request_fingerprint != command.fingerprint:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {command.idempotency_key!r} was used for job {earlier.job_id} with a different "
            "request; use a new key for a new job"
        )
    return earlier


async def _visible_job(
    uow: GatewayUnitOfWork, principal: Principal, job_id: str, *, for_update: bool = False
) -> Job:
    job = await uow.jobs.get(job_id, for_update=for_update)
    if job is None:
        raise NotFound("job", job_id)
    require_tenant_access(principal, job.tenant_id, "job", job_id)
    return job
