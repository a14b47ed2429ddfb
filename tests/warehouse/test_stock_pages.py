import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from orderhub.models import OrderStatus
from warehouse.models import StockLevel, StockMovement
from warehouse.services.counts import count_apply, count_preview
from warehouse.services.stock import StockError, stock_reserve

S = OrderStatus


@pytest.fixture
def manager_client(client, make_user):
    client.force_login(make_user("manager"))
    return client


def level(warehouse, sku):
    return StockLevel.objects.get(warehouse=warehouse, sku=sku)


def test_stock_list_search_and_filters(manager_client, stocked, warehouse, make_order):
    warehouse.stock_stale_since = timezone.now()
    warehouse.save()
    stock_reserve(order=make_order(S.PAID, lines=[
        {"sku_code": "LID-1", "name": "lid", "quantity": 10, "unit_price": "1"}]),
        warehouse=warehouse, actor="system:test")
    page = manager_client.get("/warehouse/stock/")
    assert page.status_code == 200
    assert "stock stale since" in page.content.decode()
    assert b"SKU-1" in page.content and b"LID-1" in page.content
    low = manager_client.get("/warehouse/stock/?low=1").content.decode()
    assert "LID-1" in low and "SKU-1" not in low
    found = manager_client.get("/warehouse/stock/?q=6901234567892").content.decode()
    assert "SKU-1" in found and "LID-1" not in found
    partial = manager_client.get("/warehouse/stock/?q=LID", HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b"LID-1" in partial.content


def test_stock_pages_are_by_role(client, make_user, stocked, warehouse):
    client.force_login(make_user("picker"))
    assert client.get("/warehouse/stock/").status_code == 403
    client.force_login(make_user("ops"))
    assert client.get("/warehouse/stock/").status_code == 200
    lvl = level(warehouse, stocked["cup"])
    client.post(f"/warehouse/stock/{lvl.pk}/", {"delta": "5", "reason": "x"})
    assert level(warehouse, stocked["cup"]).on_hand == 15  # ops adjust and count (issue 14)
    assert client.get("/warehouse/stock/count/").status_code == 200
    client.force_login(make_user("finance"))
    assert client.get("/warehouse/stock/").status_code == 403


def test_adjustment_form(manager_client, stocked, warehouse):
    lvl = level(warehouse, stocked["cup"])
    manager_client.post(f"/warehouse/stock/{lvl.pk}/", {"delta": "-3", "reason": "broken",
                                                       "kind": "adjustment"})
    assert level(warehouse, stocked["cup"]).on_hand == 7
    res = manager_client.post(f"/warehouse/stock/{lvl.pk}/", {"delta": "abc", "reason": "x"},
                              follow=True)
    assert "not a whole number" in res.content.decode()
    assert level(warehouse, stocked["cup"]).on_hand == 7
    page = manager_client.get(f"/warehouse/stock/{lvl.pk}/").content.decode()
    assert "broken" in page and "-3 → 7" in page


CSV_OK = "warehouse,sku,counted\nsh,SKU-1,8\nsh,LID-1,10\nsh,GIFT-1,12\n"


def test_count_preview_reports_row_errors_and_applies_nothing(stocked, warehouse):
    bad = ("warehouse,sku,counted\nsh,SKU-1,8\nsh,NOPE,1\nxx,LID-1,1\nsh,GIFT-1,-1\n"
           "sh,LID-1,abc\nsh,SKU-1,9\nsh,KIT-1,1\n")
    preview = count_preview(bad)
    assert not preview.ok
    errors = {row.line: " ".join(row.errors) for row in preview.rows}
    assert errors[2] == ""
    assert "Unknown SKU" in errors[3]
    assert "Unknown warehouse" in errors[4]
    assert "negative" in errors[5]
    assert "not a whole number" in errors[6]
    assert "line 2" in errors[7]
    assert "kit" in errors[8]
    with pytest.raises(StockError):
        count_apply(content=bad, actor="system:test")
    assert level(warehouse, stocked["cup"]).on_hand == 10
    assert not count_preview("sku,qty\nSKU-1,1\n").ok


def test_count_upload_preview_then_apply(manager_client, stocked, warehouse):
    upload = SimpleUploadedFile("count.csv", CSV_OK.encode("utf-8-sig"), "text/csv")
    preview = manager_client.post("/warehouse/stock/count/", {"file": upload}).content.decode()
    assert "Apply 2 changes" in preview
    assert level(warehouse, stocked["cup"]).on_hand == 10  # a preview changes nothing
    res = manager_client.post("/warehouse/stock/count/", {"confirm": "1", "content": CSV_OK,
                                                         "reason": "month-end count"})
    assert res.status_code == 302
    assert level(warehouse, stocked["cup"]).on_hand == 8
    assert level(warehouse, stocked["sleeve"]).on_hand == 12
    assert StockMovement.objects.filter(kind="count", reason="month-end count").count() == 2


def test_count_upload_in_gbk_with_an_unknown_sku(manager_client, stocked):
    content = "warehouse,sku,counted\nsh,未知商品,1\n".encode("gb18030")
    upload = SimpleUploadedFile("count.csv", content, "text/csv")
    page = manager_client.post("/warehouse/stock/count/", {"file": upload}).content.decode()
    assert "Unknown SKU “未知商品”" in page and "nothing was changed" in page


def test_dashboard(manager_client, make_order, warehouse, stocked, make_user):
    from warehouse.services.picking import task_claim_next, task_report_problem, task_scan

    make_order(S.READY_TO_PICK, warehouse=warehouse, priority=2)
    make_order(S.READY_TO_PICK, warehouse=warehouse)
    make_order(S.READY_TO_PICK, warehouse=warehouse)
    picker = make_user("picker")
    task = task_claim_next(picker=picker, warehouse=warehouse)
    task_scan(task_id=task.pk, picker=picker, barcode="SKU-1", key="d1")
    task_report_problem(task_id=task.pk, picker=picker, kind="damaged", note="裂了")
    page = manager_client.get("/warehouse/dashboard/").content.decode()
    assert "Normal: 2" in page
    assert "裂了" in page
    res = manager_client.get("/warehouse/dashboard/", HTTP_HX_REQUEST="true")
    ctx_row = res.context["rows"][0]
    assert (ctx_row["waiting_total"], ctx_row["picking"], ctx_row["pickers_active"],
            ctx_row["picks_last_hour"], ctx_row["problems_today"]) == (2, 1, 1, 1, 1)
