"""AIFACTORY_NATS_URL names one server or a cluster's servers, comma-separated."""

from __future__ import annotations

import pytest

from shared.messaging.broker import nats_servers


def test_one_url_or_several_comma_separated() -> None:
    assert nats_servers("nats://a:4222") == ["nats://a:4222"]
    assert nats_servers(" nats://a:1, nats://b:2 ,nats://c:3,") == ["nats://a:1", "nats://b:2", "nats://c:3"]


def test_no_url_is_refused() -> None:
    with pytest.raises(ValueError, match="no NATS server URL"):
        nats_servers(" , ")
