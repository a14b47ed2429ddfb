import datetime as dt
import threading
from unittest import mock

import pytest
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from channels.connectors import ConnectorError, PermanentError, ShipmentResult
from channels.connectors.base import AmbiguousReply
from channels.models import Channel, GapAlert, ShipmentPush
from channels.pipeline import ingest_items
from channels.services import (
    SHIPMENT_PUSH_MAX_ATTEMPTS,
    gap_check,
    gap_check_window,
    normalizer_for,
    shipment_push_deliver,
)
from channels.tasks import check_gaps
from orderhub.models import Order
from orderhub.services.orders import order_transition, order_update
from tests.channels.conftest import shopify_cn_order
from tests.channels.fakes import FakeConnector, FakeStore
from tests.conftest import requires_postgres


@pytest.fixture
def picked_order(mapped):
    ingest_items(channel=mapped, items=[shopify_cn_order()], source="poll",
                 normalizer=normalizer_for(mapped))
    order = Order.objects.get()
    # The waybill is booked before picking ends; carrier and tracking are on the order.
    order_update(order=order, actor="system:test",
                 changes={"carrier": "SF Express", "tracking_number": "SF1234567890"})
    for name in ("mark_ready", "claim", "finish"):
        order_transition(order=order, name=name, actor="system:test")
    return order


@pytest.fixture
def no_delay():
    with mock.patch("channels.tasks.deliver_shipment_push.delay") as delay:
        yield delay


def test_ship_writes_the_outbox_row_in_the_same_transaction(picked_order, no_delay,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=picked_order, name="ship", actor="system:test")
    push = ShipmentPush.objects.get(order=picked_order)
    assert (push.carrier, push.tracking_number, push.status) == (
        "SF Express", "SF1234567890", "pending")
    no_delay.assert_called_once_with(push.pk)


def test_a_rolled_back_ship_leaves_no_outbox_row(picked_order, no_delay):
    with pytest.raises(RuntimeError), transaction.atomic():
        order_transition(order=picked_order, name="ship", actor="system:test")
        raise RuntimeError("crash before commit")
    assert not ShipmentPush.objects.exists()


@pytest.fixture
def fake(mapped):
    return FakeConnector(mapped, FakeStore(dt.datetime(2026, 11, 20, tzinfo=dt.UTC)))


def test_delivery_sends_once(picked_order, no_delay, fake):
    order_transition(order=picked_order, name="ship", actor="system:test")
    push = ShipmentPush.objects.get()

    assert shipment_push_deliver(push_id=push.pk, connector=fake) == "sent"
    assert fake.pushes[0]["tracking_number"] == "SF1234567890"
    push.refresh_from_db()
    assert push.status == "sent" and push.attempts == 1
    assert push.attempt_rows.get().ok
    # Running the task again does nothing more.
    assert shipment_push_deliver(push_id=push.pk, connector=fake) == "sent"
    assert len(fake.pushes) == 1


@requires_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_platform_call_leaves_the_order_and_channel_rows_unlocked(picked_order, no_delay,
                                                                      fake):
    order_transition(order=picked_order, name="ship", actor="system:test")
    push = ShipmentPush.objects.get()
    probed = {}
    real_push = fake.push_shipment

    def probe():
        # Another connection, as a person editing the order or a poll would be.
        try:
            with transaction.atomic():
                Order.objects.select_for_update(nowait=True).get(pk=picked_order.pk)
                Channel.objects.select_for_update(nowait=True).get(pk=picked_order.channel_id)
            probed["locked"] = False
        except DatabaseError:
            probed["locked"] = True
        finally:
            connection.close()

    def push_while_probing(**kwargs):
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
        return real_push(**kwargs)

    fake.push_shipment = push_while_probing
    assert shipment_push_deliver(push_id=push.pk, connector=fake) == "sent"
    assert probed == {"locked": False}


