"""End to end: the real CN connectors poll the hub's own /sandbox/ APIs over HTTP."""

import datetime as dt
import logging
from unittest import mock

import pytest

from channels.models import RawPayload
from channels.recipient import real_recipient
from channels.sandbox_cn import cn_orders
from channels.services import channel_poll, shipment_push_deliver
from orderhub.models import Order
from orderhub.models import OrderStatus as S
from tests.channels.cn_support import SandboxHttp, connector_for, sandbox_channel

PLATFORMS = ["taobao", "pinduoduo", "douyin", "youzan"]


@pytest.fixture(autouse=True)
def small_sandbox():
    # 12 hours of orders (48) and no random throttling keep the test quick and exact.
    with mock.patch("channels.sandbox_cn._throttled", return_value=False), \
            mock.patch("channels.sandbox.WINDOW", dt.timedelta(hours=12)):
        yield


@pytest.fixture
def http():
    with SandboxHttp() as client:
        yield client


def poll_channel(platform, http, **config):
    channel = sandbox_channel(platform, max_windows=200, **config)
    channel.backfill_days = 1
    channel.save()
    connector = connector_for(channel, client=http, now=None)
    return channel, connector, channel_poll(channel=channel, connector=connector)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_poll_pulls_every_sandbox_order_once(db, http, platform):
    # given the sandbox's orders of the last 12 hours (some unpaid, cancelled, refunded)
    expected = cn_orders()

    # when the channel polls from a day back
    channel, connector, outcome = poll_channel(platform, http)

    # then every order arrived once, with the right status and clear regions
    assert outcome.status == "ok", outcome.error
    assert outcome.result.rejected == 0, outcome.result.errors
    # An order updated in the last minute is left for the next window (the lag).
    assert len(expected) - 2 <= outcome.result.created <= len(expected)
    orders = Order.objects.filter(channel=channel)
    statuses = set(orders.values_list("status", flat=True))
    assert S.PENDING_PAYMENT in statuses and S.CANCELLED in statuses
    assert S.READY_TO_PICK in statuses or S.PAID in statuses or S.REVIEW in statuses \
        or S.OUT_OF_STOCK in statuses
    order = orders.exclude(status=S.CANCELLED).order_by("id").first()
    assert order.ship_province and order.ship_city and order.ship_district
    assert order.lines.count() >= 1
    # the cursor moved to the end of the last window read, in the past
    channel.refresh_from_db()
    assert channel.cursor_at is not None
    assert channel.cursor_at <= dt.datetime.now(dt.UTC)

    # a second poll reads only the overlap again and creates nothing new
    again = channel_poll(channel=channel, connector=connector)
    assert again.status == "ok", again.error
    assert again.result.created <= 1
    assert again.result.rejected == 0


@pytest.mark.parametrize("platform", PLATFORMS)
def test_sandbox_recipient_decrypts_for_a_label_and_never_logs(db, http, platform, caplog):
    channel, connector, outcome = poll_channel(platform, http)
    assert outcome.status == "ok", outcome.error
    order = Order.objects.filter(channel=channel).order_by("id").first()
    stored = RawPayload.objects.filter(channel=channel, external_id=order.external_id).first()
    assert stored is not None
    caplog.set_level(logging.DEBUG)

    recipient = real_recipient(order, connector=connector)

    person = next(p for p in __import__("channels.sandbox_cn", fromlist=["CN_PEOPLE"]).CN_PEOPLE
                  if p[0] == recipient.name)
    assert recipient.phone == person[1] and person[5] in recipient.street
    assert recipient.province == order.ship_province
    # the decrypted values are nowhere in the database nor in the log
    assert person[1] not in caplog.text and person[0] not in caplog.text
    assert not Order.objects.filter(ship_phone__contains=person[1][-8:]).exists()
    assert person[0] not in repr(recipient)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_shipment_push_reaches_the_sandbox(db, http, platform, make_user):
    from channels.models import ShipmentPush

    channel, connector, outcome = poll_channel(platform, http)
    order = Order.objects.filter(channel=channel).exclude(
        status__in=[S.CANCELLED, S.PENDING_PAYMENT]).order_by("id").first()
    push = ShipmentPush.objects.create(order=order, channel=channel, carrier="SF",
                                       tracking_number="SF1234567890")

    assert shipment_push_deliver(push_id=push.pk, connector=connector) == "sent"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_sandbox_answers_platform_shipped_orders_like_the_documentation(db, http, platform):
    # given the sandbox, where some paid orders were already shipped on the platform
    settled = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # past the window lag
    shipped = [o for o in cn_orders() if o.get("shipped") and o["updated"] < settled]
    assert shipped, "the sandbox holds platform-shipped orders"
    channel = sandbox_channel(platform, max_windows=200)
    connector = connector_for(channel, client=http, now=None)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)

    # when its pages are read and normalized by the real connector
    normalized = [connector.normalize(raw)
                  for page in connector.fetch_orders(since=since) for raw in page.orders]

    # then those orders come as shipped with the parcel's tracking number, and every
    # Douyin address (an object) gives clear regions
    with_parcel = {s.tracking_number for n in normalized for s in n.shipments}
    assert {o["shipped"]["tracking"] for o in shipped} <= with_parcel
    assert all(n.fulfillment for n in normalized if n.shipments)
    assert all(n.ship_province and n.ship_district for n in normalized)
