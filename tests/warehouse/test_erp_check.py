"""The per-order ERP stock check at allocation (StockSource.check_each_order)."""

import datetime as dt
import json
import time
from pathlib import Path

import httpx
import pytest
import respx
from django.utils import translation

from orderhub.models import OrderEvent, OrderStatus
from orderhub.selectors import order_timeline
from warehouse.models import Reservation, StockLevel, StockMovement, StockSource, Warehouse
from warehouse.services.external import erp_check_order_stock
from warehouse.services.stock import (
    erp_check_cache_clear,
    order_allocate,
    stock_drift,
    stock_reserve_batch,
)

S = OrderStatus
FIXTURES = Path(__file__).parents[1] / "fixtures" / "kingdee"
OLD_FIXTURES = Path(__file__).parent / "fixtures"
K3 = "https://erp.example.com/k3cloud/"
LOGIN = K3 + "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc"
QUERY = K3 + "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"
SYNCED = dt.datetime(2026, 12, 4, 6, 30, tzinfo=dt.UTC)  # 14:30 in Asia/Shanghai


def payload(name, where=FIXTURES):
    return json.loads((where / name).read_text())


@pytest.fixture
def source(warehouse):
    Warehouse.objects.filter(pk=warehouse.pk).update(stock_synced_at=SYNCED)
    return StockSource.objects.create(
        warehouse=warehouse, kind="kingdee", base_url="https://erp.example.com/k3cloud",
        username="api_stock", secret="s3cret-pw", check_each_order=True,
        options={"acctid": "62f1e0c8d0a5b1", "stock_number": "CK001"},
    )


@pytest.fixture
def erp():
    """Kingdee routes: ``erp.answer(...)`` sets what the stock query says."""
    with respx.mock(assert_all_called=False) as router:
        router.login = router.post(LOGIN).mock(return_value=httpx.Response(
            200, json=payload("kingdee_login_ok.json", OLD_FIXTURES)))
        router.query = router.post(QUERY)
        yield router


def level(warehouse, sku):
    return StockLevel.objects.get(warehouse=warehouse, sku=sku)


def queries(erp):
    return [json.loads(call.request.content)["data"] for call in erp.query.calls]


def test_erp_with_less_stock_than_the_mirror_makes_the_order_wait(
    stocked, warehouse, source, make_order, erp
):
    erp.query.mock(return_value=httpx.Response(200, json=payload("stk_inventory_order_short.json")))
    order = make_order(S.PAID)  # 2 × SKU-1, 1 × GIFT-1; the mirror holds 10 of each

    result = order_allocate(order=order, warehouse=warehouse, actor="system:test")

    assert not result.ok
    assert result.order.status == S.OUT_OF_STOCK
    assert [s.as_dict() for s in result.error.shortages] == [
        {"sku_code": "SKU-1", "requested": 2, "available": 1}]
    assert not Reservation.objects.filter(order=order).exists()
    assert level(warehouse, stocked["cup"]).on_hand == 1
    assert level(warehouse, stocked["sleeve"]).on_hand == 4
    sync = StockMovement.objects.filter(kind=StockMovement.Kind.SYNC).order_by("pk")
    assert [(m.sku.code, m.on_hand_delta) for m in sync] == [("GIFT-1", -6), ("SKU-1", -9)]
    assert all(m.reason == f"ERP check for order {order.number}" for m in sync)
    assert stock_drift() == []


def test_erp_is_asked_for_that_orders_skus_only_and_only_those_rows_change(
    stocked, warehouse, source, make_order, erp
):
    erp.query.mock(return_value=httpx.Response(
        200, json=payload("stk_inventory_order_confirmed.json")))
    order = make_order(S.PAID)

    result = order_allocate(order=order, warehouse=warehouse, actor="system:test")

    assert result.ok and result.order.status == S.READY_TO_PICK
    (sent,) = queries(erp)
    assert sent["FormId"] == "STK_Inventory"
    assert sent["FilterString"] == ("FBaseQty<>0 and FStockId.FNumber='CK001' and "
                                    "FMaterialId.FNumber in ('GIFT-1','SKU-1')")
    assert erp.login.call_count == 1
    cup = level(warehouse, stocked["cup"])
    assert (cup.on_hand, cup.reserved) == (5, 2)  # two lots summed
    sleeve = level(warehouse, stocked["sleeve"])
    assert (sleeve.on_hand, sleeve.reserved) == (1, 1)
    # LID-1 is not in the order: not asked for, not touched
    assert level(warehouse, stocked["lid"]).on_hand == 10
    assert not StockMovement.objects.filter(sku=stocked["lid"], kind="sync").exists()
    # a successful check is not a full import: the mirror's time stays
    assert Warehouse.objects.get(pk=warehouse.pk).stock_synced_at == SYNCED


