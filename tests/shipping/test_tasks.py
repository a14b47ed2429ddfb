"""The Celery tasks: bounded retries with attempt rows, and the sweeper."""

import datetime as dt
from unittest import mock

import httpx
import respx
from django.utils import timezone

from fulfillment.shipping import services, tasks
from fulfillment.shipping.models import Waybill
from orderhub.models import Order
from tests.shipping.conftest import SF_SERVICE


@respx.mock
def test_book_task_retries_a_bounded_number_of_times_then_flags(picked):
    order, waybill = picked()
    route = respx.post(SF_SERVICE).mock(return_value=httpx.Response(500))
    # Eager: each self.retry runs the task again at once.
    tasks.book_waybill.apply(args=[waybill.pk])
    waybill.refresh_from_db()
    assert route.call_count == services.MAX_ATTEMPTS
    assert waybill.status == "failed" and waybill.attempt_rows.count() == services.MAX_ATTEMPTS
    assert Order.objects.get(pk=order.pk).status == "picked"


def test_the_sweeper_enqueues_lost_bookings_cancels_and_ship_steps(picked):
    (_o1, pending), (_o2, booked), (o3, orphan) = picked(), picked(), picked()
    past = timezone.now() - dt.timedelta(minutes=10)
    Waybill.objects.filter(pk=pending.pk).update(next_attempt_at=past)
    Waybill.objects.filter(pk=booked.pk).update(status="booked", booked_at=past,
                                                tracking_number="SF2")
    Waybill.objects.filter(pk=orphan.pk).update(status="booked", booked_at=past,
                                                tracking_number="SF3")
    Order.objects.filter(pk=o3.pk).update(status="cancelled")
    with mock.patch.object(tasks.book_waybill, "delay") as book, \
            mock.patch.object(tasks.complete_waybill, "delay") as complete, \
            mock.patch.object(tasks.cancel_waybill, "delay"):
        tasks.deliver_due_waybills()
    book.assert_called_once_with(pending.pk)
    complete.assert_called_once_with(booked.pk)
    orphan.refresh_from_db()
    assert orphan.status == "cancel_pending"
