"""Keys, roles, tenant isolation, idempotency fingerprints and page tokens."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from services.gateway.domain.auth import (
    Principal,
    Role,
    generate_api_key,
    hash_api_key,
    is_operator_key,
    require_operator,
    require_role,
    require_tenant_access,
    scope_tenant,
)
from services.gateway.domain.errors import Forbidden, InvalidInput, NotFound
from services.gateway.domain.requests import (
    JobPageCursor,
    check_idempotency_key,
    listing_filters,
    request_fingerprint,
)

VIEWER = Principal("tnt_a", Role.VIEWER)
MEMBER = Principal("tnt_a", Role.MEMBER)
ADMIN = Principal("tnt_a", Role.ADMIN)
OPERATOR = Principal.operator()


def test_generated_keys_are_prefixed_unique_and_stored_as_sha256() -> None:
    first, second = generate_api_key(), generate_api_key()
    assert first.plaintext.startswith("afk_") and len(first.plaintext) > 40
    assert first.plaintext != second.plaintext
    assert (
        first.key_hash
        == hashlib.sha256(first.plaintext.encode()).hexdigest()
        == hash_api_key(first.plaintext)
    )


def test_the_operator_key_matches_only_itself_and_an_empty_one_matches_nothing() -> None:
    assert is_operator_key("s3cret", "s3cret")
    assert not is_operator_key("s3cre", "s3cret")
    assert not is_operator_key("", "")


@pytest.mark.parametrize(
    ("principal", "needed", "allowed"),
    [
        (VIEWER, Role.VIEWER, True),
        (VIEWER, Role.MEMBER, False),
        (MEMBER, Role.MEMBER, True),
        (MEMBER, Role.ADMIN, False),
        (ADMIN, Role.ADMIN, True),
        (OPERATOR, Role.ADMIN, True),
    ],
)
def test_roles_are_ordered_viewer_member_admin(principal: Principal, needed: Role, allowed: bool) -> None:
    if allowed:
        require_role(principal, needed)
    else:
        with pytest.raises(Forbidden, match=f"needs the {needed.value} role"):
            require_role(principal, needed)


def test_only_the_operator_passes_operator_checks() -> None:
    require_operator(OPERATOR)
    with pytest.raises(Forbidden):
        require_operator(ADMIN)


def test_another_tenants_resource_reads_as_not_found() -> None:
    require_tenant_access(ADMIN, "tnt_a", "job", "job_1")
    require_tenant_access(OPERATOR, "tnt_b", "job", "job_1")
    with pytest.raises(NotFound, match="job job_1 not found"):
        require_tenant_access(ADMIN, "tnt_b", "job", "job_1")


def test_listings_are_scoped_to_the_callers_tenant() -> None:
    assert scope_tenant(VIEWER, None) == "tnt_a"
    assert scope_tenant(VIEWER, "tnt_a") == "tnt_a"
    assert scope_tenant(OPERATOR, None) is None
    assert scope_tenant(OPERATOR, "tnt_b") == "tnt_b"
    with pytest.raises(NotFound):
        scope_tenant(VIEWER, "tnt_b")


def test_fingerprints_ignore_key_order_but_not_values() -> None:
    assert request_fingerprint({"a": 1, "b": [1, 2]}) == request_fingerprint({"b": [1, 2], "a": 1})
    assert request_fingerprint({"a": 1}) != request_fingerprint({"a": 2})


def test_idempotency_keys_must_be_short_and_not_blank() -> None:
    check_idempotency_key("retry-1")
    for bad in ("", "   ", "k" * 201):
        with pytest.raises(InvalidInput, match="Idempotency-Key"):
            check_idempotency_key(bad)


def test_page_tokens_round_trip_and_are_bound_to_their_filters() -> None:
    filters = listing_filters("tnt_a", None, "running")
    cursor = JobPageCursor(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "job_abc", filters)
    token = cursor.encode()
    assert "=" not in token
    assert JobPageCursor.decode(token, filters) == cursor
    with pytest.raises(InvalidInput, match="other filters"):
        JobPageCursor.decode(token, listing_filters("tnt_a", None, None))


@pytest.mark.parametrize(
    "token", ["garbage!", "e30", "bm90IGpzb24", "eyJjIjoibm90LWEtZGF0ZSIsImoiOiJ4IiwiZiI6InkifQ"]
)
def test_forged_or_broken_page_tokens_are_invalid_input(token: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        JobPageCursor.decode(token, "whatever")
    assert caught.value.errors[0].field == "page_token"
    assert caught.value.errors[0].location == "query"
