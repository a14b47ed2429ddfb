"""PostgreSQL: writes racing with one Idempotency-Key do the work once, and WMS
callbacks racing for one order move it once."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connections
from django.test import Client

from api.models import WmsCallback
from orderhub.models import Order, OrderTransitionLog
from tests.conftest import requires_postgres
from warehouse.models import SKU


def _race(n, send):
    barrier = threading.Barrier(n)
    results = []

    def worker(i):
        try:
            barrier.wait()
            results.append(send(i))
        except Exception as exc:  # noqa: BLE001 - shown in the assertion
            results.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_idempotency_key_racing_creates_one_order(make_token, channel):
    SKU.objects.create(code="TEA-01", name="tea", attributes={"price": "88.00"})
    _token, raw = make_token("manager", "write")
    body = json.dumps({"channel": "shop", "buyer_name": "王芳", "buyer_phone": "13800138000",
                       "ship_province": "浙江省", "ship_city": "杭州市",
                       "ship_street": "文三路 1 号",
                       "external_id": "CRM-9", "lines": [{"sku": "TEA-01", "quantity": 1}]})

    def send(_i):
        response = Client().post("/api/v1/orders", body, content_type="application/json",
                                 headers={"Authorization": f"Bearer {raw}",
                                          "Idempotency-Key": "same-key"})
        return response.status_code, response.json().get("number")

    results = _race(4, send)
    assert [status for status, _n in results] == [201] * 4, results
    assert len({number for _s, number in results}) == 1
    assert Order.objects.count() == 1


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_racing_wms_callbacks_move_the_order_once(make_token, make_order):
    _token, raw = make_token("manager", "write", system="wms")
    order = make_order("picked")

    def send(i):
        body = json.dumps({"order_number": order.number, "operator": f"op{i}",
                           "occurred_at": f"2026-12-05T10:3{i}:00+08:00", "package_count": 1})
        return Client().post("/api/v1/wms/outbound", body, content_type="application/json",
                             headers={"Authorization": f"Bearer {raw}"}).status_code

    results = _race(4, send)
    assert sorted(results) == [201, 409, 409, 409], results
    assert WmsCallback.objects.count() == 1
    assert OrderTransitionLog.objects.filter(order=order, transition="ship").count() == 1
