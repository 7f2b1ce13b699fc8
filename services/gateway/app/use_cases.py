"""Every gateway use case, wired to one store and one clock; the HTTP edge depends on this bundle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.gateway.app.administration import Administration
from services.gateway.app.audit import AuditTrail
from services.gateway.app.authentication import Authenticator
from services.gateway.app.billing_and_fleet import Billing, Fleet
from services.gateway.app.billing_controls import BillingControls, MeteringReader
from services.gateway.app.chargeback import Chargeback, MeteringChargeback
from services.gateway.app.jobs import Jobs
from services.gateway.app.keys import KeyManagement
from services.gateway.app.ports import GatewayStore
from services.gateway.app.usage_and_exports import MeteringExports, UsageAndExports
from shared.clock import Clock
from shared.events.priority_classes import PriorityClasses


class MeteringApi(MeteringReader, MeteringExports, MeteringChargeback, Protocol):
    """Metering's whole internal API, as the gateway reads it."""


@dataclass(frozen=True)
class GatewayUseCases:
    authenticator: Authenticator
    administration: Administration
    keys: KeyManagement
    jobs: Jobs
    billing: Billing
    fleet: Fleet
    billing_controls: BillingControls
    usage_and_exports: UsageAndExports
    chargeback: Chargeback
    audit: AuditTrail

    @classmethod
    def build(
        cls,
        store: GatewayStore,
        clock: Clock,
        admin_key: str,
        metering: MeteringApi | None = None,
        classes: PriorityClasses | None = None,
        *,
        allow_non_global_webhooks: bool = False,
    ) -> GatewayUseCases:
        """`metering`: its internal API, for reading budgets, webhooks, usage and exports (None: not
        readable); `classes`: the operator's priority classes (None: the defaults);
        `allow_non_global_webhooks`: the operator lets webhooks reach internal addresses (as metering's
        AIFACTORY_WEBHOOK_ALLOW_INTERNAL does)."""
        billing = Billing(store, clock)
        return cls(
            authenticator=Authenticator(store, admin_key, clock),
            administration=Administration(store, clock, classes),
            keys=KeyManagement(store, clock),
            jobs=Jobs(store, clock, classes),
            billing=billing,
            fleet=Fleet(store),
            billing_controls=BillingControls(
                store, clock, metering, allow_non_global_webhooks=allow_non_global_webhooks
            ),
            usage_and_exports=UsageAndExports(billing, metering),
            chargeback=Chargeback(metering),
            audit=AuditTrail(store),
        )
