"""Jobs: submit (idempotent with Idempotency-Key), read, list with keyset pages, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from services.gateway.adapters.http.dependencies import CurrentPrincipal, Paging, UseCases
from services.gateway.adapters.http.links import JOB, linked, to
from services.gateway.adapters.http.schemas import JobPageResponse, JobResponse, SubmitJobRequest
from services.gateway.app.jobs import ListJobs, SubmitJob
from shared.events.jobs import JobState

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=JobResponse,
    responses=linked(
        201,
        GetJob=to("get_job_v1_jobs__job_id__get", path_job_id=JOB),
        CancelJob=to("cancel_job_v1_jobs__job_id__cancel_post", path_job_id=JOB),
    )
    | {200: {"model": JobResponse, "description": "the job an earlier identical request created"}},
)
async def submit_job(
    body: SubmitJobRequest,
    response: Response,
    principal: CurrentPrincipal,
    use_cases: UseCases,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="repeat a request safely: same key and body, same job"),
    ] = None,
) -> JobResponse:
    """A member or admin of the project's tenant (or the operator)."""
    submitted = await use_cases.jobs.submit(principal, SubmitJob(body.project_id, body.spec, idempotency_key))
    response.status_code = status.HTTP_201_CREATED if submitted.created else status.HTTP_200_OK
    response.headers["Location"] = f"/v1/jobs/{submitted.job.job_id}"
    return JobResponse.of(submitted.job)


@router.get("", response_model=JobPageResponse)
async def list_jobs(
    principal: CurrentPrincipal,
    use_cases: UseCases,
    page: Paging,
    project_id: str | None = None,
    state: JobState | None = None,
    tenant_id: Annotated[str | None, Query(description="operator only: one tenant's jobs")] = None,
) -> JobPageResponse:
    """Newest first; follow next_page_token until it is null."""
    jobs = await use_cases.jobs.list(
        principal, ListJobs(tenant_id, project_id, state, page.page_size, page.page_token)
    )
    return JobPageResponse(
        items=[JobResponse.of(j) for j in jobs.items], next_page_token=jobs.next_page_token
    )


@router.get("/{job_id}", response_model=JobResponse)
async def get_job(job_id: str, principal: CurrentPrincipal, use_cases: UseCases) -> JobResponse:
    return JobResponse.of(await use_cases.jobs.get(principal, job_id))


@router.post("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=JobResponse)
async def cancel_job(job_id: str, principal: CurrentPrincipal, use_cases: UseCases) -> JobResponse:
    """Asks the scheduler to stop the job; repeating it is harmless; a finished job answers 409."""
    return JobResponse.of(await use_cases.jobs.cancel(principal, job_id))
