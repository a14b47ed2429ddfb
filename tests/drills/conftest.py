"""Drill fixtures: a Shopify channel and a fake Shopify behind ``httpx.MockTransport``.

The CI versions of ``bench/drills/`` (see its README): the same scenarios in
seconds, with the hub's real connector talking HTTP to a fake platform in-process.
"""

from __future__ import annotations

import copy
import json
from urllib.parse import parse_qs

import httpx
import pytest
from django.core.cache import cache

from tests.channels.conftest import shopify_cn_order

SHOP = "https://drill-shop.myshopify.com"
SECRET = "drill-secret"


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Poll locks are keyed by channel id, which SQLite reuses between tests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shop_channel(db):
    from channels.models import Channel, SkuMapping

    channel = Channel(code="drill-shop", name="Drill shop", platform="shopify",
                      config={"shop_url": SHOP, "api_version": "2024-10"}, backfill_days=3650)
    channel.credentials = {"access_token": "shpat_drill", "webhook_secret": SECRET}
    channel.save()
    for sku in ("CUP-1", "SLEEVE-1"):
        SkuMapping.objects.create(channel=channel, platform_sku=sku, hub_sku=sku)
    return channel


def order(n: int, *, minute: int | None = None, **overrides) -> dict:
    """Shopify order ``n``, last updated at minute ``minute`` (default ``n``) of 20 Nov."""
    minute = n if minute is None else minute
    stamp = f"2026-11-20T{10 + minute // 60:02d}:{minute % 60:02d}:00+08:00"
    return shopify_cn_order(n, updated_at=stamp, **overrides)


class FakeShopify:
    """Orders in keyset pages (``Link: rel=next``), fulfillment orders that close once
    fulfilled, fulfilments recorded, the order read back; scripted faults.

    ``faults``: ``(method, path suffix, kind)`` used up by the first matching request.
    Kinds: ``429`` (Retry-After: 3), ``500``, ``html502`` (an nginx page), ``timeout``
    (raised before the platform acts) ``late`` (the platform acts, the reply times
    out), ``truncated`` (the platform acts, the JSON is cut in half), ``pass``.
    """

    def __init__(self, orders=(), page_size: int = 2):
        self.orders = {o["id"]: o for o in orders}
        self.page_size = page_size
        self.faults: list[tuple[str, str, str]] = []
        self.fulfilled: dict[int, list[str]] = {}

    def _fault(self, request: httpx.Request) -> str | None:
        for i, (method, suffix, kind) in enumerate(self.faults):
            if request.method == method and request.url.path.endswith(suffix):
                del self.faults[i]
                return kind
        return None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        kind = self._fault(request)
        if kind == "429":
            return httpx.Response(429, headers={"Retry-After": "3"},
                                  json={"errors": "Exceeded 2 calls per second"})
        if kind == "500":
            return httpx.Response(500, json={"errors": "Internal Server Error"})
        if kind == "html502":
            return httpx.Response(502, text="<html><head><title>502 Bad Gateway</title>"
                                            "</head><body>nginx</body></html>",
                                  headers={"Content-Type": "text/html"})
        if kind == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        response = self._answer(request)
        if kind == "late":
            raise httpx.ReadTimeout("read timed out", request=request)
        if kind == "truncated":
            return httpx.Response(200, content=response.content[: len(response.content) // 2])
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/orders.json"):
            query = parse_qs(request.url.query.decode())
            rows = sorted(self.orders.values(), key=lambda o: (o["updated_at"], o["id"]))
            start = int(query.get("page_info", ["0"])[0])
            page = rows[start:start + self.page_size]
            headers = {}
            if start + self.page_size < len(rows):
                headers["Link"] = (f'<{SHOP}/admin/api/2024-10/orders.json?page_info='
                                   f'{start + self.page_size}>; rel="next"')
            return httpx.Response(200, json={"orders": copy.deepcopy(page)}, headers=headers)
        if path.endswith("/fulfillment_orders.json"):
            oid = int(path.split("/")[-2])
            done = bool(self.fulfilled.get(oid))
            return httpx.Response(200, json={"fulfillment_orders": [{
                "id": oid, "status": "closed" if done else "open",
                "supported_actions": [] if done else ["create_fulfillment"]}]})
        if path.endswith("/fulfillments.json"):
            data = json.loads(request.content)["fulfillment"]
            oid = data["line_items_by_fulfillment_order"][0]["fulfillment_order_id"]
            self.fulfilled.setdefault(oid, []).append(data["tracking_info"]["number"])
            return httpx.Response(201, json={"fulfillment": {"id": 700 + oid}})
        oid = int(path.rsplit("/", 1)[1].removesuffix(".json"))
        return httpx.Response(200, json={"order": {"id": oid, "fulfillments": [
            {"status": "success", "tracking_number": t} for t in self.fulfilled.get(oid, [])]}})


@pytest.fixture
def fake_shop():
    return FakeShopify()


@pytest.fixture
def sleeps():
    class Sleeps(list):
        def __call__(self, seconds):
            self.append(seconds)

    return Sleeps()


@pytest.fixture
def connector(shop_channel, fake_shop, sleeps):
    from channels.connectors import get_connector

    def make():
        return get_connector(shop_channel, client=httpx.Client(
            transport=httpx.MockTransport(fake_shop)), sleep=sleeps)

    return make
