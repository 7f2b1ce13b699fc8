"""Webhook rules (domain/rules.py): the signature receivers check, the retry backoff, subscriptions."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.metering.webhooks.domain.rules import (
    RetryPolicy,
    internal_address,
    is_delivered,
    signature_header,
    subscribes,
    verify_signature,
)

SECRET = "whsec_0123456789abcdef"
BODY = b'{"specversion":"1.0","id":"e-1"}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = signature_header(SECRET, 1_767_225_600, BODY)
    expected = hmac.new(SECRET.encode(), b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1767225600,v1={expected}"


def test_receivers_accept_only_the_same_body_secret_and_a_recent_time() -> None:
    header = signature_header(SECRET, 1000, BODY)
    assert verify_signature(SECRET, header, BODY, now=1000 + 299)
    assert not verify_signature(SECRET, header, BODY + b" ", now=1000)
    assert not verify_signature("whsec_another_secret_", header, BODY, now=1000)
    assert not verify_signature(SECRET, header, BODY, now=1000 + 301)  # a replay
    assert not verify_signature(SECRET, "v1=abc", BODY, now=1000)
    assert not verify_signature(SECRET, "t=x,v1=abc", BODY, now=1000)


def test_backoff_doubles_up_to_the_cap_with_jitter_and_stops_after_the_last_attempt() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay_s=2.0, max_delay_s=10.0, jitter=0.5)
    ceilings = [2.0, 4.0, 8.0, 10.0, 10.0]
    for attempt, ceiling in enumerate(ceilings, start=1):
        assert policy.delay_after(attempt, 0.0) == ceiling / 2
        assert policy.delay_after(attempt, 0.999) == pytest.approx(ceiling * 0.9995)
    assert policy.delay_after(6, 0.5) is None
    assert RetryPolicy(max_attempts=1).delay_after(1, 0.5) is None


def test_a_policy_must_make_sense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay_s=10, max_delay_s=5)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.5)


def test_only_2xx_is_delivered() -> None:
    assert is_delivered(200) and is_delivered(204)
    assert not any(is_delivered(code) for code in (None, 199, 301, 410, 500))


def test_no_types_subscribes_to_every_billing_event() -> None:
    assert subscribes((), "metering.v1.usage.rated")
    assert subscribes(("metering.v1.budget.exhausted",), "metering.v1.budget.exhausted")
    assert not subscribes(("metering.v1.budget.exhausted",), "metering.v1.usage.rated")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata endpoints live here
        ("fe80::1%eth0", "link-local"),
        ("::ffff:10.0.0.1", "private"),  # an IPv4-mapped address is judged as the IPv4 one
        ("0.0.0.0", "private"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_internal_addresses_are_named(address: str, kind: str) -> None:
    assert internal_address(address) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_are_not_internal(address: str) -> None:
    assert internal_address(address) is None
