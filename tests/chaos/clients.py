"""A tenant's view of a factory whose gateways come and go: each call goes to one replica and, when that one
does not answer (or answers 5xx while its database restarts), to the next, until a deadline. Submissions
carry an idempotency key, so a retried submit never makes a second job."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shared.client.gateway import GatewayClient, GatewayError, GatewayUnreachable

T = TypeVar("T")
RETRY_FOR_S = 90.0


@dataclass
class FailoverClient:
    replicas: list[GatewayClient]
    retries: int = 0  # calls that needed another try, for the report
    # What a failed try met: "no connection" or the status; anything but 503 is a fault of the gateway.
    failures: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, urls: list[str], api_key: str) -> FailoverClient:
        return cls([GatewayClient(url, api_key) for url in urls])

    def with_key(self, api_key: str) -> FailoverClient:
        return FailoverClient([client.with_key(api_key) for client in self.replicas], failures=self.failures)

    def call(self, action: Callable[[GatewayClient], T]) -> T:
        deadline = time.monotonic() + RETRY_FOR_S
        attempt = 0
        while True:
            client = self.replicas[attempt % len(self.replicas)]
            try:
                return action(client)
            except GatewayUnreachable:
                self.failures["no connection"] += 1
            except GatewayError as error:
                if error.status < 500:
                    raise
                self.failures[str(error.status)] += 1
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
