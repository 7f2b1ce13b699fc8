"""The gateway's signed assertion to metering (shared/contracts/service_auth.py): what it signs holds only
for that key, scope, method, path and minute; any altered field, another key, an expired or far-future
token, another path or method is refused; the shared secret must be long and no placeholder."""

from __future__ import annotations

import base64

import pytest

from shared.contracts import service_auth
from shared.contracts.service_auth import (
    CLOCK_LEEWAY_S,
    MIN_KEY_LENGTH,
    SCHEME,
    TTL_S,
    InvalidAssertion,
    ServiceScope,
    authorization,
    service_key_problem,
    sign,
    verify,
    verify_authorization,
)

KEY = "k" * 16 + "0123456789abcdef-service-secret"
NOW = 1_800_000_000.0
PATH = "/v1/webhooks/deliveries"
ACME = ServiceScope.tenant("tnt_acme")


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def refused(token: str, *, key: str = KEY, method: str = "GET", path: str = PATH, now: float = NOW) -> str:
    with pytest.raises(InvalidAssertion) as error:
        verify(key, token, method, path, now)
    return str(error.value)


def test_a_signed_assertion_gives_back_its_scope_expiry_and_nonce() -> None:
    token = sign(KEY, ACME, "GET", PATH, NOW, nonce="n0nce")

    assertion = verify(KEY, token, "GET", PATH, NOW + 30)

    assert (assertion.scope, assertion.expires_at, assertion.nonce) == (ACME, int(NOW) + TTL_S, "n0nce")
    assert verify(KEY, sign(KEY, ServiceScope.fleet(), "GET", PATH, NOW), "get", PATH, NOW).scope.is_fleet


@pytest.mark.parametrize("tenant_id", ["t1", "tnt.with.dots", "a:b:c", "fleet", "tenant:x", "ünï cödé\n"])
def test_any_tenant_id_comes_back_as_it_was_signed(tenant_id: str) -> None:
    scope = ServiceScope.tenant(tenant_id)
    assert verify(KEY, sign(KEY, scope, "GET", PATH, NOW), "GET", PATH, NOW).scope == scope
    assert not scope.is_fleet


def test_each_token_has_its_own_nonce() -> None:
    assert sign(KEY, ACME, "GET", PATH, NOW) != sign(KEY, ACME, "GET", PATH, NOW)


def test_an_empty_tenant_is_no_scope_and_never_the_fleet() -> None:
    with pytest.raises(ValueError):
        ServiceScope.tenant("")


@pytest.mark.parametrize("field", [1, 2, 3, 4])
def test_altering_any_field_breaks_the_signature(field: int) -> None:
    parts = sign(KEY, ACME, "GET", PATH, NOW, nonce="n0nce").split(".")
    replacements = {1: b64("tenant:tnt_globex"), 2: str(int(NOW) + 30), 3: "other", 4: b64("x" * 32)}
    parts[field] = replacements[field]

    assert "signature" in refused(".".join(parts))


def test_a_scope_swapped_to_the_fleet_is_refused() -> None:
    parts = sign(KEY, ACME, "GET", "/v1/chargeback", NOW).split(".")
    parts[1] = b64("fleet")
    assert "signature" in refused(".".join(parts), path="/v1/chargeback")


def test_another_key_is_refused() -> None:
    token = sign("another-" + KEY, ACME, "GET", PATH, NOW)
    assert "signature" in refused(token)
    assert "no service key" in refused(sign(KEY, ACME, "GET", PATH, NOW), key="")


def test_another_path_or_method_is_refused() -> None:
    token = sign(KEY, ACME, "GET", "/v1/webhooks", NOW)
    assert "another method or path" in refused(token, path=PATH)
    assert "another method or path" in refused(token, path="/v1/webhooks/")
    assert "another method or path" in refused(token, path="/v1/webhooks", method="POST")


def test_an_expired_assertion_is_refused_after_the_leeway() -> None:
    token = sign(KEY, ACME, "GET", PATH, NOW)
    expires = int(NOW) + TTL_S
    assert verify(KEY, token, "GET", PATH, expires + CLOCK_LEEWAY_S).scope == ACME
    assert refused(token, now=expires + CLOCK_LEEWAY_S + 1) == "the service assertion has expired"


def test_an_assertion_made_far_ahead_is_refused() -> None:
    token = sign(KEY, ACME, "GET", PATH, NOW + 3600)  # a long-lived token, or a clock far ahead
    assert refused(token) == "the service assertion expires too far ahead"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "v1.a.b.c",
        "v1.a.b.c.d.e",
        "v2.{scope}.{expiry}.nonce.{mac}",
        "v1.{scope}.-5.nonce.{mac}",
        "v1.{scope}.{expiry}.no nce.{mac}",
        "v1.{scope}.{expiry}.nonce.not*base64",
        "v1.{scope}.{expiry}.nonce.",
        "v1.{scope}.{expiry}.nonce.{mac}==",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    _, scope, expiry, _, mac = sign(KEY, ACME, "GET", PATH, NOW, nonce="nonce").split(".")
    message = refused(token.format(scope=scope, expiry=expiry, mac=mac))
    assert "malformed" in message or "signature" in message


def test_a_validly_signed_scope_that_is_no_scope_is_refused() -> None:
    # Only a holder of the key could make one: still, neither a bare "tenant:" nor anything else passes.
    for text in ("tenant:", "operator", ""):
        parts = ["v1", b64(text), str(int(NOW) + TTL_S), "nonce"]
        mac = service_auth._mac(KEY, parts[1], "GET", PATH, parts[2], parts[3])
        token = ".".join([*parts, base64.urlsafe_b64encode(mac).rstrip(b"=").decode()])
        assert refused(token) == "the service assertion is malformed"


def test_the_header_names_the_scheme() -> None:
    header = authorization(KEY, ACME, "GET", PATH, NOW)

    assert header.startswith(f"{SCHEME} ")
    assert verify_authorization(KEY, header, "GET", PATH, NOW).scope == ACME
    assert verify_authorization(KEY, header.replace(SCHEME, SCHEME.lower()), "GET", PATH, NOW).scope == ACME
    for bad in (None, "", f"Bearer {KEY}", SCHEME, f"{SCHEME} "):
        with pytest.raises(InvalidAssertion):
            verify_authorization(KEY, bad, "GET", PATH, NOW)


def test_refusals_never_repeat_the_token_nor_the_tenant() -> None:
    token = sign("wrong-" + KEY, ACME, "GET", PATH, NOW)
    message = refused(token)
    assert "tnt_acme" not in message and token not in message


def test_the_shared_secret_is_long_random_and_no_placeholder() -> None:
    assert service_key_problem("x" * 31 + "y") is None
    assert "not set" in (service_key_problem("") or "")
    assert f"fewer than {MIN_KEY_LENGTH}" in (service_key_problem("a1" * 15) or "")
    for placeholder in ("change-me", "changeme", "secret", "CHANGE-ME-metering-api-key-0123456789abcdef"):
        assert "placeholder" in (service_key_problem(placeholder) or "")
    assert "repeated" in (service_key_problem("a" * 64) or "")
    assert KEY not in (service_key_problem(KEY[:20]) or "")
