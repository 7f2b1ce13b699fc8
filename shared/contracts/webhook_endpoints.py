"""What makes a webhook endpoint acceptable, as a tenant sets it: one rule that the gateway applies at
the edge (a 422 naming each field) and metering applies to the WebhookEndpointSet it records (a dead
letter with the reason), so the two can never drift apart. Pure: the standard library and the event
catalogue only.

Where a delivery may go is the address rule below (non_global_reason): only globally routable
addresses, unless the operator allows its own network. Metering applies it at delivery time to every
address the host resolves to (DNS answers change between the setting and the sending); the gateway
applies it at registration to a URL whose host is a literal IP address (destination_problems), so a
tenant learns at once. Metering does not re-check that at recording: its own check, with the
operator's allowance, is at each delivery, and a refused attempt lands in the tenant's delivery log.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from urllib.parse import urlsplit

from pricing.errors import Problem
from shared.events.metering import BILLING_EVENTS

MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 200
MAX_URL_LENGTH = 2000

BILLING_EVENT_TYPES: tuple[str, ...] = tuple(event_type.TYPE for event_type in BILLING_EVENTS)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
# Carrier-grade NAT (RFC 6598): not private to Python before 3.11.10, yet internal to clouds (Alibaba's
# metadata service answers on 100.100.100.200).
SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
# NAT64's well-known prefix (RFC 6052): reaches the IPv4 address in its last 32 bits.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


def endpoint_problems(url: str, secret: str, event_types: Collection[str]) -> list[Problem]:
    """Every problem of the endpoint, each naming its field (empty when it is acceptable)."""
    problems = []
    if len(url) > MAX_URL_LENGTH or not _is_http_url(url):
        problems.append(
            Problem("url", f"must be an absolute http(s) URL of at most {MAX_URL_LENGTH} characters")
        )
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        problems.append(
            Problem(
                "secret", f"must have {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters (or be left out)"
            )
        )
    known = ", ".join(sorted(BILLING_EVENT_TYPES))
    problems += [
        Problem("event_types", f"{event_type!r} is not a billing event type; known: {known}")
        for event_type in sorted(set(event_types) - set(BILLING_EVENT_TYPES))
    ]
    return problems


def destination_problems(url: str, *, allow_non_global: bool = False) -> list[Problem]:
    """A URL whose host is a literal IP address that is not globally routable (names are judged by
    what they resolve to, at delivery). Empty when the operator allows non-global receivers."""
    host = _hostname(url)
    if allow_non_global or host is None:
        return []
    try:
        reason = non_global_reason(host)
    except ValueError:
        return []  # a name, not an address
    if reason is None:
        return []
    return [Problem("url", f"{host} is a {reason} address; webhooks go to globally routable addresses only")]


def non_global_reason(address: str) -> str | None:
    """Why an IP address is no webhook destination (loopback, private, link-local, ...), or None for a
    globally routable one. Raises ValueError for what is not an IP address.

    Webhook URLs come from tenants: delivering to an address inside the platform's network (or a cloud's
    metadata service) would let a tenant make the platform call it (SSRF). Anything not global is refused,
    and an IPv6 address that carries an IPv4 one (mapped, 6to4, NAT64, Teredo) is judged by that too.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id is not part of the address
    for embedded in _embedded_ipv4(ip):
        if reason := _reason(embedded):
            return reason
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip in NAT64_PREFIX or ip.sixtofour):
        return None  # the IPv4 address it reaches was judged above, and is global
    return _reason(ip)


def _reason(ip: IP) -> str | None:
    # Named kinds first (the error says which); then anything else Python does not call global.
    for kind, flagged in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),  # is_global is True for most multicast groups
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("carrier-grade NAT", isinstance(ip, ipaddress.IPv4Address) and ip in SHARED_ADDRESS_SPACE),
        ("non-global", not ip.is_global),
    ):
        if flagged:
            return kind
    return None


def _embedded_ipv4(ip: IP) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: a connection to it reaches them."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in NAT64_PREFIX:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # the server and the client; Teredo itself is never global either
    return []


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unclosed IPv6 bracket, say: a bad URL, not a crash
        return False


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None