def test_bounded_retries_then_flagged_failure(picked_order, no_delay, fake):
    order_transition(order=picked_order, name="ship", actor="system:test")
    push = ShipmentPush.objects.get()
    fake.push_results = [ConnectorError("shopify: HTTP 503", status_code=503)
                         for _ in range(SHIPMENT_PUSH_MAX_ATTEMPTS)]
    outcomes = [shipment_push_deliver(push_id=push.pk, connector=fake)
                for _ in range(SHIPMENT_PUSH_MAX_ATTEMPTS)]
    assert outcomes == ["retry"] * (SHIPMENT_PUSH_MAX_ATTEMPTS - 1) + ["failed"]
    push.refresh_from_db()
    assert push.status == "failed"
    assert push.attempt_rows.count() == SHIPMENT_PUSH_MAX_ATTEMPTS
    assert picked_order.events.filter(kind="shipment_push_failed").exists()
    # A 503 is a clear "no": no read-back until the final one.
    assert len(fake.confirms) == 1
    assert shipment_push_deliver(push_id=push.pk, connector=fake) == "failed"
    assert push.attempt_rows.count() == SHIPMENT_PUSH_MAX_ATTEMPTS


def test_permanent_refusal_fails_at_once_and_tells_someone(picked_order, no_delay, fake,
                                                           django_capture_on_commit_callbacks):
    order_transition(order=picked_order, name="ship", actor="system:test")
    push = ShipmentPush.objects.get()
    fake.push_results = [PermanentError("shopify: HTTP 422: bad tracking")]
    fake.confirm_results = [False]
    with django_capture_on_commit_callbacks(execute=True):
        assert shipment_push_deliver(push_id=push.pk, connector=fake) == "failed"
    assert len(mail.outbox) == 1 and "bad tracking" in mail.outbox[0].body


def test_ok_result_records_attempt(picked_order, no_delay, fake):
    order_transition(order=picked_order, name="ship", actor="system:test")
    push = ShipmentPush.objects.get()
    shipment_push_deliver(push_id=push.pk, connector=fake)
    sent = fake.pushes[0]
    assert sent["external_id"] == "9001" and sent["tracking_number"] == "SF1234567890"
    assert {ln["external_line_id"] for ln in sent["lines"]} == {"1", "2"}


# --- write-back that tells the truth -----------------------------------------------------

def _ship(order, **changes):
    if changes:
        Order.objects.filter(pk=order.pk).update(**changes)
    order_transition(order=order.pk, name="ship", actor="system:test")
    return ShipmentPush.objects.get(order=order)


def test_carrier_goes_out_as_the_platforms_name(picked_order, no_delay, fake):
    push = _ship(picked_order, carrier="sf-main", carrier_company="SF")
    shipment_push_deliver(push_id=push.pk, connector=fake)
    assert fake.pushes[0]["carrier"] == "Fake-SF"  # the connector's CARRIER_NAMES
    push.refresh_from_db()
    assert push.carrier == "Fake-SF" and push.carrier_company == "SF"


def test_a_channels_carrier_map_overrides_the_connector_default(mapped, picked_order,
                                                                no_delay):
    Channel.objects.filter(pk=mapped.pk).update(config={"carrier_map": {"SF": "顺丰速运"}})
    fake = FakeConnector(Channel.objects.get(pk=mapped.pk), FakeStore(dt.datetime.now(dt.UTC)))
    push = _ship(picked_order, carrier="sf-main", carrier_company="SF")
    shipment_push_deliver(push_id=push.pk, connector=fake)
    assert fake.pushes[0]["carrier"] == "顺丰速运"


def test_unknown_company_falls_back_to_the_hubs_carrier(picked_order, no_delay, fake):
    push = _ship(picked_order, carrier="own-van", carrier_company="")
    shipment_push_deliver(push_id=push.pk, connector=fake)
    assert fake.pushes[0]["carrier"] == "own-van"


def test_the_orders_platform_data_is_handed_back(picked_order, no_delay, fake):
    push = _ship(picked_order, platform_data={"marketplace_id": "A1F83G8C2ARO7P"})
    shipment_push_deliver(push_id=push.pk, connector=fake)
    assert fake.pushes[0]["platform_data"] == {"marketplace_id": "A1F83G8C2ARO7P"}


def test_an_ambiguous_reply_is_confirmed_by_reading_back_not_sent_twice(picked_order,
                                                                         no_delay, fake):
    # given a push whose reply was cut off
    push = _ship(picked_order, platform_data={"marketplace_id": "M2"})
    fake.push_results = [AmbiguousReply("reply cut off after 200 OK")]
    assert shipment_push_deliver(push_id=push.pk, connector=fake) == "retry"
    push.refresh_from_db()
    assert push.status == "pending" and push.unconfirmed

    # when the next attempt finds the shipment on the platform
    fake.confirm_results = [True]
    assert shipment_push_deliver(push_id=push.pk, connector=fake) == "sent"

    # then it was read back, not sent again, and the order says so
    assert len(fake.pushes) == 1
    assert fake.confirms == [{"external_id": "9001", "tracking_number": "SF1234567890",
                              "platform_data": {"marketplace_id": "M2"}}]
    push.refresh_from_db()
    assert push.status == "sent" and not push.unconfirmed
    event = picked_order.events.get(kind="shipment_pushed")
    assert "reading the order back" in event.message


