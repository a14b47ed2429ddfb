"""Pack-verify: scan the order at the packing bench, then every item again."""

import threading

import pytest
from django.db import connections
from django.test import Client

from orderhub.models import OrderEvent, OrderStatus
from orderhub.services.orders import order_transition
from tests.conftest import requires_postgres
from warehouse.models import PackCheck, PackScan
from warehouse.services.packing import (
    CheckNotYours,
    PackingError,
    pack_abandon,
    pack_complete,
    pack_scan,
    pack_start,
    pack_state,
)
from warehouse.services.picklists import picklist_create
from warehouse.signals import pack_verified

S = OrderStatus


@pytest.fixture
def packer(make_user):
    return make_user("picker")


@pytest.fixture
def picked(make_order, warehouse, stocked):
    """A picked order: 2 × SKU-1 (cup) and 1 × GIFT-1 (gift sleeve)."""
    def make(**kw):
        return make_order(S.PICKED, warehouse=warehouse, **kw)
    return make


def scan(check, packer, code, key):
    return pack_scan(check_id=check.pk, packer=packer, barcode=code, key=key)


def test_start_by_order_number_seal_qr_or_single_pick_list(picked, packer, make_user,
                                                           warehouse, make_order):
    # given three picked orders
    a, b, c = picked(), picked(), picked()
    # when the packer scans the order number, then (after putting it aside) the
    # seal label's QR URL, then a one-order pick list
    check = pack_start(packer=packer, warehouse=warehouse, code=f" {a.number} ")
    assert check.order == a and check.status == PackCheck.Status.OPEN
    assert pack_start(packer=packer, warehouse=warehouse, code=a.number) == check  # resumes
    pack_abandon(check_id=check.pk, packer=packer)
    by_qr = pack_start(packer=packer, warehouse=warehouse,
                       code=f"https://hub.example.com/orders/{b.pk}/")
    assert by_qr.order == b
    pack_abandon(check_id=by_qr.pk, packer=packer)
    # a pick list made while c was ready to pick still names it after picking
    ready = make_order(S.READY_TO_PICK, warehouse=warehouse)
    single = picklist_create(orders=[ready], actor="system:test")
    for name in ("claim", "finish"):
        order_transition(order=ready.pk, name=name, actor="system:test")
    assert pack_start(packer=packer, warehouse=warehouse, code=single.number).order == ready
    # then each check lists the order's physical items, the gift apart
    state = pack_state(PackCheck.objects.get(order=ready, status="open"))
    assert state["total"] == 3 and state["picked"] == 0
    assert {(ln["sku"], ln["quantity"], ln["gift"]) for ln in state["lines"]} == {
        ("SKU-1", 2, False), ("GIFT-1", 1, True)}
    assert c.pack_checks.count() == 0


def test_start_refuses_what_cannot_be_packed(picked, packer, make_user, make_order, warehouse,
                                             stocked):
    other_wh = type(warehouse).objects.create(code="bj", name="北京仓")
    not_picked = make_order(S.READY_TO_PICK, warehouse=warehouse)
    elsewhere = make_order(S.PICKED, warehouse=other_wh)
    a, b = picked(), picked()
    wave = picklist_create(orders=[make_order(S.READY_TO_PICK, warehouse=warehouse),
                                   make_order(S.READY_TO_PICK, warehouse=warehouse)],
                           actor="system:test")
    cases = [
        ("", "Nothing was scanned"),
        ("NOPE-123", "is not an order, pick list or seal label"),
        (not_picked.number, "only picked orders are packed"),
        (elsewhere.number, "packed in another warehouse"),
        (wave.number, "is a wave"),
    ]
    for code, message in cases:
        with pytest.raises(PackingError, match=message):
            pack_start(packer=packer, warehouse=warehouse, code=code)
    # someone else is verifying a; the packer cannot open it, nor a second order
    other = make_user("picker")
    pack_start(packer=other, warehouse=warehouse, code=a.number)
    with pytest.raises(CheckNotYours, match=f"being verified by {other.username}"):
        pack_start(packer=packer, warehouse=warehouse, code=a.number)
    pack_start(packer=packer, warehouse=warehouse, code=b.number)
    with pytest.raises(PackingError, match=f"Finish or cancel order {b.number} first"):
        pack_start(packer=packer, warehouse=warehouse, code=not_picked.number)
    assert PackCheck.objects.count() == 2


