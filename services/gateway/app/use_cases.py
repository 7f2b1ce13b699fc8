"""Every gateway use case, wired to one store and one clock; the HTTP edge depends on this bundle."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.app.administration import Administration
from services.gateway.app.authentication import Authenticator
from services.gateway.app.billing_and_fleet import Billing, Fleet
from services.gateway.app.jobs import Jobs
from services.gateway.app.ports import GatewayStore
from shared.clock import Clock


@dataclass(frozen=True)
class GatewayUseCases:
    authenticator: Authenticator
    administration: Administration
    jobs: Jobs
    billing: Billing
    fleet: Fleet

    @classmethod
    def build(cls, store: GatewayStore, clock: Clock, admin_key: str) -> GatewayUseCases:
        return cls(
            authenticator=Authenticator(store, admin_key),
            administration=Administration(store, clock),
            jobs=Jobs(store, clock),
            billing=Billing(store, clock),
            fleet=Fleet(store),
        )