def test_a_kit_is_checked_by_its_components(stocked, warehouse, source, make_order, erp):
    erp.query.mock(return_value=httpx.Response(
        200, json=payload("stk_inventory_kit_components.json")))
    order = make_order(S.PAID, lines=[
        {"sku_code": "KIT-1", "name": "礼盒", "quantity": 3, "unit_price": "99"}])

    result = order_allocate(order=order, warehouse=warehouse, actor="system:test")

    assert "FMaterialId.FNumber in ('LID-1','SKU-1')" in queries(erp)[0]["FilterString"]
    assert result.ok
    cup, lid = level(warehouse, stocked["cup"]), level(warehouse, stocked["lid"])
    assert (cup.on_hand, cup.reserved, lid.on_hand, lid.reserved) == (8, 6, 5, 3)


def test_a_sku_the_erp_does_not_list_holds_nothing(stocked, warehouse, source, make_order, erp):
    erp.query.mock(return_value=httpx.Response(200, json=[["SKU-1", 9.0, "CK001"]]))
    order = make_order(S.PAID)

    result = order_allocate(order=order, warehouse=warehouse, actor="system:test")

    assert not result.ok
    assert [s.sku_code for s in result.error.shortages] == ["GIFT-1"]
    assert level(warehouse, stocked["sleeve"]).on_hand == 0


def test_erp_timing_out_uses_the_mirror_and_says_so_on_the_order(
    stocked, warehouse, source, make_order, erp
):
    erp.query.mock(side_effect=httpx.ReadTimeout("timed out"))
    order = make_order(S.PAID)
    before = list(StockLevel.objects.values_list("sku__code", "on_hand").order_by("sku__code"))

    result = order_allocate(order=order, warehouse=warehouse, actor="system:test")

    assert result.ok and result.order.status == S.READY_TO_PICK
    assert list(StockLevel.objects.values_list("sku__code", "on_hand")
                .order_by("sku__code")) == before
    assert level(warehouse, stocked["cup"]).reserved == 2
    event = OrderEvent.objects.get(order=order, kind="erp_unreachable")
    assert event.message == "ERP unreachable, used the mirror from 2026-12-04 14:30."
    assert event.data["mirror_synced_at"] == SYNCED.isoformat()
    assert "ReadTimeout" in event.data["error"]
    assert "s3cret" not in json.dumps(event.data)
    # shown in the viewer's language on the timeline
    with translation.override("zh-hans"):
        shown = [item["message"] for item in order_timeline(order)
                 if item.get("kind") == "erp_unreachable"]
    assert shown == ["无法连接 ERP，已使用 2026-12-04 14:30 的库存镜像。"]


def test_the_deadline_covers_login_and_query_together(
    stocked, warehouse, source, make_order, erp
):
    def slow_login(request):
        time.sleep(1.2)
        return httpx.Response(200, json=payload("kingdee_login_ok.json", OLD_FIXTURES))

    StockSource.objects.filter(pk=source.pk).update(check_timeout_seconds=1)
    erp.login.mock(side_effect=slow_login)
    erp.query.mock(return_value=httpx.Response(200, json=payload("stk_inventory_order_short.json")))
    order = make_order(S.PAID)

    result = order_allocate(order=order, warehouse=warehouse, actor="system:test")

    # the (mocked) login overran the whole budget: the query is not even sent
    assert erp.query.call_count == 0
    assert result.ok  # against the mirror's 10
    event = OrderEvent.objects.get(order=order, kind="erp_unreachable")
    assert "deadline" in event.data["error"]


def test_erp_error_answer_uses_the_mirror(stocked, warehouse, source, make_order, erp):
    erp.query.mock(return_value=httpx.Response(
        200, json=payload("kingdee_query_error.json", OLD_FIXTURES)))
    Warehouse.objects.filter(pk=warehouse.pk).update(stock_synced_at=None)
    order = make_order(S.PAID)

    result = order_allocate(order=order, warehouse=warehouse, actor="system:test")

    assert result.ok
    event = OrderEvent.objects.get(order=order, kind="erp_unreachable")
    assert event.message.startswith("ERP unreachable, used the stock kept in the hub")
    assert event.data["error"].startswith("Kingdee error")


