"""``reporting.demo.seed``: waybills with tracking for the demo's shipped orders, so the
fulfillment cards (SLA, tracking rate, stalled, complaints) have realistic numbers."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from fulfillment.shipping import demo as shipping_demo
from fulfillment.shipping.models import TrackingEvent, Waybill
from fulfillment.tickets.models import Ticket
from orderhub.models import Order
from orderhub.models import OrderStatus as S
from reporting import demo
from reporting.selectors import DashboardFilters, fulfillment_numbers

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _counts():
    return (Waybill.objects.count(), TrackingEvent.objects.count(),
            Ticket.objects.filter(kind=Ticket.Kind.COMPLAINT).count(),
            Waybill.objects.filter(stalled_at__isnull=False).count())


def test_seed_demo_books_tracked_waybills_once_and_fills_the_sla():
    call_command("seed_demo", "--orders", "60", stdout=StringIO())
    shipped = Order.objects.filter(status__in=[S.SHIPPED, S.DELIVERED, S.COMPLETED])
    assert shipped.exists()
    # Every shipped / delivered / completed order now has a booked, scanned waybill.
    assert not shipped.filter(waybills__isnull=True).exists()
    assert not Waybill.objects.filter(order__in=shipped, status=Waybill.Status.BOOKED,
                                      first_event_at__isnull=True).exists()
    first = _counts()

    out = StringIO()
    call_command("seed_demo", "--orders", "60", stdout=out)
    assert _counts() == first
    assert "Reporting demo: 0 waybill(s)" in out.getvalue()
    demo.seed(StringIO())
    assert _counts() == first

    today = timezone.localdate()
    numbers = fulfillment_numbers(DashboardFilters(today - dt.timedelta(days=45), today))
    sla = numbers["sla"]["all"]
    assert sla["orders"] == shipped.count()
    assert sla["median_hours"] is not None and sla["p90_hours"] is not None
    assert numbers["tracking"]["orders"] > 0
    # Every scanned demo parcel's number reached its buyer: the buyer SLA has them all.
    buyer = numbers["buyer_sla"]["all"]
    assert buyer["orders"] == shipped.count() and buyer["median_hours"] is not None
    # No scan lies in the future.
    assert not TrackingEvent.objects.filter(occurred_at__gt=timezone.now()).exists()


def test_older_half_is_slow_recent_half_fast_and_two_parcels_stall(make_order, pin):
    shipping_demo.seed(StringIO())
    now = timezone.now()
    orders = []
    # Ten shipped orders paid 20, 18, ... 2 days ago, shipped 10 h after payment.
    for days in range(20, 0, -2):
        paid = now - dt.timedelta(days=days)
        status = S.SHIPPED if days in (20, 18, 4) else S.DELIVERED
        order = make_order(status, carrier="SF" if days % 4 else "UPS")
        orders.append(pin(order, paid=paid, shipped=paid + dt.timedelta(hours=10),
                          **({"delivered": paid + dt.timedelta(days=3)}
                             if status == S.DELIVERED else {})))
    # The test's shipping path books waybills; the core demo's orders have none.
    Waybill.objects.all().delete()

    demo.seed(StringIO())

    def took(order):
        w = Waybill.objects.get(order=order)
        return (w.first_event_at - order.paid_at).total_seconds() / 3600

    slow, fast = [took(o) for o in orders[:5]], [took(o) for o in orders[5:]]
    assert all(30 <= h <= 46 for h in slow), slow
    assert all(2 <= h <= 4 for h in fast), fast
    # The two oldest open parcels stall (no news for over a day); the recent one does not.
    stalled = Waybill.objects.filter(stalled_at__isnull=False, delivered_at__isnull=True)
    assert set(stalled.values_list("order_id", flat=True)) == {orders[0].pk, orders[1].pk}
    assert set(Ticket.objects.filter(kind=Ticket.Kind.COMPLAINT)
               .values_list("order_id", flat=True)) >= {orders[0].pk, orders[1].pk}
    # Delivered orders' parcels are delivered at the order's delivery time, not left open.
    delivered = Waybill.objects.get(order=orders[2])
    assert delivered.delivered_at == orders[2].delivered_at
    assert delivered.milestone == Waybill.Milestone.DELIVERED
    # SF goes to the SF sandbox account, others to the manual (never polled) account.
    assert Waybill.objects.get(order=orders[1]).account.code == "sf-demo"
    assert Waybill.objects.get(order=orders[0]).account.code == "manual"

    today = timezone.localdate()
    sla = fulfillment_numbers(DashboardFilters(today - dt.timedelta(days=30), today))["sla"]
    assert sla["all"]["orders"] == 10
    assert sla["all"]["median_hours"] > Decimal("3")
    days = [r for r in sla["by_day"] if r["orders"]]
    assert days[0]["median_hours"] > Decimal("29") and days[-1]["median_hours"] < Decimal("5")
