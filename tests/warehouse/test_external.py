import json
from pathlib import Path

import httpx
import pytest
import respx

from warehouse.adapters import StockSourceError
from warehouse.adapters.kingdee import KingdeeAdapter
from warehouse.models import StockLevel, StockMovement, StockSource
from warehouse.services.external import external_stock_import, sources_due
from warehouse.services.stock import stock_drift

FIXTURES = Path(__file__).parent / "fixtures"
K3 = "https://erp.example.com/k3cloud/"
LOGIN = K3 + "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc"
QUERY = K3 + "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def kingdee(warehouse):
    return StockSource.objects.create(
        warehouse=warehouse, kind="kingdee", base_url="https://erp.example.com/k3cloud",
        username="api_stock", secret="s3cret-pw",
        options={"acctid": "62f1e0c8d0a5b1", "stock_number": "CK001", "page_size": 3},
    )


def on_hand(warehouse, sku):
    return StockLevel.objects.get(warehouse=warehouse, sku=sku).on_hand


@respx.mock
def test_kingdee_logs_in_keeps_the_cookie_and_pages(kingdee):
    login = respx.post(LOGIN).mock(return_value=httpx.Response(
        200, json=fixture("kingdee_login_ok.json"),
        headers=[("set-cookie", "kdservice-sessionid=abc123; Path=/"),
                 ("set-cookie", "ASP.NET_SessionId=xyz; Path=/")]))
    query = respx.post(QUERY).mock(side_effect=[
        httpx.Response(200, json=fixture("kingdee_inventory_page1.json")),
        httpx.Response(200, json=fixture("kingdee_inventory_page2.json")),
    ])
    adapter = KingdeeAdapter(kingdee)
    figures = adapter.fetch_on_hand()
    assert figures == {"SKU-1": 10, "LID-1": 7, "GIFT-1": 3, "ERP-ONLY-9": 1}
    body = json.loads(login.calls[0].request.content)
    assert body == {"acctid": "62f1e0c8d0a5b1", "username": "api_stock",
                    "password": "s3cret-pw", "lcid": 2052}
    pages = [json.loads(c.request.content)["data"] for c in query.calls]
    assert [(p["StartRow"], p["Limit"]) for p in pages] == [(0, 3), (3, 3)]
    assert pages[0]["FormId"] == "STK_Inventory"
    assert "FStockId.FNumber='CK001'" in pages[0]["FilterString"]
    cookie = query.calls[0].request.headers["cookie"]
    assert "kdservice-sessionid=abc123" in cookie and "ASP.NET_SessionId=xyz" in cookie


@respx.mock
def test_kingdee_app_secret_login(kingdee):
    kingdee.options = {**kingdee.options, "auth": "appsecret", "appid": "224466_abc"}
    route = respx.post(K3 + "Kingdee.BOS.WebApi.ServicesStub.AuthService.LoginByAppSecret"
                       ".common.kdsvc").mock(
        return_value=httpx.Response(200, json=fixture("kingdee_login_ok.json")))
    KingdeeAdapter(kingdee).login()
    body = json.loads(route.calls[0].request.content)
    assert body["appid"] == "224466_abc" and body["appsecret"] == "s3cret-pw"


@respx.mock
def test_kingdee_login_failure_and_error_arrays(kingdee):
    respx.post(LOGIN).mock(return_value=httpx.Response(200, json=fixture(
        "kingdee_login_failed.json")))
    with pytest.raises(StockSourceError, match="用户名或密码错误"):
        KingdeeAdapter(kingdee).fetch_on_hand()
    respx.post(LOGIN).mock(return_value=httpx.Response(200, json=fixture(
        "kingdee_login_ok.json")))
    respx.post(QUERY).mock(return_value=httpx.Response(200, json=fixture(
        "kingdee_query_error.json")))
    with pytest.raises(StockSourceError, match="Kingdee error 500: 会话信息已丢失"):
        KingdeeAdapter(kingdee).fetch_on_hand()


@respx.mock
def test_kingdee_bad_quantity_is_an_error(kingdee):
    respx.post(LOGIN).mock(return_value=httpx.Response(200, json=fixture(
        "kingdee_login_ok.json")))
    respx.post(QUERY).mock(return_value=httpx.Response(200, json=[["SKU-1", 1.5, "CK001"]]))
    with pytest.raises(StockSourceError, match="not a whole number"):
        KingdeeAdapter(kingdee).fetch_on_hand()


@respx.mock
def test_import_writes_sync_movements_and_keeps_the_ledger_true(
    kingdee, warehouse, stocked, make_order
):
    from orderhub.models import OrderStatus
    from warehouse.services.stock import stock_reserve

    # 8 lids are promised, the ERP says 7: on hand stays at 8 and it is reported
    stock_reserve(order=make_order(OrderStatus.PAID, lines=[
        {"sku_code": "LID-1", "name": "lid", "quantity": 8, "unit_price": "1"}]),
        warehouse=warehouse, actor="system:test")
    respx.post(LOGIN).mock(return_value=httpx.Response(200, json=fixture(
        "kingdee_login_ok.json")))
    respx.post(QUERY).mock(side_effect=[
        httpx.Response(200, json=fixture("kingdee_inventory_page1.json")),
        httpx.Response(200, json=fixture("kingdee_inventory_page2.json")),
    ])
    result = external_stock_import(warehouse_id=warehouse.pk, actor="system:test")
    assert result.ok
    assert result.unknown_skus == ["ERP-ONLY-9"]
    assert result.conflicts == [{"sku_code": "LID-1", "erp": 7, "reserved": 8}]
    assert (on_hand(warehouse, stocked["cup"]), on_hand(warehouse, stocked["lid"]),
            on_hand(warehouse, stocked["sleeve"])) == (10, 8, 3)
    assert result.changed == 2 and result.unchanged == 1
    assert StockMovement.objects.filter(kind="sync").count() == 2
    assert stock_drift() == []
    warehouse.refresh_from_db()
    assert warehouse.stock_synced_at and warehouse.stock_stale_since is None


