"""Exports: CSV and XLSX open with csv/openpyxl and hold exactly what the list shows."""

import csv
import io
from decimal import Decimal

import openpyxl.xml
import pytest
from django.db import connection
from django.http import QueryDict
from django.utils import timezone
from openpyxl import load_workbook

from orderhub.celery import app as celery_app
from orderhub.forms import OrderFilterForm
from orderhub.models import OrderStatus as S
from orderhub.selectors import order_list_queryset
from reporting import exports
from reporting.models import ExportJob
from tests.reporting.conftest import local
from warehouse.models import SKU


@pytest.fixture
def orders(make_order, make_channel, pin, warehouse):
    shopify = make_channel("sp", "shopify", "Shopify store")
    made = [
        pin(make_order(S.PAID, buyer_name="李四"), placed=local(2026, 11, 20, 9, 30),
            paid=local(2026, 11, 20, 9, 40)),
        pin(make_order(S.SHIPPED, warehouse=warehouse), placed=local(2026, 11, 20, 23, 59),
            paid=local(2026, 11, 21, 0, 5), shipped=local(2026, 11, 21, 8, 0)),
        pin(make_order(S.REVIEW, channel=shopify, currency="USD", total="25.50"),
            placed=local(2026, 11, 21, 10, 0), paid=local(2026, 11, 21, 10, 1)),
        pin(make_order(S.CANCELLED), placed=local(2026, 11, 19, 10, 0)),
    ]
    return made


@pytest.fixture
def ops_client(client, make_user):
    client.force_login(make_user("ops"))
    return client


def _csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def _xlsx_rows(data: bytes) -> list[list]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _list_numbers(params: dict) -> list[str]:
    form = OrderFilterForm(QueryDict(mutable=True) | params)
    assert form.is_valid()
    return list(order_list_queryset(form.filters()).values_list("number", flat=True))


@pytest.mark.parametrize("params", [{}, {"status": "paid"}, {"from": "2026-11-20",
                                                               "to": "2026-11-20"},
                                    {"channel": "sp"}, {"sort": "total"}])
def test_order_csv_matches_the_list(ops_client, orders, params):
    response = ops_client.get("/reports/export/orders.csv", params)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    rows = _csv_rows(response)
    assert rows[0][:3] == ["Hub order number", "Platform order id", "Channel"]
    assert [row[0] for row in rows[1:]] == _list_numbers(params)


def test_order_csv_values_are_local_times_and_exact_money(ops_client, orders):
    rows = _csv_rows(ops_client.get("/reports/export/orders.csv", {"status": "shipped"}))
    header, row = rows[0], rows[1]
    record = dict(zip(header, row, strict=True))
    assert record["Placed"] == "2026-11-20 23:59:00"  # Asia/Shanghai, not UTC
    assert record["Shipped"] == "2026-11-21 08:00:00"
    assert record["Total"] == "118.00"
    assert record["Warehouse"] == "sh"
    assert record["Platform"] == "manual"


def test_order_xlsx_matches_the_list(ops_client, orders):
    response = ops_client.get("/reports/export/orders.xlsx", {"from": "2026-11-20"})

    assert response.status_code == 200
    rows = _xlsx_rows(b"".join(response.streaming_content))
    assert rows[0][0] == "Hub order number"
    assert [row[0] for row in rows[1:]] == _list_numbers({"from": "2026-11-20"})
    usd = next(row for row in rows[1:] if row[14] == "USD")
    assert Decimal(str(usd[15])) == Decimal("25.50")
    assert usd[7].isoformat() == "2026-11-21T10:00:00"  # local, naive: Excel has no zones
    assert "李四" in [row[11] for row in rows[1:]]


def test_invalid_export_filters_are_a_clear_400(ops_client, orders):
    response = ops_client.get("/reports/export/orders.csv", {"from": "not-a-date"})
    assert response.status_code == 400
    assert "The filters are not valid" in response.content.decode()
    assert ops_client.get("/reports/export/orders.pdf").status_code == 400


@pytest.mark.parametrize(("role", "orders_status", "summary_status"), [
    ("ops", 200, 403), ("finance", 200, 200), ("manager", 200, 200), ("picker", 403, 403),
])
def test_export_permissions(client, make_user, db, role, orders_status, summary_status):
    client.force_login(make_user(role))
    assert client.get("/reports/export/orders.csv").status_code == orders_status
    assert client.get("/reports/export/daily.csv").status_code == summary_status


def test_summary_exports(client, make_user, orders):
    client.force_login(make_user("finance"))
    params = {"from": "2026-11-19", "to": "2026-11-21"}
    daily = _csv_rows(client.get("/reports/export/daily.csv", params))
    assert daily == [
        ["Day", "Placed", "Paid", "Shipped", "Cancelled", "Sales"],
        ["2026-11-19", "1", "0", "0", "1", ""],
        ["2026-11-20", "2", "1", "0", "0", "CNY 118.00"],
        ["2026-11-21", "1", "2", "1", "0", "CNY 118.00; USD 25.50"],
    ]
    sales = _xlsx_rows(b"".join(client.get("/reports/export/sales.xlsx",
                                           params).streaming_content))
    assert sales[0] == ["Day", "Platform", "Currency", "Orders", "Total"]
    assert [row[1:4] for row in sales[1:]] == [["manual", "CNY", 1], ["manual", "CNY", 1],
                                              ["shopify", "USD", 1]]
    platforms = _csv_rows(client.get("/reports/export/platforms.csv", params))
    assert platforms[1:] == [["manual", "3", "2", "1", "1", "CNY 236.00"],
                             ["shopify", "1", "1", "0", "0", "USD 25.50"]]
    assert client.get("/reports/export/nonsense.csv").status_code == 404
    assert client.get("/reports/export/daily.csv", {"to": "2026-02-30"}).status_code == 400


