"""A tenant's view of a factory whose gateways come and go: each call goes to one replica and, when that one
does not answer (or answers 5xx while its database restarts), to the next, until a deadline. Submissions
carry an idempotency key, so a retried submit never makes a second job."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.client.gateway import GatewayClient, GatewayError, GatewayUnreachable

T = TypeVar("T")
RETRY_FOR_S = 90.0


@dataclass
class FailoverClient:
    replicas: list[GatewayClient]
    retries: int = 0  # calls that needed another try, for the report

    @classmethod
    def of(cls, urls: list[str], api_key: str) -> FailoverClient:
        return cls([GatewayClient(url, api_key) for url in urls])

    def with_key(self, api_key: str) -> FailoverClient:
        return FailoverClient([client.with_key(api_key) for client in self.replicas])

    def call(self, action: Callable[[GatewayClient], T]) -> T:
        deadline = time.monotonic() + RETRY_FOR_S
        attempt = 0
        while True:
            client = self.replicas[attempt % len(self.replicas)]
            try:
                return action(client)
            except GatewayUnreachable:
                pass
            except GatewayError as error:
                if error.status < 500:
                    raise
            attempt += 1
            self.retries += 1
            if time.monotonic() > deadline:
                raise TimeoutError(f"no gateway answered for {RETRY_FOR_S}s")
            time.sleep(0.2)

    def submit(self, project_id: str, spec: dict[str, Any], key: str) -> dict[str, Any]:
        return self.call(lambda client: client.submit(project_id, spec, idempotency_key=key))

    def close(self) -> None:
        for client in self.replicas:
            client.close()
