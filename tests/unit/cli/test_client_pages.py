"""The gateway client (the CLI's lists) follows next_page_token to the last page."""

from __future__ import annotations

import httpx

from shared.client.gateway import GatewayClient


def test_lists_follow_every_page() -> None:
    pages = {None: (["a", "b"], "t1"), "t1": (["c", "d"], "t2"), "t2": (["e"], None)}
    seen: list[dict[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        seen.append(query)
        items, token = pages[query.get("page_token")]
        return httpx.Response(200, json={"items": [{"id": i} for i in items], "next_page_token": token})

    client = GatewayClient("http://gateway", "key")
    client._http = httpx.Client(base_url="http://gateway", transport=httpx.MockTransport(answer))
    assert [p["id"] for p in client.projects("tnt_a")] == ["a", "b", "c", "d", "e"]
    assert seen == [
        {"tenant_id": "tnt_a", "page_size": "500"},
        {"tenant_id": "tnt_a", "page_size": "500", "page_token": "t1"},
        {"tenant_id": "tnt_a", "page_size": "500", "page_token": "t2"},
    ]