@pytest.fixture
def eager_celery(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield tmp_path
    celery_app.conf.task_always_eager = before


def test_big_xlsx_runs_as_a_task_with_progress_and_a_download(
    ops_client, orders, eager_celery, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(exports, "XLSX_SYNC_MAX_ROWS", 2)
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.get("/reports/export/orders.xlsx", {"sort": "placed"})
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/reports/exports/{job.pk}/"
    assert (job.status, job.rows_total, job.rows_done, job.percent) == ("done", 4, 4, 100)
    assert job.file.name.startswith("exports/")
    assert (eager_celery / job.file.name).exists()

    page = ops_client.get(f"/reports/exports/{job.pk}/")
    assert f"/reports/exports/{job.pk}/download/" in page.content.decode()
    poll = ops_client.get(f"/reports/exports/{job.pk}/", HTTP_HX_REQUEST="true")
    assert poll.status_code == 286  # tells htmx to stop polling

    download = ops_client.get(f"/reports/exports/{job.pk}/download/")
    rows = _xlsx_rows(b"".join(download.streaming_content))
    assert [row[0] for row in rows[1:]] == _list_numbers({"sort": "placed"})


def test_export_job_is_idempotent_and_private(orders, eager_celery, make_user, client):
    owner = make_user("ops")
    job = exports.export_job_start(kind="orders", fmt="csv",
                                   params=QueryDict("status=paid"), actor=owner)
    exports.export_job_run(job_id=job.pk)
    first = ExportJob.objects.get(pk=job.pk)
    assert (first.status, first.rows_done) == ("done", 1)
    again = exports.export_job_run(job_id=job.pk)
    assert again.file.name == first.file.name

    client.force_login(make_user("ops"))
    assert client.get(f"/reports/exports/{job.pk}/").status_code == 404
    assert client.get(f"/reports/exports/{job.pk}/download/").status_code == 404


def test_a_pending_job_page_polls_for_progress(orders, make_user, client):
    owner = make_user("ops")
    job = ExportJob.objects.create(kind="orders", format="xlsx", created_by=owner,
                                   rows_total=200, rows_done=50, status="running")
    client.force_login(owner)
    html = client.get(f"/reports/exports/{job.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert 'value="25"' in html
    assert "download/" not in html


# --- speed-related behaviour (bench/export.py measures the speed itself) ------------------------


def test_xlsx_is_written_through_lxml():
    """openpyxl's lxml writer is about twice as fast; without lxml it silently falls back."""
    assert openpyxl.xml.LXML, "install lxml (pinned in pyproject) for fast XLSX exports"


def test_export_times_follow_the_current_time_zone(orders):
    rows = {row[0]: row for row in exports._order_rows({"sort": "placed"})}
    shipped = rows[orders[1].number]
    with timezone.override("UTC"):
        utc = {row[0]: row for row in exports._order_rows({"sort": "placed"})}[orders[1].number]
    # placed 23:59 on the 20th in Shanghai is 15:59 UTC; naive, to the second, either way.
    assert shipped[7].isoformat() == "2026-11-20T23:59:00"
    assert utc[7].isoformat() == "2026-11-20T15:59:00"
    assert shipped[9].isoformat() == "2026-11-21T08:00:00" and utc[9].hour == 0
    assert shipped[8].tzinfo is None and rows[orders[3].number][8] is None  # never paid


def test_order_rows_stop_cleanly_when_the_client_goes_away(orders):
    rows = exports._order_rows({"sort": "placed"})
    first = next(rows)
    assert first[0] == orders[3].number  # oldest first
    depth = len(connection.savepoint_ids)
    rows.close()  # what Django does when the client disconnects mid-stream
    # The read's atomic block (a savepoint inside the test's transaction) is closed
    # and the connection still works.
    assert len(connection.savepoint_ids) == depth - 1
    assert exports.order_export_queryset({"sort": "placed"}).count() == 4


def test_category_summary_export(client, make_user, orders):
    SKU.objects.create(code="SKU-1", name="保温杯", category="drinkware")
    client.force_login(make_user("finance"))
    params = {"from": "2026-11-19", "to": "2026-11-21"}
    rows = _csv_rows(client.get("/reports/export/categories.csv", params))
    # Every test order sells SKU-1 (plus a gift, which does not count).
    assert rows == [
        ["SKU category", "Placed", "Paid", "Shipped", "Cancelled", "Sales"],
        ["drinkware", "4", "3", "1", "1", "CNY 236.00; USD 25.50"],
    ]
    only = _csv_rows(client.get("/reports/export/daily.csv", {**params,
                                                              "category": "drinkware"}))
    assert [r[1] for r in only[1:]] == ["1", "2", "1"]
    bad = client.get("/reports/export/daily.csv", {**params, "category": "no-such"})
    assert bad.status_code == 400
