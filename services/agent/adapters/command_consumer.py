"""The node's commands from the durable pull consumer agent-<node>-cmd on agent.v1.<node>.cmd.> (stream AGENT).

Each command is acked after the agent applied it (or refused it: refusals are final). One that cannot
be parsed is logged with the reason and terminated, as is one whose handling keeps failing; the
consumer goes on with the next.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.agent.app.cancellation import raise_if_cancelled
from services.agent.app.ports import CommandHandler
from shared.events.scheduler import StartWorkload, StopWorkload
from shared.messaging.routes import parse_event
from shared.messaging.streams import AGENT

log = logging.getLogger(__name__)

COMMAND_TYPES = (StartWorkload, StopWorkload)
MAX_DELIVERIES = 5
FETCH_BATCH = 16
FETCH_WAIT_S = 1.0


def command_subject(node_id: str) -> str:
    return f"agent.v1.{node_id}.cmd.>"


def command_durable(node_id: str) -> str:
    return f"agent-{node_id}-cmd"


class JetStreamCommandSource:
    def __init__(self, js: JetStreamContext, node_id: str) -> None:
        self._js = js
        self._node_id = node_id
        self._subscription: JetStreamContext.PullSubscription | None = None

    async def open(self) -> None:
        self._subscription = await self._js.pull_subscribe(
            command_subject(self._node_id),
            durable=command_durable(self._node_id),
            stream=AGENT.name,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                # A new node starts from now: older commands addressed to its name are not its own.
                deliver_policy=DeliverPolicy.NEW,
                max_deliver=MAX_DELIVERIES + 1,
                ack_wait=30,
            ),
        )

    async def run(self, handle: CommandHandler) -> None:
        if self._subscription is None:
            await self.open()
        assert self._subscription is not None
        while True:
            raise_if_cancelled()
            try:
                messages = await self._subscription.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
            except (TimeoutError, NatsTimeoutError):
                raise_if_cancelled()
                continue
            except Exception as error:  # a lost connection: nats-py reconnects, fetch again shortly
                raise_if_cancelled()
                log.warning("fetching commands failed: %r", error)
                await asyncio.sleep(FETCH_WAIT_S)
                continue
            for message in messages:
                await self._handle(message, handle)

    async def close(self) -> None:
        """Unsubscribe (the durable consumer stays), so closing the connection need not drain it."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                await subscription.unsubscribe()
            except Exception as error:
                log.debug("unsubscribing commands failed: %r", error)

    async def _handle(self, message: Msg, handle: CommandHandler) -> None:
        headers = dict(message.headers or {})
        try:
            command = parse_event(COMMAND_TYPES, headers, message.data)
        except ValueError as error:
            log.error("dead letter: command on %s rejected: %s", message.subject, error)
            await message.term()
            return
        if command is None:
            log.warning(
                "ignoring %s on %s: not a command this agent knows", headers.get("ce-type"), message.subject
            )
            await message.ack()
            return
        try:
            await handle(command)
        except Exception as error:
            deliveries = message.metadata.num_delivered if message.metadata else 1
            if deliveries >= MAX_DELIVERIES:
                log.error(
                    "dead letter: command on %s failed %d times; last error: %r",
                    message.subject,
                    deliveries,
                    error,
                )
                await message.term()
            else:
                log.warning(
                    "command on %s failed (delivery %d), retrying: %r", message.subject, deliveries, error
                )
                await message.nak(delay=min(0.2 * 2**deliveries, 10.0))
            return
        await message.ack()