@respx.mock
def test_unreachable_erp_keeps_last_stock_and_marks_it_stale(kingdee, warehouse, stocked):
    respx.post(LOGIN).mock(side_effect=httpx.ConnectError("refused"))
    result = external_stock_import(warehouse_id=warehouse.pk, actor="system:test")
    assert not result.ok and "unreachable" in result.error
    assert on_hand(warehouse, stocked["cup"]) == 10
    warehouse.refresh_from_db()
    first_stale = warehouse.stock_stale_since
    assert first_stale is not None and "s3cret" not in warehouse.stock_sync_error
    # a second failure keeps the original "stale since"
    external_stock_import(warehouse_id=warehouse.pk, actor="system:test")
    warehouse.refresh_from_db()
    assert warehouse.stock_stale_since == first_stale
    assert sources_due() == [warehouse.pk]


@respx.mock
def test_rest_adapter_follows_next_links_and_field_paths(warehouse, stocked):
    StockSource.objects.create(
        warehouse=warehouse, kind="rest", base_url="https://erp.example.com/api/stock",
        secret="tok-123",
        options={"items_path": "data.items", "sku_field": "sku",
                 "quantity_field": "stock.on_hand", "next_path": "data.next",
                 "params": {"warehouse": "SH"}},
    )
    first = respx.get("https://erp.example.com/api/stock", params={"warehouse": "SH"}).mock(
        return_value=httpx.Response(200, json=fixture("rest_stock_page1.json")))
    respx.get("https://erp.example.com/api/stock", params={"cursor": "p2"}).mock(
        return_value=httpx.Response(200, json=fixture("rest_stock_page2.json")))
    result = external_stock_import(warehouse_id=warehouse.pk, actor="system:test")
    assert result.ok, result.error
    assert first.calls[0].request.headers["authorization"] == "Bearer tok-123"
    assert (on_hand(warehouse, stocked["cup"]), on_hand(warehouse, stocked["lid"]),
            on_hand(warehouse, stocked["sleeve"])) == (12, 5, 0)


@respx.mock
def test_rest_adapter_page_numbers_and_bad_shapes(warehouse, stocked):
    from warehouse.adapters.rest import RestAdapter

    source = StockSource(
        warehouse=warehouse, kind="rest", base_url="https://erp.example.com/v2/inventory",
        options={"page_param": "page", "page_size_param": "per_page", "page_size": 2,
                 "sku_field": "code", "quantity_field": "qty"},
    )
    route = respx.get("https://erp.example.com/v2/inventory").mock(side_effect=[
        httpx.Response(200, json=[{"code": "SKU-1", "qty": 1}, {"code": "LID-1", "qty": 2}]),
        httpx.Response(200, json=[{"code": "GIFT-1", "qty": 3}]),
    ])
    assert RestAdapter(source).fetch_on_hand() == {"SKU-1": 1, "LID-1": 2, "GIFT-1": 3}
    assert [c.request.url.params["page"] for c in route.calls] == ["1", "2"]
    respx.get("https://erp.example.com/v2/inventory").mock(
        return_value=httpx.Response(200, json={"oops": True}))
    with pytest.raises(StockSourceError, match="no list"):
        RestAdapter(source).fetch_on_hand()
    respx.get("https://erp.example.com/v2/inventory").mock(return_value=httpx.Response(503))
    with pytest.raises(StockSourceError, match="HTTP 503"):
        RestAdapter(source).fetch_on_hand()


def test_stock_source_admin_form_assumes_https_for_a_bare_host():
    from warehouse.admin import StockSourceForm

    form = StockSourceForm(data={"kind": "rest", "enabled": "on",
                                 "base_url": "erp.example.com/api", "options": "{}",
                                 "interval_minutes": "15"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["base_url"] == "https://erp.example.com/api"


@respx.mock
def test_stock_source_errors_say_whether_a_later_try_may_help(warehouse):
    from orderhub.adapters import AdapterError, is_retryable
    from warehouse.adapters.rest import RestAdapter

    source = StockSource(warehouse=warehouse, kind="rest",
                         base_url="https://erp.example.com/v2/inventory",
                         options={"sku_field": "code", "quantity_field": "qty"})
    url = "https://erp.example.com/v2/inventory"

    def error(**mock):
        respx.get(url).mock(**mock)
        with pytest.raises(StockSourceError) as caught:
            RestAdapter(source).fetch_on_hand()
        assert isinstance(caught.value, AdapterError)
        return caught.value

    for status in (429, 500, 503):
        exc = error(return_value=httpx.Response(status))
        assert (exc.retryable, exc.status_code, is_retryable(exc)) == (True, status, True)
    for status in (400, 401, 403, 404):
        exc = error(return_value=httpx.Response(status))
        assert (exc.retryable, exc.status_code) == (False, status)
    assert error(side_effect=httpx.ConnectError("refused")).retryable is True
    # An answer of the wrong shape reads the same next time.
    assert error(return_value=httpx.Response(200, json={"oops": True})).retryable is False
