"""The events a node's workloads report, with ids derived from (node, allocation, launch): an event re-sent
after a crash keeps its id, so JetStream's dedupe window and consumers' processed-event records drop it."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.agent.domain.state import WorkloadRecord
from shared.events.agent import WorkloadExited, WorkloadStarted

EVENT_ID_NAMESPACE = uuid.UUID("5f0c3c52-8d2e-4a8e-9a51-2f8f2b1d6a10")


def event_id(node_id: str, record: WorkloadRecord, what: str) -> uuid.UUID:
    # One started and at most one exit of each kind per launch, each with an id of its own.
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{node_id}/{record.allocation_id}/{record.launches}/{what}")


def started_event(node_id: str, record: WorkloadRecord, at: datetime) -> WorkloadStarted:
    return WorkloadStarted(
        event_id=event_id(node_id, record, "started"),
        occurred_at=at,
        tenant_id=record.tenant_id,
        node_id=node_id,
        job_id=record.job_id,
        allocation_id=record.allocation_id,
        replica=record.replica,
        pid=record.pid,
        epoch=record.epoch,
    )


def exited_event(
    node_id: str,
    record: WorkloadRecord,
    code: int,
    at: datetime,
    *,
    will_restart: bool,
    stopped: bool,
    refused: bool = False,
) -> WorkloadExited:
    return WorkloadExited(
        event_id=event_id(node_id, record, "exited:restart" if will_restart else "exited:final"),
        occurred_at=at,
        tenant_id=record.tenant_id,
        node_id=node_id,
        job_id=record.job_id,
        allocation_id=record.allocation_id,
        replica=record.replica,
        exit_code=code,
        will_restart=will_restart,
        stopped=stopped,
        refused=refused,
    )
