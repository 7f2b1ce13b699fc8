"""The leader lease in a NATS KV bucket: create to acquire, compare-and-swap to refresh, delete to hand
over; the bucket's TTL expires the key of a leader that died. The epoch is claimed from the fence in
PostgreSQL (pg_fence.py), as the bucket's revisions restart at 1 when NATS loses its data."""

from __future__ import annotations

import contextlib

from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

LEASE_BUCKET = "scheduler_lease"
LEASE_KEY = "leader"


async def ensure_lease_bucket(
    js: JetStreamContext, ttl_s: float, bucket: str = LEASE_BUCKET, replicas: int = 1
) -> KeyValue:
    """The bucket with this TTL and at least `replicas` copies (on a cluster, the lease must survive the
    loss of a server like the streams do); an existing one is updated to them."""
    try:
        return await js.create_key_value(bucket=bucket, ttl=ttl_s, history=1, replicas=replicas)
    except BadRequestError:
        # Created earlier with another TTL: the running configuration wins; replicas are never lowered.
        info = await js.stream_info(f"KV_{bucket}")
        config = info.config
        config.max_age = ttl_s
        config.duplicate_window = min(config.duplicate_window or ttl_s, ttl_s)
        config.num_replicas = max(config.num_replicas or 1, replicas)
        await js.update_stream(config)
        return await js.key_value(bucket)


class NatsKvLease:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        ttl_s: float,
        holder: str,
        bucket: str = LEASE_BUCKET,
        replicas: int = 1,
    ) -> None:
        self._js = js
        self._replicas = replicas
        self._ttl_s = ttl_s
        self._holder = holder.encode()
        self._bucket = bucket
        self._kv: KeyValue | None = None
        self._revision: int | None = None

    async def acquire(self) -> int | None:
        kv = await self._store()
        try:
            revision = await kv.create(LEASE_KEY, self._holder)
        except KeyWrongLastSequenceError:
            return None  # another instance holds it
        except Exception:
            self._forget_store()
            raise
        self._revision = revision
        return revision

    async def refresh(self) -> bool:
        if self._revision is None:
            return False
        kv = await self._store()
        try:
            self._revision = await kv.update(LEASE_KEY, self._holder, last=self._revision)
        except KeyWrongLastSequenceError:
            self._revision = None  # it expired and someone else took it
            return False
        except Exception:
            self._forget_store()
            raise
        return True

    async def release(self) -> None:
        if self._revision is None:
            return
        kv = await self._store()
        revision, self._revision = self._revision, None
        # Only our own revision is deleted: a lease someone else took meanwhile stays theirs.
        with contextlib.suppress(KeyWrongLastSequenceError):
            await kv.delete(LEASE_KEY, last=revision)

    def _forget_store(self) -> None:
        # The bucket may be gone (NATS lost its data): the next round creates it again.
        self._kv = None

    async def _store(self) -> KeyValue:
        if self._kv is None:
            self._kv = await ensure_lease_bucket(self._js, self._ttl_s, self._bucket, self._replicas)
        return self._kv