def test_scans_count_refuse_wrong_and_extra_items_and_are_idempotent(picked, packer,
                                                                    warehouse):
    check = pack_start(packer=packer, warehouse=warehouse, code=picked().number)
    # a right item counts, by any of its barcodes or its SKU code
    first = scan(check, packer, "6901234567892", "k1")
    assert first.ok and first.message.endswith("1/2")
    # the same key again (a network retry) does not count twice
    again = scan(check, packer, "6901234567892", "k1")
    assert again.replay and again.ok
    assert pack_state(check)["picked"] == 1
    # an item of the catalogue that is not in this order is refused loudly
    wrong = scan(check, packer, "INT-LID-1", "k2")
    assert wrong.result == "wrong_item" and "not in this order" in wrong.message
    unknown = scan(check, packer, "0000000000000", "k3")
    assert unknown.result == "unknown"
    assert scan(check, packer, "012345678905", "k4").ok  # the cup's UPC
    # a third cup is an over-scan
    over = scan(check, packer, "SKU-1", "k5")
    assert over.result == "over_pick" and "already in the parcel" in over.message
    # then: nothing refused was counted, every scan is on record
    state = pack_state(check)
    assert state["picked"] == 2 and not state["complete"]
    assert PackScan.objects.filter(pack_check=check).count() == 5
    assert list(PackScan.objects.filter(pack_check=check, result="ok")
                .values_list("key", flat=True).order_by("key")) == ["k1", "k4"]
    with pytest.raises(PackingError, match="idempotency key"):
        scan(check, packer, "SKU-1", "")


def test_scan_on_someone_elses_or_closed_check_is_refused(picked, packer, make_user, warehouse):
    check = pack_start(packer=packer, warehouse=warehouse, code=picked().number)
    with pytest.raises(CheckNotYours):
        scan(check, make_user("picker"), "SKU-1", "x1")
    pack_abandon(check_id=check.pk, packer=packer)
    with pytest.raises(CheckNotYours, match="closed"):
        scan(check, packer, "SKU-1", "x2")
    assert not PackScan.objects.exists()


def test_complete_needs_every_item_then_records_who_and_when(
    picked, packer, warehouse, django_capture_on_commit_callbacks
):
    order = picked()
    check = pack_start(packer=packer, warehouse=warehouse, code=order.number)
    scan(check, packer, "SKU-1", "c1")
    with pytest.raises(PackingError, match="Still missing: .*×1, .*×1"):
        pack_complete(check_id=check.pk, packer=packer)
    scan(check, packer, "SKU-1", "c2")
    scan(check, packer, "GIFT-1", "c3")
    heard = []
    pack_verified.connect(lambda **kw: heard.append(kw), weak=False, dispatch_uid="pv")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            pack_complete(check_id=check.pk, packer=packer)
    finally:
        pack_verified.disconnect(dispatch_uid="pv")
    check.refresh_from_db()
    order.refresh_from_db()
    assert check.status == PackCheck.Status.VERIFIED and check.finished_at is not None
    assert check.packer == packer
    # verification is no transition: the order stays picked until the carrier takes it
    assert order.status == S.PICKED
    event = OrderEvent.objects.get(order=order, kind="pack_verified")
    assert event.actor == packer.username and event.data["units"] == 3
    assert heard == [{"signal": pack_verified, "sender": PackCheck, "check_id": check.pk,
                      "order_id": order.pk, "warehouse_id": warehouse.pk,
                      "actor": packer.username}]
    # a verified order cannot be verified again
    with pytest.raises(PackingError, match="already verified by"):
        pack_start(packer=packer, warehouse=warehouse, code=order.number)


def test_complete_refused_when_the_order_was_intercepted_meanwhile(picked, packer, warehouse):
    order = picked()
    check = pack_start(packer=packer, warehouse=warehouse, code=order.number)
    for code, key in [("SKU-1", "i1"), ("SKU-1", "i2"), ("GIFT-1", "i3")]:
        scan(check, packer, code, key)
    order_transition(order=order.pk, name="intercept", actor="system:test", reason="buyer")
    with pytest.raises(PackingError, match="do not seal it"):
        pack_complete(check_id=check.pk, packer=packer)
    check.refresh_from_db()
    assert check.status == PackCheck.Status.OPEN
    assert not OrderEvent.objects.filter(order=order, kind="pack_verified").exists()


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_packers_scanning_the_same_order_at_once_open_one_check(picked, make_user,
                                                                    warehouse):
    order = picked()
    packers = [make_user("picker") for _ in range(6)]
    barrier = threading.Barrier(len(packers))
    outcomes = []

    def worker(user):
        try:
            barrier.wait()
            pack_start(packer=user, warehouse=warehouse, code=order.number)
            outcomes.append("ok")
        except PackingError:
            outcomes.append("refused")
        except Exception as exc:  # noqa: BLE001 - shown in the assertion below
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(u,)) for u in packers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 5
    assert PackCheck.objects.filter(order=order).count() == 1


