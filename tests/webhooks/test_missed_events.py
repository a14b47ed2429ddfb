"""Order events the live receivers missed are written by the minute sweep from the
orders and their transition log, exactly once, and never from before a subscription."""

import datetime as dt
import json

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from orderhub.models import Order, OrderTransitionLog
from orderhub.models import OrderStatus as S
from orderhub.services.orders import order_transition
from orderhub.signals import orders_created, orders_status_changed
from webhooks import receivers, services, tasks
from webhooks.models import Delivery, EventType, WebhookCursor

pytestmark = pytest.mark.django_db

WANTED = [EventType.ORDER_CREATED, EventType.ORDER_STATUS_CHANGED, EventType.ORDER_PAID]


def later():
    return timezone.now() + services.MISSED_GRACE + dt.timedelta(seconds=5)


def sweep():
    return services.missed_events_record(now=later())


def keys():
    return sorted(Delivery.objects.values_list("subscription_id", "event", "source",
                                               "source_id"))


@pytest.fixture
def receivers_crash(monkeypatch):
    """The live receivers fail between the order's commit and theirs (logged, swallowed)."""
    def boom(items):
        list(items)
        raise RuntimeError("worker died")
    monkeypatch.setattr(receivers, "deliveries_record", boom)


@pytest.fixture
def receivers_gone():
    """The process died before the receivers ran: they never hear the signals."""
    orders_created.disconnect(dispatch_uid="webhooks.created")
    orders_status_changed.disconnect(dispatch_uid="webhooks.status")
    yield
    receivers.connect()


def test_a_crashed_receiver_s_events_get_exactly_one_delivery_each(
        make_subscription, make_order, queued, receivers_crash,
        django_capture_on_commit_callbacks):
    subscription = make_subscription(WANTED)
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(S.PAID)
    assert not Delivery.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep() == 3

    [pay] = OrderTransitionLog.objects.filter(order=order, transition="pay")
    assert keys() == sorted([
        (subscription.pk, "order.created", "order", order.pk),
        (subscription.pk, "order.paid", "transition", pay.pk),
        (subscription.pk, "order.status_changed", "transition", pay.pk),
    ])
    paid = json.loads(Delivery.objects.get(event="order.paid").body)
    assert paid["data"]["change"] == {"transition": "pay", "from_status": "pending_payment",
                                      "to_status": "paid", "actor": "system:test"}
    assert paid["data"]["order"]["id"] == order.pk
    assert paid["id"] == str(Delivery.objects.get(event="order.paid").uuid)
    # Recorded deliveries are queued like live ones.
    assert len([call for call in queued if call[0] == services.SEND_TASK]) == 3

    assert sweep() == 0
    assert Delivery.objects.count() == 3


def test_receivers_that_never_ran_are_covered_too(make_subscription, make_order, queued,
                                                  receivers_gone,
                                                  django_capture_on_commit_callbacks):
    make_subscription([EventType.ORDER_CREATED, EventType.ORDER_STATUS_CHANGED])
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(S.READY_TO_PICK)
    assert not Delivery.objects.exists()

    assert sweep() == 3  # created + pay + mark_ready
    assert sorted(Delivery.objects.values_list("event", flat=True)) == [
        "order.created", "order.status_changed", "order.status_changed"]
    assert set(Delivery.objects.values_list("order_id", flat=True)) == {order.pk}
    assert sweep() == 0


def test_the_sweep_after_live_deliveries_writes_no_duplicate(
        make_subscription, make_order, queued, django_capture_on_commit_callbacks):
    make_subscription(WANTED)
    with django_capture_on_commit_callbacks(execute=True):
        make_order(S.PAID)
    live = keys()
    assert len(live) == 3
    assert all(source and source_id for _, _, source, source_id in live)

    assert sweep() == 0
    assert sweep() == 0
    assert keys() == live
    cursors = dict(WebhookCursor.objects.values_list("source", "last_id"))
    assert cursors == {"order": Order.objects.aggregate(m=Max("id"))["m"],
                       "transition": OrderTransitionLog.objects.aggregate(m=Max("id"))["m"]}


def test_a_live_receiver_after_the_sweep_writes_no_duplicate(
        make_subscription, make_order, queued, django_capture_on_commit_callbacks):
    """The sweep got there first (a slow receiver): the receiver's rows are skipped."""
    make_subscription([EventType.ORDER_STATUS_CHANGED])
    order = make_order(S.PENDING_PAYMENT)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order_transition(order=order.pk, name="pay", actor="system:test")
    assert sweep() == 1
    for callback in callbacks:  # now the live receiver runs
        callback()
    assert Delivery.objects.count() == 1


def test_one_delivery_per_subscription_event_and_source_row(make_subscription, make_order):
    subscription = make_subscription(WANTED)
    order = make_order()
    fields = {"subscription": subscription, "event": "order.created", "body": "{}",
              "source": "order", "source_id": order.pk}
    Delivery.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(**fields)
    # Deliveries without a source (stock events) are not limited.
    Delivery.objects.create(subscription=subscription, event="stock.low", body="{}")
    Delivery.objects.create(subscription=subscription, event="stock.low", body="{}")
    assert Delivery.objects.count() == 3


def test_events_from_before_the_subscription_are_not_replayed(
        make_subscription, make_order, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_order(S.PAID)
    make_subscription(WANTED)

    assert sweep() == 0
    assert not Delivery.objects.exists()
    assert WebhookCursor.objects.get(source="transition").last_id == (
        OrderTransitionLog.objects.aggregate(m=Max("id"))["m"])


def test_a_missing_cursor_starts_at_the_newest_row(
        make_subscription, make_order, queued, receivers_crash,
        django_capture_on_commit_callbacks):
    make_subscription(WANTED)
    with django_capture_on_commit_callbacks(execute=True):
        old = make_order(S.PAID)
    WebhookCursor.objects.all().delete()

    assert sweep() == 0  # starts the cursors: the old hub's history is not sent
    assert WebhookCursor.objects.get(source="order").last_id == old.pk
    with django_capture_on_commit_callbacks(execute=True):
        new = make_order()
    assert sweep() == 1
    assert list(Delivery.objects.values_list("order_id", flat=True)) == [new.pk]


def test_rows_younger_than_the_grace_wait_for_the_next_sweep(
        make_subscription, make_order, queued, receivers_crash,
        django_capture_on_commit_callbacks):
    make_subscription([EventType.ORDER_CREATED])
    before = WebhookCursor.objects.get(source="order").last_id
    with django_capture_on_commit_callbacks(execute=True):
        make_order()
    assert services.missed_events_record() == 0
    assert WebhookCursor.objects.get(source="order").last_id == before
    assert sweep() == 1


def test_the_beat_task_records_missed_events(make_subscription, make_order, queued,
                                             receivers_crash, monkeypatch,
                                             django_capture_on_commit_callbacks):
    make_subscription([EventType.ORDER_CREATED])
    with django_capture_on_commit_callbacks(execute=True):
        make_order()
    monkeypatch.setattr(services, "MISSED_GRACE", dt.timedelta(0))
    assert tasks.record_missed_events() == 1
    assert tasks.record_missed_events() == 0
