"""Budgets and webhook endpoints as tenants set them: their identifiers (a budget's terms are the
pricing core's, pricing.budgets; a webhook endpoint's, shared/contracts/webhook_endpoints.py).

A budget belongs to its scope (a project, or a tenant's whole spend): one per scope, so its id is the
scope's. Metering keeps and tracks both; the gateway checks the input and who may set it.
"""

from __future__ import annotations

import secrets
import uuid


def budget_id_for(scope_id: str) -> str:
    return f"bud_{scope_id}"


def new_endpoint_id() -> str:
    return f"whk_{uuid.uuid4().hex[:12]}"


def generate_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"