def test_erp_below_what_other_orders_hold_keeps_their_units(
    stocked, warehouse, source, make_order, erp
):
    first = make_order(S.PAID, lines=[
        {"sku_code": "SKU-1", "name": "杯", "quantity": 3, "unit_price": "1"}])
    StockSource.objects.filter(pk=source.pk).update(check_each_order=False)
    erp_check_cache_clear()  # update() sends no post_save: the flag is cached
    assert order_allocate(order=first, warehouse=warehouse, actor="system:test").ok
    StockSource.objects.filter(pk=source.pk).update(check_each_order=True)
    erp_check_cache_clear()
    erp.query.mock(return_value=httpx.Response(200, json=[["SKU-1", 2.0, "CK001"]]))
    second = make_order(S.PAID, lines=[
        {"sku_code": "SKU-1", "name": "杯", "quantity": 1, "unit_price": "1"}])

    result = order_allocate(order=second, warehouse=warehouse, actor="system:test")

    assert not result.ok
    cup = level(warehouse, stocked["cup"])
    assert (cup.on_hand, cup.reserved) == (3, 3)  # never below what is promised
    assert stock_drift() == []


def test_off_by_default_no_erp_call(stocked, warehouse, make_order, erp):
    source = StockSource.objects.create(
        warehouse=warehouse, kind="kingdee", base_url="https://erp.example.com/k3cloud",
        username="api_stock", secret="pw", options={"acctid": "x"})
    assert source.check_each_order is False and source.check_timeout_seconds == 2
    order = make_order(S.PAID)

    assert order_allocate(order=order, warehouse=warehouse, actor="system:test").ok
    assert erp.login.call_count == 0 and erp.query.call_count == 0


def test_a_disabled_source_is_not_asked(stocked, warehouse, source, make_order, erp):
    StockSource.objects.filter(pk=source.pk).update(enabled=False)
    order = make_order(S.PAID)

    assert order_allocate(order=order, warehouse=warehouse, actor="system:test").ok
    assert erp.query.call_count == 0


def test_an_order_that_will_not_be_reserved_is_not_asked_about(
    stocked, warehouse, source, make_order, erp
):
    erp.query.mock(return_value=httpx.Response(
        200, json=payload("stk_inventory_order_confirmed.json")))
    order = make_order(S.PAID)
    assert order_allocate(order=order, warehouse=warehouse, actor="system:test").ok
    assert erp.query.call_count == 1
    # already ready to pick and holding its stock: allocating again asks nothing
    check = erp_check_order_stock(order=order, warehouse=warehouse, actor="system:test")
    assert not check.checked
    assert erp.query.call_count == 1


def test_bulk_allocation_uses_the_mirror(stocked, warehouse, source, make_order, erp):
    orders = [make_order(S.PAID) for _ in range(3)]

    results = stock_reserve_batch(orders=orders, warehouse=warehouse, actor="system:test")

    assert all(isinstance(r, list) and r for r in results.values())
    assert erp.login.call_count == 0 and erp.query.call_count == 0
    assert level(warehouse, stocked["cup"]).reserved == 6


def test_retry_of_out_of_stock_orders_asks_the_erp_again(
    stocked, warehouse, source, make_order, erp
):
    from warehouse.tasks import retry_out_of_stock

    erp.query.mock(side_effect=[
        httpx.Response(200, json=payload("stk_inventory_order_short.json")),
        httpx.Response(200, json=payload("stk_inventory_order_confirmed.json")),
    ])
    order = make_order(S.PAID)
    assert not order_allocate(order=order, warehouse=warehouse, actor="system:test").ok

    assert retry_out_of_stock() == 1
    order.refresh_from_db()
    assert order.status == S.READY_TO_PICK
    assert level(warehouse, stocked["cup"]).on_hand == 5


@respx.mock
def test_a_rest_erp_is_read_whole_and_only_the_orders_skus_are_kept(
    stocked, warehouse, make_order
):
    StockSource.objects.create(
        warehouse=warehouse, kind="rest", base_url="https://erp.example.com/api/stock",
        secret="tok-123", check_each_order=True,
        options={"items_path": "data.items", "sku_field": "sku",
                 "quantity_field": "stock.on_hand"})
    respx.get("https://erp.example.com/api/stock").mock(return_value=httpx.Response(
        200, json={"data": {"items": [{"sku": "SKU-1", "stock": {"on_hand": 1}},
                                      {"sku": "LID-1", "stock": {"on_hand": 0}},
                                      {"sku": "GIFT-1", "stock": {"on_hand": 3}}]}}))
    order = make_order(S.PAID)

    result = order_allocate(order=order, warehouse=warehouse, actor="system:test")

    assert not result.ok  # 1 SKU-1 in the ERP, 2 wanted
    assert level(warehouse, stocked["cup"]).on_hand == 1
    assert level(warehouse, stocked["sleeve"]).on_hand == 3
    assert level(warehouse, stocked["lid"]).on_hand == 10  # not the order's: left alone