# --- pages and JSON API ---------------------------------------------------------------


@pytest.fixture
def packer_client(client, packer, warehouse):
    client.force_login(packer)
    client.post("/scan/pack/", {"warehouse": warehouse.pk})
    return client


def test_pack_pages_need_the_pack_permission(client, make_user, picked):
    check_url = "/scan/pack/1/scan/"
    assert client.get("/scan/pack/").status_code == 302  # to login
    client.force_login(make_user("finance"))
    assert client.get("/scan/pack/").status_code == 403
    assert client.post("/scan/pack/start/", {"code": "x"}).status_code == 403
    assert client.post(check_url, {"barcode": "x", "key": "k"}).status_code == 403


def test_pack_api_flow_and_label(packer_client, picked, warehouse):
    order = picked()
    page = packer_client.get("/scan/pack/")
    assert page.status_code == 200 and b'data-mode="pack"' in page.content
    assert b"Scan the order" in page.content and b"Take next task" not in page.content
    res = packer_client.post("/scan/pack/start/", {"code": order.number}).json()
    url = f"/scan/pack/{res['task']['id']}/"
    assert res["task"]["order"] == order.number and res["task"]["total"] == 3
    assert packer_client.get(url).json()["task"]["id"] == res["task"]["id"]
    bad = packer_client.post(url + "scan/", {"barcode": "INT-LID-1", "key": "w"}).json()
    assert not bad["ok"] and bad["result"] == "wrong_item"
    early = packer_client.post(url + "finish/")
    assert early.status_code == 400 and "Still missing" in early.json()["error"]
    for key, code in [("a", "SKU-1"), ("b", "SKU-1"), ("c", "6909876543210")]:
        assert packer_client.post(url + "scan/", {"barcode": code, "key": key}).json()["ok"]
    done = packer_client.post(url + "finish/").json()
    assert done["finished"] == order.number
    assert done["label_url"] == f"/warehouse/orders/{order.pk}/seal.pdf"
    # a picker can print the seal label of the order just verified
    label = packer_client.get(done["label_url"])
    assert label.status_code == 200 and label.content.startswith(b"%PDF")
    # the open check comes back after a reload; a closed one does not
    assert packer_client.get("/scan/pack/").context["task_state"] is None


def test_pack_errors_are_json_with_status(packer_client, picked, make_user, warehouse):
    res = packer_client.post("/scan/pack/start/", {"code": "NOPE"})
    assert res.status_code == 400 and "is not an order" in res.json()["error"]
    check = pack_start(packer=make_user("picker"), warehouse=warehouse, code=picked().number)
    res = packer_client.post(f"/scan/pack/{check.pk}/scan/", {"barcode": "SKU-1", "key": "z"})
    assert res.status_code == 409
    assert packer_client.get(f"/scan/pack/{check.pk}/scan/").status_code == 405
    assert packer_client.get(f"/scan/pack/{check.pk}/").status_code == 404  # not theirs
    fresh = Client()
    fresh.force_login(make_user("picker"))
    res = fresh.post("/scan/pack/start/", {"code": "x"})
    assert res.status_code == 400 and "warehouse first" in res.json()["error"]


def test_order_page_shows_who_verified_the_parcel(client, make_user, picked, packer, warehouse):
    order = picked()
    check = pack_start(packer=packer, warehouse=warehouse, code=order.number)
    for code, key in [("SKU-1", "o1"), ("SKU-1", "o2"), ("GIFT-1", "o3")]:
        scan(check, packer, code, key)
    pack_complete(check_id=check.pk, packer=packer)
    client.force_login(make_user("ops"))
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert f'data-pack-check="{check.pk}"' in html and packer.username in html
    client.force_login(make_user("finance"))  # no warehouse view permissions: no panel
    assert "data-pack-check" not in client.get(f"/orders/{order.pk}/").content.decode()
