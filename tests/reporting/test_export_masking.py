"""Order exports follow the buyer-data rule of the pages (issue 15): a role without
``orderhub.view_buyer_contact`` (finance) gets masked buyer names in every file,
streamed or built by a worker; ops gets them in full."""

import csv
import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.http import QueryDict
from openpyxl import load_workbook

from orderhub.celery import app as celery_app
from orderhub.models import OrderStatus as S
from orderhub.privacy import mask_name
from reporting import exports
from reporting.models import ExportJob

NAMES = ["张三丰", "Emily Clark"]
HOSTILE = '=HYPERLINK("http://evil.example","Click me")'


@pytest.fixture
def orders(make_order):
    return [make_order(S.PAID, buyer_name=name) for name in NAMES]


@pytest.fixture
def eager_celery(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield tmp_path
    celery_app.conf.task_always_eager = before


def _csv_records(data: bytes) -> list[dict]:
    text = data.decode("utf-8").removeprefix("\ufeff")
    header, *rows = list(csv.reader(io.StringIO(text)))
    return [dict(zip(header, row, strict=True)) for row in rows]


def _xlsx_records(data: bytes) -> list[dict]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    return [dict(zip(header, row, strict=True)) for row in rows]


def _records(fmt: str, data: bytes) -> list[dict]:
    return _csv_records(data) if fmt == "csv" else _xlsx_records(data)


def _buyers(records) -> list[str]:
    return sorted(record["Buyer"] for record in records)


def _logged_in(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(("role", "full"), [("finance", False), ("ops", True)])
def test_streamed_export_shows_buyer_names_as_the_role_may_see_them(
        client, make_user, orders, fmt, role, full):
    response = _logged_in(client, make_user(role)).get(f"/reports/export/orders.{fmt}")

    assert response.status_code == 200
    buyers = _buyers(_records(fmt, b"".join(response.streaming_content)))
    expected = sorted(NAMES if full else [mask_name(name) for name in NAMES])
    assert buyers == expected
    assert ("张*丰" in buyers) is not full and ("E**** C****" in buyers) is not full


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(("role", "full"), [("finance", False), ("ops", True)])
def test_background_job_masks_exactly_as_the_request_would(
        client, make_user, orders, eager_celery, django_capture_on_commit_callbacks,
        fmt, role, full):
    client = _logged_in(client, make_user(role))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(f"/reports/export/orders.{fmt}", {"background": "1"})
    job = ExportJob.objects.get()
    assert response.status_code == 302 and job.status == "done"

    download = client.get(f"/reports/exports/{job.pk}/download/")
    buyers = _buyers(_records(fmt, b"".join(download.streaming_content)))
    assert buyers == sorted(NAMES if full else [mask_name(name) for name in NAMES])
    # The file on disk is what was downloaded: nothing in full is kept for a masked role.
    raw = (eager_celery / job.file.name).read_bytes()
    if fmt == "csv":
        assert ("张三丰" in raw.decode("utf-8")) is full


def test_worker_reads_the_requesters_rights_not_its_own(make_user, orders, eager_celery):
    """The job is built without a request: the rights are the requester's, read by the
    worker. A role that lost the right after asking gets the file masked."""
    requester = make_user("ops")
    job = exports.export_job_start(kind="orders", fmt="csv", params=QueryDict(""),
                                   actor=requester)
    requester.groups.clear()
    requester.groups.add(Group.objects.get(name="finance"))
    exports.export_job_run(job_id=job.pk)

    job.refresh_from_db()
    records = _csv_records((eager_celery / job.file.name).read_bytes())
    assert _buyers(records) == sorted(mask_name(name) for name in NAMES)


def test_the_permission_itself_decides_not_the_role_name(make_user, orders):
    """A finance user given ``view_buyer_contact`` directly sees full names."""
    finance = make_user("finance")
    finance.user_permissions.add(Permission.objects.get(
        content_type__app_label="orderhub", codename="view_buyer_contact"))
    finance = type(finance).objects.get(pk=finance.pk)  # fresh permission cache

    plan = exports.plan_export(kind="orders", fmt="csv", params=QueryDict(""), user=finance)
    name_at = exports.ORDER_FIELDS.index(("buyer_name", "Buyer"))
    assert sorted(row[name_at] for row in plan.rows()) == sorted(NAMES)


def test_no_user_means_masked(orders):
    plan = exports.plan_export(kind="orders", fmt="csv", params=QueryDict(""))
    name_at = exports.ORDER_FIELDS.index(("buyer_name", "Buyer"))
    assert sorted(row[name_at] for row in plan.rows()) == sorted(mask_name(n) for n in NAMES)


@pytest.mark.parametrize("role", ["finance", "ops"])
def test_a_masked_or_full_hostile_name_is_still_neutralised(client, make_user, make_order,
                                                            role):
    make_order(S.PAID, buyer_name=HOSTILE)
    client = _logged_in(client, make_user(role))
    shown = HOSTILE if role == "ops" else mask_name(HOSTILE)
    assert shown.startswith("=")  # masking keeps the first letter: still formula-like

    text = b"".join(client.get("/reports/export/orders.csv").streaming_content)
    assert [record["Buyer"] for record in _csv_records(text)] == ["'" + shown]

    data = b"".join(client.get("/reports/export/orders.xlsx").streaming_content)
    sheet = load_workbook(io.BytesIO(data)).active
    buyer = sheet.cell(row=2, column=exports.ORDER_FIELDS.index(("buyer_name", "Buyer")) + 1)
    assert (buyer.value, buyer.data_type, buyer.quotePrefix) == (shown, "s", True)
