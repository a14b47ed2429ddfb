"""Reconciliation on crafted settlement files: every difference kind, GBK and UTF-8, XLSX,
and bad files that are reported row by row with nothing saved."""

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from orderhub.models import OrderStatus as S
from orderhub.services.orders import order_transition
from reporting.models import ReconciliationDifference, ReconciliationRun
from reporting.reconciliation import SettlementFileError, reconciliation_run_create
from tests.reporting.conftest import local

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reporting"
K = ReconciliationDifference.Kind
NOV_1, NOV_30 = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
IN_PERIOD = local(2026, 11, 10, 9)


@pytest.fixture
def tmall(make_channel):
    return make_channel("tmall", "taobao", "Tmall flagship")


@pytest.fixture
def hub_orders(make_order, pin, tmall):
    def order(external_id, status, paid=IN_PERIOD):
        return pin(make_order(status, channel=tmall, external_id=external_id), paid=paid)

    made = {
        "T1001": order("T1001", S.PAID),
        "T1002": order("T1002", S.PAID),
        "T1003": order("T1003", S.PAID),
        "T1004": order("T1004", S.SHIPPED),
        "T1005": order("T1005", S.READY_TO_PICK),  # paid in the period, not in the file
        "T1006": order("T1006", S.PENDING_PAYMENT, paid=None),  # never paid: not expected
        "T1007": order("T1007", S.PAID, paid=local(2026, 10, 31, 23, 59)),  # before the period
    }
    made["T1003"] = order_transition(order=made["T1003"].pk, name="cancel",
                                     actor="system:test", reason="buyer asked")
    return made


def upload(name, data=None):
    data = data if data is not None else (FIXTURES / name).read_bytes()
    return SimpleUploadedFile(name, data)


def run_for(channel, name, template="alipay", data=None, actor=None):
    return reconciliation_run_create(channel=channel, template=template, period_from=NOV_1,
                                     period_to=NOV_30, upload=upload(name, data), actor=actor)


def kinds(run):
    return sorted((d.kind, d.external_id) for d in run.differences.all())


EXPECTED = [
    (K.AMOUNT_MISMATCH, "T1002"),
    (K.MISSING_IN_HUB, "T9999"),
    (K.MISSING_ON_PLATFORM, "T1005"),
    (K.STATUS_MISMATCH, "T1003"),  # cancelled in the hub, paid on the platform
    (K.STATUS_MISMATCH, "T1004"),  # refunded on the platform, shipped in the hub
]


@pytest.mark.parametrize(("name", "encoding"), [("alipay_bill_gbk.csv", "gb18030"),
                                                ("alipay_bill_utf8.csv", "utf-8-sig")])
def test_every_difference_kind_on_a_crafted_bill(tmall, hub_orders, name, encoding):
    run = run_for(tmall, name)

    assert kinds(run) == sorted(EXPECTED)
    assert (run.rows_read, run.matched, run.encoding) == (5, 4, encoding)
    amount = run.differences.get(kind=K.AMOUNT_MISMATCH)
    assert (amount.platform_amount, amount.hub_amount) == (Decimal("100.00"), Decimal("118.00"))
    assert amount.order == hub_orders["T1002"]
    refund = run.differences.get(external_id="T1004")
    assert refund.platform_amount == Decimal("-50.00")
    assert refund.platform_status == "交易退款"
    # Platform: 118 + 100 + 118 - 50 + 88.80; hub: 1001, 1002, 1004 (1003 is cancelled) + 1005.
    assert run.totals == {"CNY": {"platform": "374.80", "hub": "472.00",
                                  "difference": "-97.20"}}
    assert run.counts == {K.MISSING_IN_HUB: 1, K.MISSING_ON_PLATFORM: 1,
                          K.AMOUNT_MISMATCH: 1, K.STATUS_MISMATCH: 2}


