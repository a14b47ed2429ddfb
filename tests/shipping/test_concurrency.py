"""Two deliveries of the booking task at once book with the carrier only once."""

import threading
import time

import pytest
from django.db import connection

from fulfillment.shipping import booking, services
from fulfillment.shipping.carriers import Booking
from fulfillment.shipping.models import Waybill
from orderhub.models import Order
from tests.conftest import requires_postgres


class SlowCarrier:
    supports_push = False

    def __init__(self):
        self.calls = 0
        self.lock = threading.Lock()

    def book(self, parcel):
        with self.lock:
            self.calls += 1
        time.sleep(0.5)
        return Booking(tracking_number=f"SF14000000{self.calls:05d}")


@requires_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_deliveries_book_once(make_order, sf_account, no_delay, settings,
                                         tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(booking, "label_store", lambda waybill: None)
    order = make_order("picked")
    waybill = Waybill.objects.get(order=order)
    carrier = SlowCarrier()
    outcomes = []

    def deliver():
        try:
            outcomes.append(services.waybill_book(waybill_id=waybill.pk, adapter=carrier))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert carrier.calls == 1
    assert sorted(outcomes) == ["booked", "booked"]
    assert Waybill.objects.get(pk=waybill.pk).attempts == 1
    assert Order.objects.get(pk=order.pk).status == "shipped"