def test_an_ambiguous_reply_the_platform_does_not_hold_is_sent_again(picked_order, no_delay,
                                                                      fake):
    push = _ship(picked_order)
    fake.push_results = [ConnectorError("timed out", status_code=None)]  # no reply at all
    assert shipment_push_deliver(push_id=push.pk, connector=fake) == "retry"
    fake.confirm_results = [False]
    assert shipment_push_deliver(push_id=push.pk, connector=fake) == "sent"
    assert len(fake.pushes) == 2 and len(fake.confirms) == 1


def test_never_failed_when_the_platform_did_fulfil(picked_order, no_delay, fake,
                                                   django_capture_on_commit_callbacks):
    # the first attempt timed out after the platform fulfilled; the retry is refused
    # ("already fulfilled") and the read-back says the shipment is there
    push = _ship(picked_order)
    fake.push_results = [PermanentError("HTTP 422: order is already fulfilled")]
    fake.confirm_results = [True]
    with django_capture_on_commit_callbacks(execute=True):
        assert shipment_push_deliver(push_id=push.pk, connector=fake) == "sent"
    push.refresh_from_db()
    assert push.status == "sent"
    assert not picked_order.events.filter(kind="shipment_push_failed").exists()
    assert not mail.outbox


def test_a_read_back_that_fails_does_not_lose_the_push(picked_order, no_delay, fake):
    push = _ship(picked_order)
    fake.push_results = [AmbiguousReply("cut off"), ShipmentResult(ok=True, status_code=201)]
    shipment_push_deliver(push_id=push.pk, connector=fake)
    fake.confirm_results = [ConnectorError("HTTP 503", status_code=503)]
    # Cannot tell: send again (the platform refuses a true duplicate, which the final
    # read-back then resolves).
    assert shipment_push_deliver(push_id=push.pk, connector=fake) == "sent"
    assert len(fake.pushes) == 2


def test_gap_check_raises_and_clears_an_alert(mapped):
    ingest_items(channel=mapped, items=[shopify_cn_order(1)], source="poll",
                 normalizer=normalizer_for(mapped))
    day = dt.date(2026, 11, 20)
    connector = mock.Mock()
    connector.count_orders.return_value = 3
    alert = gap_check(channel=mapped, day=day, connector=connector)
    assert (alert.platform_count, alert.hub_count, alert.missing) == (3, 1, 2)
    assert "2 possibly missing" in mail.outbox[0].body
    connector.count_orders.return_value = 1
    assert gap_check(channel=mapped, day=day, connector=connector) is None
    assert GapAlert.objects.get().resolved


def test_gap_check_covers_the_last_seven_days_by_default(mapped):
    # given a platform that reports one order more than the hub on days 2 and 6 back
    today = dt.date(2026, 11, 28)
    short = {today - dt.timedelta(days=2), today - dt.timedelta(days=6)}
    asked = []

    def count_orders(*, start, end):
        day = timezone.localtime(start).date()
        asked.append(day)
        return 1 if day in short else 0

    connector = mock.Mock(count_orders=count_orders)

    alerts = gap_check_window(channel=mapped, today=today, connector=connector)

    # then every one of the 7 full days before today was checked, day by day
    assert asked == [today - dt.timedelta(days=n) for n in range(1, 8)]
    assert sorted(alert.day for alert in alerts) == sorted(short)


def test_gap_check_days_setting_and_the_beat_task(mapped, settings, monkeypatch):
    settings.GAP_CHECK_DAYS = 3
    calls = []
    monkeypatch.setattr("channels.services.gaps.gap_check",
                        lambda *, channel, day, connector: calls.append((channel.code, day)))
    monkeypatch.setattr("channels.services.gaps.get_connector", lambda channel: mock.Mock())
    Channel.objects.create(code="paused-shop", name="p", platform="woocommerce", paused=True)
    Channel.objects.create(code="csv-shop", name="c", platform="csv")

    check_gaps()

    yesterday = timezone.localdate() - dt.timedelta(days=1)
    assert calls == [("shopify-demo", yesterday - dt.timedelta(days=n)) for n in range(3)]