def test_xlsx_with_the_generic_template(make_order, make_channel):
    shop = make_channel("us", "shopify", "US store")
    make_order(S.PAID, channel=shop, external_id="S-1", currency="USD", total="25.50")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["external_id", "amount", "currency", "status"])
    sheet.append(["S-1", 25.5, "USD", "paid"])
    sheet.append(["S-2", "10.00", "USD", "refund"])
    buffer = io.BytesIO()
    workbook.save(buffer)

    run = reconciliation_run_create(channel=shop, template="generic",
                                    period_from=dt.date(2000, 1, 1),
                                    period_to=dt.date(2000, 1, 2),
                                    upload=upload("bill.xlsx", buffer.getvalue()), actor=None)
    assert kinds(run) == [(K.MISSING_IN_HUB, "S-2")]
    assert run.matched == 1
    assert run.totals["USD"]["platform"] == "35.50"


def test_bad_rows_are_all_reported_and_nothing_is_saved(tmall, hub_orders):
    with pytest.raises(SettlementFileError) as caught:
        run_for(tmall, "alipay_bill_bad_rows_gbk.csv")

    assert caught.value.errors == [
        (7, "Order T1001 appears twice (first on row 6)."),
        (8, "“一百” is not an amount."),
        (9, "No order id."),
    ]
    assert ReconciliationRun.objects.count() == 0
    assert ReconciliationDifference.objects.count() == 0


@pytest.mark.parametrize(("name", "data", "template", "message"), [
    ("bill.csv", b"\xff\xfe\x00\x81\xff", "alipay", "neither UTF-8 nor GBK"),
    ("alipay_bill_gbk.csv", None, "jd", "does not match the “JD (settlement details)”"),
    ("bill.xlsx", b"PK\x03\x04 not really a zip", "generic", "cannot be opened"),
    ("bill.csv", b"external_id,amount\n", "generic", "no settlement rows"),
    ("bill.csv", b"external_id,amount,currency\nA,1.00,RMB1\n", "generic", "currency code"),
])
def test_unusable_files_give_a_clear_reason(tmall, name, data, template, message):
    with pytest.raises(SettlementFileError) as caught:
        run_for(tmall, name, template=template, data=data)
    assert message in caught.value.errors[0][1]
    assert ReconciliationRun.objects.count() == 0


@pytest.fixture
def finance_client(client, make_user):
    client.force_login(make_user("finance"))
    return client


def _post(client, tmall, name, template="alipay", data=None):
    return client.post("/reports/reconciliation/", {
        "channel": tmall.pk, "template": template, "period_from": "2026-11-01",
        "period_to": "2026-11-30", "file": upload(name, data),
    })


def test_upload_page_saves_a_run_that_can_be_reopened_and_exported(finance_client, tmall,
                                                                   hub_orders):
    response = _post(finance_client, tmall, "alipay_bill_gbk.csv")
    run = ReconciliationRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/reports/reconciliation/{run.pk}/"

    page = finance_client.get(f"/reports/reconciliation/{run.pk}/").content.decode()
    assert "T9999" in page and "-97.20" in page
    only = finance_client.get(f"/reports/reconciliation/{run.pk}/", {"kind": K.MISSING_IN_HUB})
    assert only.content.decode().count('data-kind="') == 1
    assert "Tmall flagship" in finance_client.get("/reports/reconciliation/").content.decode()

    exported = finance_client.get(f"/reports/reconciliation/{run.pk}/export.csv")
    body = b"".join(exported.streaming_content).decode("utf-8").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:2] == ["Kind", "Platform order id"]
    assert sorted(row[1] for row in rows[1:]) == ["T1002", "T1003", "T1004", "T1005", "T9999"]


def test_upload_page_lists_row_errors_with_a_400(finance_client, tmall, hub_orders):
    response = _post(finance_client, tmall, "alipay_bill_bad_rows_gbk.csv")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was saved" in html
    assert "Row 8" in html and "is not an amount" in html
    assert ReconciliationRun.objects.count() == 0


def test_upload_form_errors(finance_client, tmall):
    response = finance_client.post("/reports/reconciliation/", {
        "channel": tmall.pk, "template": "alipay", "period_from": "2026-11-30",
        "period_to": "2026-11-01", "file": upload("bill.pdf", b"%PDF"),
    })
    html = response.content.decode()
    assert response.status_code == 400
    assert "The end date is before the start date." in html
    assert "Upload a .csv or .xlsx file." in html


@pytest.mark.parametrize("role", ["ops", "manager", "picker"])
def test_only_finance_and_admin_reconcile(client, make_user, role):
    client.force_login(make_user(role))
    assert client.get("/reports/reconciliation/").status_code == 403
