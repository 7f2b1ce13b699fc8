"""API keys' lifecycle through the use cases on the in-memory store: expiry, revocation, rotation, the
last use, and who may manage which keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from services.gateway.app.keys import CreateKey
from services.gateway.app.pages import PageRequest
from services.gateway.domain.auth import Principal, Role
from services.gateway.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from tests.unit.gateway.test_use_cases import OPERATOR, World


@pytest.fixture
def world() -> World:
    return World()


async def tenant_admin(world: World, name: str = "acme") -> Principal:
    admin, _ = await world.tenant_with_project(name)
    return admin


async def new_key(
    world: World,
    admin: Principal,
    role: Role = Role.MEMBER,
    expires_at: datetime | None = None,
    ttl_s: int | None = None,
) -> tuple[str, str]:
    """(key_id, secret) of a new key of the admin's tenant."""
    assert admin.tenant_id is not None
    created = await world.cases.keys.create_key(
        admin, CreateKey(admin.tenant_id, role, f"{role.value} key", expires_at, ttl_s)
    )
    return created.key.key_id, created.plaintext


async def refused(world: World, secret: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await world.cases.authenticator.authenticate(secret)
    return caught.value.detail


async def test_a_revoked_key_is_refused_on_its_next_request(world: World) -> None:
    admin = await tenant_admin(world)
    key_id, secret = await new_key(world, admin)
    assert (await world.cases.authenticator.authenticate(secret)).key_id == key_id

    revoked = await world.cases.keys.revoke_key(admin, key_id)
    assert revoked.revoked_at == world.clock.now()
    assert await refused(world, secret) == "the API key was revoked"
    # Again: nothing changes, the first revocation's time stays.
    world.clock.advance(5)
    assert (await world.cases.keys.revoke_key(OPERATOR, key_id)).revoked_at == revoked.revoked_at
    with pytest.raises(Conflict, match="was revoked"):
        await world.cases.keys.rotate_key(admin, key_id)


async def test_a_key_expires_at_its_ttl_or_its_expires_at(world: World) -> None:
    admin = await tenant_admin(world)
    _, short_lived = await new_key(world, admin, ttl_s=60)
    _, dated = await new_key(world, admin, expires_at=world.clock.now() + timedelta(minutes=2))
    world.clock.advance(59)
    await world.cases.authenticator.authenticate(short_lived)
    world.clock.advance(1)
    assert await refused(world, short_lived) == "the API key expired"
    await world.cases.authenticator.authenticate(dated)
    world.clock.advance(60)
    assert await refused(world, dated) == "the API key expired"


@pytest.mark.parametrize(
    ("expiry", "field"),
    [
        ({"ttl_s": 0}, "ttl_s"),
        ({"ttl_s": 10 * 366 * 86_400}, "ttl_s"),
        ({"ttl_s": 60, "expires_at": "now+1h"}, "ttl_s"),
        ({"expires_at": "now"}, "expires_at"),
        ({"expires_at": "now+11y"}, "expires_at"),
    ],
)
async def test_a_bad_expiry_is_refused_naming_the_field(
    world: World, expiry: dict[str, Any], field: str
) -> None:
    admin = await tenant_admin(world)
    moments = {
        "now": world.clock.now(),
        "now+1h": world.clock.now() + timedelta(hours=1),
        "now+11y": world.clock.now() + timedelta(days=11 * 366),
    }
    given = {
        name: moments.get(value, value) if isinstance(value, str) else value for name, value in expiry.items()
    }
    with pytest.raises(InvalidInput) as caught:
        await new_key(world, admin, **given)
    assert [error.field for error in caught.value.errors] == [field]


async def test_a_rotated_keys_old_secret_stops_at_once_and_the_new_one_works(world: World) -> None:
    admin = await tenant_admin(world)
    key_id, old = await new_key(world, admin, Role.VIEWER)
    rotated = await world.cases.keys.rotate_key(admin, key_id)

    assert (rotated.key.key_id, rotated.key.role, rotated.key.name) == (key_id, Role.VIEWER, "viewer key")
    assert rotated.plaintext != old
    assert await refused(world, old) == "the API key is not known"  # no grace: not even its hash is kept
    principal = await world.cases.authenticator.authenticate(rotated.plaintext)
    assert (principal.key_id, principal.role) == (key_id, Role.VIEWER)


async def test_a_rotation_grace_keeps_the_old_secret_working_that_long(world: World) -> None:
    admin = await tenant_admin(world)
    key_id, old = await new_key(world, admin)
    rotated = await world.cases.keys.rotate_key(admin, key_id, grace_s=300)
    assert rotated.key.previous_key_expires_at == world.clock.now() + timedelta(seconds=300)
    world.clock.advance(299)
    assert (await world.cases.authenticator.authenticate(old)).key_id == key_id
    await world.cases.authenticator.authenticate(rotated.plaintext)
    world.clock.advance(1)
    assert await refused(world, old) == "the API key was rotated; use its new secret"
    # A grace out of bounds names the field; revoking ends the new secret and the one in its grace.
    with pytest.raises(InvalidInput, match="grace_s"):
        await world.cases.keys.rotate_key(admin, key_id, grace_s=86_401)
    again = await world.cases.keys.rotate_key(admin, key_id, grace_s=60)
    assert (await world.cases.authenticator.authenticate(rotated.plaintext)).key_id == key_id
    await world.cases.keys.revoke_key(admin, key_id)
    assert await refused(world, again.plaintext) == "the API key was revoked"
    assert await refused(world, rotated.plaintext) == "the API key is not known"


async def test_an_expired_key_cannot_be_rotated_back_to_life(world: World) -> None:
    admin = await tenant_admin(world)
    key_id, _ = await new_key(world, admin, ttl_s=10)
    world.clock.advance(10)
    with pytest.raises(Conflict, match="expired"):
        await world.cases.keys.rotate_key(OPERATOR, key_id)


async def test_the_last_use_is_written_at_most_once_a_minute(world: World) -> None:
    admin = await tenant_admin(world)
    key_id, secret = await new_key(world, admin)
    touches = world.store.state.key_touches
    first = world.clock.now()
    for _ in range(5):
        await world.cases.authenticator.authenticate(secret)
        world.clock.advance(10)
    assert world.store.state.key_touches == touches + 1
    assert (await world.cases.keys.get_key(admin, key_id)).last_used_at == first
    world.clock.advance(20)  # 70 s after the first use
    await world.cases.authenticator.authenticate(secret)
    assert world.store.state.key_touches == touches + 2
    assert (await world.cases.keys.get_key(admin, key_id)).last_used_at == world.clock.now()


async def test_a_tenant_admin_manages_only_its_own_tenants_keys(world: World) -> None:
    acme = await tenant_admin(world, "acme")
    globex = await tenant_admin(world, "globex")
    acme_key, _ = await new_key(world, acme)
    globex_key, _ = await new_key(world, globex)

    own = await world.cases.keys.list_keys(acme)
    assert {k.tenant_id for k in own.items} == {acme.tenant_id}
    assert acme_key in {k.key_id for k in own.items} and len(own.items) == 2  # with the first admin key
    everyone = await world.cases.keys.list_keys(OPERATOR)
    assert {acme_key, globex_key} <= {k.key_id for k in everyone.items}
    assert {k.tenant_id for k in (await world.cases.keys.list_keys(OPERATOR, globex.tenant_id)).items} == {
        globex.tenant_id
    }
    # Another tenant's key or tenant reads as missing, whatever the action.
    for action in (world.cases.keys.get_key, world.cases.keys.revoke_key, world.cases.keys.rotate_key):
        with pytest.raises(NotFound, match=f"key {globex_key} not found"):
            await action(acme, globex_key)
    with pytest.raises(NotFound):
        await world.cases.keys.list_keys(acme, globex.tenant_id)
    with pytest.raises(NotFound):
        await world.cases.keys.get_key(OPERATOR, "key_nope")


async def test_members_and_viewers_manage_no_keys(world: World) -> None:
    admin = await tenant_admin(world)
    key_id, _ = await new_key(world, admin)
    for role in (Role.MEMBER, Role.VIEWER):
        _, secret = await new_key(world, admin, role)
        principal = await world.cases.authenticator.authenticate(secret)
        with pytest.raises(Forbidden):
            await world.cases.keys.list_keys(principal)
        with pytest.raises(Forbidden):
            await world.cases.keys.revoke_key(principal, key_id)
        with pytest.raises(Forbidden):
            await world.cases.keys.rotate_key(principal, key_id)
        with pytest.raises(Forbidden):
            await new_key(world, principal)


async def test_keys_are_listed_in_pages_oldest_first(world: World) -> None:
    admin = await tenant_admin(world)
    made = []
    for _ in range(4):
        world.clock.advance(1)
        made.append((await new_key(world, admin))[0])
    first = await world.cases.keys.list_keys(admin, page=PageRequest(page_size=3))
    assert first.next_page_token is not None
    second = await world.cases.keys.list_keys(admin, page=PageRequest(3, first.next_page_token))
    assert second.next_page_token is None
    assert [k.key_id for k in first.items + second.items][1:] == made
    with pytest.raises(InvalidInput, match="page_token"):
        await world.cases.keys.list_keys(OPERATOR, page=PageRequest(3, first.next_page_token))
