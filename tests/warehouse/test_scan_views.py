import pytest
from django.urls import reverse

from orderhub.models import OrderStatus

S = OrderStatus


@pytest.fixture
def picker_client(client, make_user, warehouse):
    user = make_user("picker")
    client.force_login(user)
    client.post(reverse("scan"), {"warehouse": warehouse.pk})
    client.user = user
    return client


def test_scan_page_needs_the_scan_permission(client, make_user):
    assert client.get("/scan/").status_code == 302  # to login
    client.force_login(make_user("finance"))
    assert client.get("/scan/").status_code == 403


def test_scan_api_flow(picker_client, make_order, warehouse, stocked):
    order = make_order(S.READY_TO_PICK, warehouse=warehouse)
    page = picker_client.get("/scan/")
    assert page.status_code == 200 and b"Take next task" in page.content
    task = picker_client.post("/scan/next/").json()["task"]
    assert task["order"] == order.number
    url = f"/scan/task/{task['id']}/"
    res = picker_client.post(url + "scan/", {"barcode": "SKU-1", "key": "a"}).json()
    assert res["ok"] and res["task"]["picked"] == 1
    res = picker_client.post(url + "scan/", {"barcode": "INT-LID-1", "key": "b"}).json()
    assert not res["ok"] and res["result"] == "wrong_item"
    res = picker_client.post(url + "finish/")
    assert res.status_code == 400 and "Still to pick" in res.json()["error"]
    res = picker_client.post(url + "problem/", {"kind": "damaged", "note": "box dented"})
    assert res.status_code == 200
    for key, code in [("c", "SKU-1"), ("d", "GIFT-1")]:
        assert picker_client.post(url + "scan/", {"barcode": code, "key": key}).json()["ok"]
    assert picker_client.post(url + "finish/").status_code == 200
    order.refresh_from_db()
    assert order.status == S.PICKED


def test_scan_on_someone_elses_task_is_409(picker_client, client, make_user, make_order,
                                           warehouse, stocked):
    make_order(S.READY_TO_PICK, warehouse=warehouse)
    task = picker_client.post("/scan/next/").json()["task"]
    from django.test import Client

    other = Client()
    other.force_login(make_user("picker"))
    res = other.post(f"/scan/task/{task['id']}/scan/", {"barcode": "SKU-1", "key": "z"})
    assert res.status_code == 409


def test_picklist_pdf_views(client, make_user, make_order, warehouse, stocked):
    order = make_order(S.READY_TO_PICK, warehouse=warehouse)
    client.force_login(make_user("picker"))
    assert client.post("/warehouse/picklists/", {"order": [order.pk]}).status_code == 403
    client.force_login(make_user("ops"))
    res = client.post("/warehouse/picklists/", {"order": [order.pk]})
    assert res.status_code == 302
    pdf = client.get(res.url + "?format=label")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.post("/warehouse/picklists/", {"order": [order.pk]}).status_code == 400
    seal = client.get(f"/warehouse/orders/{order.pk}/seal.pdf")
    assert seal.status_code == 200 and seal.content.startswith(b"%PDF")


def test_picklist_page_lists_waiting_orders_and_reprints(client, make_user, make_order,
                                                         warehouse, stocked):
    a = make_order(S.READY_TO_PICK, warehouse=warehouse)
    b = make_order(S.READY_TO_PICK, warehouse=warehouse)
    client.force_login(make_user("ops"))
    page = client.get("/warehouse/picklists/").content.decode()
    assert a.number in page and b.number in page
    client.post("/warehouse/picklists/", {"order": [a.pk]})
    page = client.get("/warehouse/picklists/").content.decode()
    waiting = page[:page.index("Recent pick lists")]
    assert a.number not in waiting and b.number in waiting  # a is on an active list now
    from warehouse.models import PickList

    first = PickList.objects.get()
    res = client.post(f"/warehouse/picklists/{first.pk}/reprint/")
    assert res.status_code == 302
    first.refresh_from_db()
    assert first.status == "void"
    assert "REPRINT 1" in client.get("/warehouse/picklists/").content.decode()
