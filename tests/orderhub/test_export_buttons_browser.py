"""The order list's export buttons, in headless Chromium: they carry the filters on screen
(after an in-place HTMX swap too); CSV downloads at once, XLSX runs as a background job
whose progress shows on the list until its download link appears. And the favicon.
"""

import csv
import io
import os
import shutil

import openpyxl
import pytest

from reporting import exports
from reporting import tasks as reporting_tasks
from reporting.models import ExportJob
from tests.conftest import ARTIFACTS, browser_login

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian chromium"),
]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_export_buttons_export_the_filtered_list(browser, live_server, make_user, make_order,
                                                  settings, tmp_path, monkeypatch):
    # given paid and shipped orders, and no worker: the test runs the queued job itself
    settings.MEDIA_ROOT = tmp_path
    queued = []
    # The job is enqueued by task name (a signature): it reaches the task's apply_async.
    monkeypatch.setattr(reporting_tasks.build_export, "apply_async",
                        lambda args=None, kwargs=None, **options: queued.append(args[0]))
    make_order("paid")
    shipped = {make_order("shipped").number, make_order("shipped").number}
    ops = make_user("ops")
    page = browser_login(browser, live_server, ops)
    page.evaluate("window.__noReload = true")

    # when the ops user picks the "Shipped" tab (swapped in place)
    page.click('a.tab[data-status="shipped"]')
    page.wait_for_selector('a.tab.active[data-status="shipped"]')

    # then the CSV button exports exactly the shipped orders
    assert "status=shipped" in page.get_attribute("#export-csv", "href")
    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8-sig").read())))
    assert rows[0][0] == "Hub order number"
    assert {row[0] for row in rows[1:]} == shipped

    # when the XLSX button is pressed, the job is queued and its progress shows on the list
    page.click("#export-xlsx")
    page.wait_for_selector("#export-job-slot progress")
    job = ExportJob.objects.get()
    assert queued == [job.pk]
    assert (job.kind, job.format, job.params.get("status")) == ("orders", "xlsx", ["shipped"])
    assert f"0 / {len(shipped)}" in page.inner_text("#export-job-slot")

    # and once the worker has built the file, the poll shows the download link by itself
    exports.export_job_run(job_id=job.pk)
    link = page.wait_for_selector("#export-job-slot a:text('Download')", timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "orders-export.png"), full_page=True)
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".xlsx")
    with open(download.value.path(), "rb") as handle:
        sheet = openpyxl.load_workbook(io.BytesIO(handle.read()), read_only=True).active
    numbers = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(numbers) == sorted(shipped)
    assert page.evaluate("window.__noReload") is True
    page.context.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("viewport", [None, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_search_box_filter_reaches_the_export_links(browser, live_server, make_user, make_order,
                                                    viewport):
    wanted = make_order("paid", buyer_name="王小明")
    make_order("paid")
    page = browser_login(browser, live_server, make_user("ops"))
    if viewport:
        page.set_viewport_size(viewport)
        assert page.is_visible("#export-csv") and page.is_visible("#export-xlsx")
    page.fill("#id_q", wanted.number)
    page.press("#id_q", "Enter")
    page.wait_for_function("() => document.querySelectorAll('tr.order-row').length === 1")
    for button in ("#export-csv", "#export-xlsx"):
        assert f"q={wanted.number}" in page.get_attribute(button, "href")
    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.reader(open(download.value.path(), encoding="utf-8-sig")))
    assert [row[0] for row in rows[1:]] == [wanted.number]
    page.context.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_favicon_is_served(browser, live_server, make_user):
    page = browser_login(browser, live_server, make_user("ops"))
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    # The root path browsers ask for on their own, and the icon the pages link.
    root = page.request.get(f"{live_server.url}/favicon.ico")
    assert root.status == 200 and root.body()[:4] == b"\x00\x00\x01\x00"  # an .ico file
    href = page.get_attribute("link[rel=icon][type='image/svg+xml']", "href")
    linked = page.request.get(f"{live_server.url}{href}")
    assert linked.status == 200 and b"<svg" in linked.body()
    page.reload()
    assert failed == []
    page.context.close()
