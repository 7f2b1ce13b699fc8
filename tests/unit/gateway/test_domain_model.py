"""Identifiers of what the gateway stores (the checks of currencies, periods and GPU model names are the
pricing core's: tests/unit/pricing)."""

from __future__ import annotations

import re

from services.gateway.domain.model import new_job_id, new_key_id, new_project_id, new_tenant_id


def test_identifiers_have_their_prefix_and_length() -> None:
    assert re.fullmatch(r"tnt_[0-9a-f]{12}", new_tenant_id())
    assert re.fullmatch(r"prj_[0-9a-f]{12}", new_project_id())
    assert re.fullmatch(r"job_[0-9a-f]{16}", new_job_id())
    assert re.fullmatch(r"key_[0-9a-f]{12}", new_key_id())
    assert new_job_id() != new_job_id()
