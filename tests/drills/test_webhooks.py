"""CI version of ``bench/drills/webhooks.py``: duplicate and out-of-order webhooks.

Each order has four versions on the platform (created unpaid, paid, address
changed, and for some cancelled); every version is delivered two or three times
through ``/hooks/<channel>/`` in a shuffled order, so older updates arrive after
newer ones, and every stored payload is processed twice (a redelivered task).
One order per platform order, latest state wins. Single cases are pinned in
``tests/channels/test_web.py`` (a repeated Shopify delivery) and
``tests/channels/test_platform_state.py`` (an older payload is archived). No
Chinese platform connector takes push, so Shopify and WooCommerce only.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
from pathlib import Path
from unittest import mock

import pytest

from channels.models import Channel, RawPayload
from channels.services import raw_payload_process
from orderhub.models import Order
from tests.drills.conftest import SECRET, order

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "channels"
ORDERS = 6


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def shopify_versions(n: int) -> list[dict]:
    versions = [order(n, minute=n * 5, financial_status="pending"), order(n, minute=n * 5 + 1)]
    moved = order(n, minute=n * 5 + 2)
    moved["shipping_address"]["address1"] = f"新地址{n}号"
    versions.append(moved)
    if n % 2:
        versions.append(order(n, minute=n * 5 + 3, cancelled_at="2026-11-20T12:00:00+08:00",
                              shipping_address=moved["shipping_address"]))
    return versions


def woo_versions(n: int) -> list[dict]:
    base = json.loads((FIXTURES / "woocommerce_order_example.json").read_text())

    def version(minute: int, status: str, street: str) -> dict:
        o = copy.deepcopy(base)
        stamp = f"2026-11-20T{10 + minute // 60:02d}:{minute % 60:02d}:00"
        o.update(id=800 + n, status=status, date_modified_gmt=stamp, date_modified=stamp)
        o["shipping"]["address_1"] = street
        if status == "pending":
            o.update(date_paid=None, date_paid_gmt=None, transaction_id="")
        return o

    versions = [version(n * 5, "pending", f"{n} Market St"),
                version(n * 5 + 1, "processing", f"{n} Market St"),
                version(n * 5 + 2, "processing", f"{n} Mission St")]
    if n % 2:
        versions.append(version(n * 5 + 3, "cancelled", f"{n} Mission St"))
    return versions


def street_of(data: dict) -> str:
    return data["shipping_address"]["address1"] if "shipping_address" in data \
        else data["shipping"]["address_1"]


def is_cancelled(data: dict) -> bool:
    return bool(data.get("cancelled_at")) or data.get("status") == "cancelled"


@pytest.fixture
def woo_channel(db):
    channel = Channel(code="drill-woo", name="Drill Woo", platform="woocommerce",
                      config={"site_url": "https://woo.drill.example"})
    channel.credentials = {"consumer_key": "ck", "consumer_secret": "cs",
                           "webhook_secret": SECRET}
    channel.save()
    return channel


@pytest.mark.parametrize("platform", ["shopify", "woocommerce"])
def test_duplicate_and_out_of_order_webhooks_leave_one_order_in_its_latest_state(
        client, platform, shop_channel, woo_channel):
    # given every version of each order delivered two or three times, shuffled
    channel = shop_channel if platform == "shopify" else woo_channel
    make = shopify_versions if platform == "shopify" else woo_versions
    versions = {n: make(n) for n in range(1, ORDERS + 1)}
    rnd = random.Random(15)  # noqa: S311 - test data
    deliveries = [v for vs in versions.values() for v in vs for _ in range(rnd.randint(2, 3))]
    rnd.shuffle(deliveries)

    # when each is posted to the webhook endpoint, and every payload processed twice
    with mock.patch("channels.tasks.process_raw_payload.delay"):
        for data in deliveries:
            body = json.dumps(data, ensure_ascii=False).encode()
            headers = ({"X-Shopify-Hmac-Sha256": sign(body), "X-Shopify-Topic": "orders/updated"}
                       if platform == "shopify" else
                       {"X-WC-Webhook-Signature": sign(body),
                        "X-WC-Webhook-Topic": "order.updated"})
            response = client.post(f"/hooks/{channel.code}/", data=body,
                                   content_type="application/json", headers=headers)
            assert response.status_code == 200
    raw_ids = list(RawPayload.objects.filter(channel=channel).values_list("pk", flat=True))
    for pk in rnd.sample(raw_ids * 2, len(raw_ids) * 2):
        raw_payload_process(raw_id=pk)

    # then each version was stored once, and each order is held once in its latest state
    assert len(raw_ids) == sum(len(vs) for vs in versions.values())
    assert not RawPayload.objects.filter(channel=channel).exclude(status="processed").exists()
    orders = {o.external_id: o for o in Order.objects.filter(channel=channel)}
    assert len(orders) == ORDERS == Order.objects.filter(channel=channel).count()
    for vs in versions.values():
        latest = vs[-1]
        held = orders[str(latest["id"])]
        assert held.ship_street.startswith(street_of(latest)), held.ship_street
        if is_cancelled(latest):
            assert held.status == "cancelled"
        else:
            assert held.status not in ("pending_payment", "cancelled")
