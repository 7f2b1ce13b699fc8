"""The workloads of one node: launch, watch, restart inference replicas, stop, and reconcile after a restart.

Every change is saved to the state file before it is reported, so a killed agent picks up where it
was. Started and exited events have ids derived from (allocation, launch) (workload_events.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from services.agent.app.cancellation import raise_if_cancelled
from services.agent.app.ports import (
    EXIT_REJECTED,
    UNKNOWN_EXIT_CODE,
    EventPublisher,
    LaunchFailed,
    StateStore,
    WorkloadProcesses,
)
from services.agent.app.workload_events import exited_event, started_event
from services.agent.domain.restart import consecutive_failures_after_exit, restart_delay
from services.agent.domain.state import AgentState, Phase, WorkloadRecord
from shared.clock import Clock
from shared.events.agent import ExitedWorkload, RunningWorkload
from shared.events.jobs import share_to_milli
from shared.events.scheduler import StartWorkload, StopWorkload

log = logging.getLogger(__name__)

SIGKILL_EXIT_CODE = 128 + 9
# After SIGKILL, how long to wait for the process table to show the exit.
KILL_WAIT_S = 5.0


# The most recent finished allocations a registration lists: an exit reported just before a crash may
# still be on its way to the scheduler, which must not take its allocation for gone meanwhile.
FINISHED_REPORTED = 1024


@dataclass
class Accounting:
    """Every allocation an agent accounts for at its start (the lists of its NodeRegistered)."""

    running: list[RunningWorkload] = field(default_factory=list)
    exited: list[ExitedWorkload] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SupervisorSettings:
    restart_backoff_s: float = 1.0
    restart_backoff_max_s: float = 30.0
    max_stop_grace_s: float = 60.0
    poll_s: float = 0.2
    # How long a finished allocation is remembered, so a start command for it is never run again: main
    # wires the AGENT stream's max_age, beyond which no command (nor its redelivery) is left to arrive.
    finished_kept_s: float = 7 * 86_400.0


class WorkloadSupervisor:
    """Commands (start, refuse, stop) must be called holding `lock`; the watch loop takes it itself."""

    def __init__(
        self,
        node_id: str,
        state: AgentState,
        store: StateStore,
        processes: WorkloadProcesses,
        publisher: EventPublisher,
        clock: Clock,
        settings: SupervisorSettings,
        *,
        on_busy_changed: Callable[[frozenset[str]], None] = lambda _: None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node_id = node_id
        self.state = state
        self._store = store
        self._processes = processes
        self._publisher = publisher
        self._clock = clock
        self._settings = settings
        self._on_busy_changed = on_busy_changed
        self._monotonic = monotonic
        self._launched_at: dict[str, float] = {}
        self._restart_due: dict[str, float] = {}
        self._killed: set[str] = set()
        self._stops: dict[str, asyncio.Task[None]] = {}
        # One change at a time: a command and the watch loop must not both settle the same workload.
        self.lock = asyncio.Lock()

    def save(self, *changed: WorkloadRecord) -> None:
        """Durably records the changed workloads (all of the state when none are named)."""
        if changed:
            self._store.save_changes(self.state, [record.allocation_id for record in changed])
        else:
            self._store.save(self.state)
        self._on_busy_changed(self.state.busy_gpus())

    def save_epoch(self) -> None:
        self._store.save_changes(self.state, [])

    def running(self) -> list[RunningWorkload]:
        return self.state.running()

    # --- commands -------------------------------------------------------------------------------

    async def start(self, command: StartWorkload) -> None:
        record = self._record_for(command)
        self.state.workloads[record.allocation_id] = record
        self.save(record)  # LAUNCHING first: a crash during the launch is resolved at restart, not run twice
        await self._launch(record)

    async def refuse(self, command: StartWorkload, reason: str) -> None:
        """A start this node must not run, for the platform's state: the scheduler hears it exited with
        EXIT_REJECTED, refused (it never ran: the job goes back to its queue)."""
        record = self._record_for(command)
        log.warning("refusing to start allocation %s: %s", command.allocation_id, reason)
        self._note(record, f"not started: {reason}")
        await self._report_final_exit(record, EXIT_REJECTED, stopped=False, refused=True)

    def _record_for(self, command: StartWorkload) -> WorkloadRecord:
        exit_file, log_file = self._processes.files_for(
            command.job_id, command.replica, command.allocation_id
        )
        return WorkloadRecord(
            job_id=command.job_id,
            allocation_id=command.allocation_id,
            replica=command.replica,
            kind=command.kind.value,
            command=list(command.command),
            env=dict(command.env),
            gpu_uuids=list(command.gpu_uuids),
            epoch=command.epoch,
            exit_file=exit_file,
            log_file=log_file,
            tenant_id=command.tenant_id,
            gpu_milli=share_to_milli(command.gpu_share),
        )

    async def stop(self, command: StopWorkload) -> None:
        record = self.state.workloads[command.allocation_id]
        had_process = record.has_process
        record.phase = Phase.STOPPING
        record.stop_grace_s = max(0.0, min(command.grace_s, self._settings.max_stop_grace_s))
        self._restart_due.pop(record.allocation_id, None)
        self.save(record)
        self._processes.note(record, f"stopping: {command.reason}")
        if had_process:
            self._begin_stop(record)
        else:
            # An inference replica waiting for its restart: there is nothing to terminate.
            code = UNKNOWN_EXIT_CODE if record.last_exit_code is None else record.last_exit_code
            await self._report_final_exit(record, code, stopped=True)

    # --- the watch loop ---------------------------------------------------------------------------

    async def check_once(self) -> None:
        """1. report exits of running processes; 2. relaunch inference replicas whose backoff is over."""
        async with self.lock:
            await self._check_all()

    async def _check_all(self) -> None:
        for record in list(self.state.workloads.values()):
            if record.phase is Phase.RUNNING:
                code = self._processes.exit_code(record)
                if code is not None:
                    await self._on_exit(record, code)
            elif record.phase is Phase.RESTARTING:
                due = self._restart_due.setdefault(record.allocation_id, self._monotonic())
                if self._monotonic() >= due:
                    await self._relaunch(record)

    async def watch(self) -> None:
        while True:
            raise_if_cancelled()
            try:
                await self.check_once()
            except Exception:
                raise_if_cancelled()
                log.exception("checking workloads failed; trying again")
            await asyncio.sleep(self._settings.poll_s)

    # --- after an agent restart -------------------------------------------------------------------

    def reconcile(self) -> Accounting:
        """Adopt what still runs; the rest is settled by resume(). Returns every allocation the agent
        accounts for, for its registration: the scheduler infers nothing about the others."""
        for record in self.state.workloads.values():
            if record.phase is Phase.LAUNCHING and (pid := self._processes.find_launched(record)):
                record.pid, record.phase = pid, Phase.RUNNING
                record.launches += 1
        self.save()
        accounting = Accounting(finished=list(self.state.finished)[-FINISHED_REPORTED:])
        for record in self.state.workloads.values():
            code = self._processes.exit_code(record) if record.has_process else None
            if record.has_process and code is None:
                accounting.running.append(record.as_running())
            elif code is not None and (record.phase is Phase.STOPPING or not record.is_inference):
                # What resume() reports as the final exit, with the same code.
                accounting.exited.append(self._ended_while_away(record, code))
            else:  # launching, an inference replica to restart, or stopping with no process left
                accounting.held.append(record.allocation_id)
        return accounting

    def _ended_while_away(self, record: WorkloadRecord, code: int) -> ExitedWorkload:
        return ExitedWorkload(
            job_id=record.job_id,
            allocation_id=record.allocation_id,
            replica=record.replica,
            exit_code=code,
            stopped=record.phase is Phase.STOPPING,
        )

    async def resume(self) -> None:
        """Report what ended while the agent was away, and carry on with launches and stops."""
        async with self.lock:
            await self._resume_all()

    async def _resume_all(self) -> None:
        for record in list(self.state.workloads.values()):
            if record.phase is Phase.LAUNCHING:
                await self._launch(record)
            elif record.phase is Phase.RUNNING:
                if (code := self._processes.exit_code(record)) is not None:
                    await self._on_exit(record, code)
                else:
                    self._launched_at[record.allocation_id] = self._monotonic()
                    await self._publisher.publish(
                        started_event(self.node_id, record, self._clock.now())
                    )  # same id: deduplicated
            elif record.phase is Phase.STOPPING:
                if (code := self._processes.exit_code(record)) is not None:
                    await self._report_final_exit(record, code, stopped=True)
                else:
                    self._begin_stop(record)

    async def close(self) -> None:
        """Stops in flight are abandoned, not forgotten: their STOPPING records resume at restart."""
        for task in self._stops.values():
            task.cancel()
        for task in list(self._stops.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- internals --------------------------------------------------------------------------------

    async def _launch(self, record: WorkloadRecord) -> None:
        try:
            pid = self._processes.launch(record)
        except LaunchFailed as failure:
            # It can never succeed, so an inference replica is not restarted either.
            what = "refused" if failure.refused else "failed to launch"
            log.warning("allocation %s %s: %s", record.allocation_id, what, failure.reason)
            self._note(record, failure.reason)
            await self._report_final_exit(record, failure.exit_code, stopped=False, refused=failure.refused)
            return
        except Exception as error:
            # Whatever a launch raises ends the allocation, reported: left LAUNCHING, the agent would try
            # it again at every restart and crash every time, taking the whole node down.
            log.exception("allocation %s could not be launched", record.allocation_id)
            self._note(record, f"cannot launch: {error!r}")
            await self._report_final_exit(record, EXIT_REJECTED, stopped=False)
            return
        record.pid, record.phase = pid, Phase.RUNNING
        record.launches += 1
        self._launched_at[record.allocation_id] = self._monotonic()
        self.save(record)
        log.info(
            "allocation %s (job %s replica %d) started as pid %d on %s; log %s",
            record.allocation_id, record.job_id, record.replica, pid, record.gpu_uuids or "no GPU", record.log_file,
        )  # fmt: skip
        await self._publisher.publish(started_event(self.node_id, record, self._clock.now()))

    async def _relaunch(self, record: WorkloadRecord) -> None:
        self._restart_due.pop(record.allocation_id, None)
        self._processes.forget(record)
        record.phase = Phase.LAUNCHING
        self.save(record)
        await self._launch(record)

    async def _on_exit(self, record: WorkloadRecord, code: int) -> None:
        if not record.is_inference:
            await self._report_final_exit(record, code, stopped=False)
            return
        ran_for = self._monotonic() - self._launched_at.get(record.allocation_id, self._monotonic())
        record.consecutive_failures = consecutive_failures_after_exit(record.consecutive_failures, ran_for)
        delay = restart_delay(
            record.consecutive_failures,
            self._settings.restart_backoff_s,
            self._settings.restart_backoff_max_s,
        )
        # Reported before it is saved: a crash in between reports it again under the same event id.
        exited = exited_event(self.node_id, record, code, self._clock.now(), will_restart=True, stopped=False)
        await self._publisher.publish(exited)
        record.last_exit_code, record.phase, record.pid = code, Phase.RESTARTING, 0
        self._restart_due[record.allocation_id] = self._monotonic() + delay
        self.save(record)
        self._processes.note(record, f"exited with code {code}; restarting in {delay:.1f}s")

    def _begin_stop(self, record: WorkloadRecord) -> None:
        self._processes.terminate(record)
        self._stops[record.allocation_id] = asyncio.create_task(self._finish_stop(record))

    async def _finish_stop(self, record: WorkloadRecord) -> None:
        try:
            code = await self._wait_for_exit(record, record.stop_grace_s)
            if code is None:
                log.warning(
                    "allocation %s ignored SIGTERM for %.1fs: killing it",
                    record.allocation_id,
                    record.stop_grace_s,
                )
                self._processes.kill(record)
                self._killed.add(record.allocation_id)
                code = await self._wait_for_exit(record, KILL_WAIT_S)
            if code is None or (code == UNKNOWN_EXIT_CODE and record.allocation_id in self._killed):
                code = SIGKILL_EXIT_CODE
            async with self.lock:
                if self.state.workloads.get(record.allocation_id) is record:
                    await self._report_final_exit(record, code, stopped=True)
        finally:
            self._stops.pop(record.allocation_id, None)

    async def _wait_for_exit(self, record: WorkloadRecord, timeout_s: float) -> int | None:
        deadline = self._monotonic() + timeout_s
        while (code := self._processes.exit_code(record)) is None and self._monotonic() < deadline:
            await asyncio.sleep(min(self._settings.poll_s, 0.05))
        return code

    async def _report_final_exit(
        self, record: WorkloadRecord, code: int, *, stopped: bool, refused: bool = False
    ) -> None:
        exited = exited_event(
            self.node_id,
            record,
            code,
            self._clock.now(),
            will_restart=False,
            stopped=stopped,
            refused=refused,
        )
        await self._publisher.publish(exited)
        log.info(
            "allocation %s exited with code %d%s", record.allocation_id, code, " (stopped)" if stopped else ""
        )
        now = self._clock.now().timestamp()
        self.state.finish(record.allocation_id, now)
        self.state.forget_finished_before(now - self._settings.finished_kept_s)
        self._processes.forget(record)
        self._launched_at.pop(record.allocation_id, None)
        self._killed.discard(record.allocation_id)
        self.save(record)

    def _note(self, record: WorkloadRecord, message: str) -> None:
        """A line in the job's log, best effort: failing to write it must not stop the report."""
        try:
            self._processes.note(record, message)
        except Exception:
            log.exception("cannot write to the log of allocation %s", record.allocation_id)
