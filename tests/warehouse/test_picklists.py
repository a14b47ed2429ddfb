import re
import shutil
import subprocess

import barcode
import pytest

from orderhub.models import OrderStatus
from warehouse.models import PickList, Warehouse
from warehouse.services.picklists import (
    PickListError,
    code128_svg,
    picklist_create,
    picklist_pdf,
    picklist_reprint,
    seal_label_pdf,
)

S = OrderStatus

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils")


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def page_size(pdf: bytes) -> str:
    out = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True)
    return re.search(r"Page size:\s+(.*)", out.stdout.decode()).group(1)


@pytest.fixture
def ready(make_order, warehouse, stocked):
    def make(**kw):
        return make_order(S.READY_TO_PICK, warehouse=warehouse, **kw)
    return make


def test_single_order_pick_list_pdf(ready):
    order = ready(buyer_message="请包装好")
    pick_list = picklist_create(orders=[order], actor="system:test")
    text = pdf_text(picklist_pdf(pick_list))
    assert pick_list.kind == "single"
    assert pick_list.number in text
    assert order.number in text
    assert "SKU-1" in text and "GIFT-1" in text
    assert "保温杯" in text and "杯套" in text and "请包装好" in text
    # the gift is in its own section, after the purchased items
    assert text.index("Items to pick") < text.index("SKU-1") < text.index("Gifts") < text.index(
        "GIFT-1")
    assert "REPRINT" not in text
    assert page_size(picklist_pdf(pick_list)).startswith("595")  # A4 width in points


def test_wave_merges_lines_per_sku_in_pick_path_order(ready):
    kit_line = [{"sku_code": "KIT-1", "name": "礼盒", "quantity": 1, "unit_price": "99"}]
    a, b, c = ready(), ready(), ready(lines=kit_line)
    pick_list = picklist_create(orders=[a, b, c], actor="system:test")
    text = pdf_text(picklist_pdf(pick_list))
    items = text[text.index("Items to pick"):text.index("Gifts")]
    # lid (bin A-01-01, path 10) before cup (B-02-03, path 20); cups merged 2+2+2
    assert items.index("LID-1") < items.index("SKU-1")
    cup_row = next(line for line in items.splitlines() if "Thermos cup" in line)
    assert re.search(r"\b6\b", cup_row) and "#1×2" in cup_row and "#3×2" in cup_row
    for order in (a, b, c):
        assert order.number in text
    assert "part of KIT-1" in text
    assert [s.slot for s in pick_list.slots.all()] == [1, 2, 3]


def test_label_format_is_100_by_150_mm(ready):
    pick_list = picklist_create(orders=[ready()], actor="system:test")
    pdf = picklist_pdf(pick_list, page="label")
    assert page_size(pdf).startswith("283.465 x 425.197")
    assert "保温杯" in pdf_text(pdf)


def test_reprint_is_marked_and_voids_the_previous(ready):
    pick_list = picklist_create(orders=[ready()], actor="system:test")
    first = picklist_reprint(pick_list=pick_list, actor="system:test")
    second = picklist_reprint(pick_list=first, actor="system:test")
    pick_list.refresh_from_db()
    first.refresh_from_db()
    assert (pick_list.status, first.status, second.status) == ("void", "void", "active")
    assert second.number == f"{pick_list.number}R2"
    assert "REPRINT 2" in pdf_text(picklist_pdf(second))


def test_refuses_orders_not_ready_busy_or_in_two_warehouses(ready, make_order, receive):
    order = ready()
    picklist_create(orders=[order], actor="system:test")
    with pytest.raises(PickListError, match="Already on an active pick list"):
        picklist_create(orders=[order], actor="system:test")
    with pytest.raises(PickListError, match="Not ready"):
        picklist_create(orders=[make_order(S.PAID, warehouse=order.warehouse)],
                        actor="system:test")
    bj = Warehouse.objects.create(code="bj", name="Beijing")
    with pytest.raises(PickListError, match="one warehouse"):
        picklist_create(orders=[ready(), make_order(S.READY_TO_PICK, warehouse=bj)],
                        actor="system:test")
    with pytest.raises(PickListError):
        picklist_create(orders=[], actor="system:test")
    assert PickList.objects.count() == 1


def test_seal_label_has_order_barcode_text_and_qr_link(ready):
    order = ready()
    url = f"https://hub.example.com/orders/{order.pk}/"
    pdf = seal_label_pdf(order, order_url=url)
    text = pdf_text(pdf)
    assert order.number in text and url in text and "一单一封" in text
    assert "incl. 1 gift" in text


def test_code128_svg_draws_the_bars_of_the_value():
    import base64

    value = "PL2611220001"
    svg = base64.b64decode(code128_svg(value).split(",", 1)[1]).decode()
    bars = barcode.get("code128", value).build()[0]
    # each bar is a vertical line "M <centre x> 0v<h>" stroked at its width, 0.25 mm per
    # module, after a 2 mm quiet zone: put every line back into a module string
    drawn = ["0"] * len(bars)
    for width, path in re.findall(r'stroke-width="([\d.]+)" d="([^"]+)"', svg):
        n = round(float(width) / 0.25)
        for x in re.findall(r"M([\d.]+) 0v", path):
            start = round((float(x) - 2) / 0.25 - n / 2)
            assert drawn[start:start + n] == ["0"] * n  # bars never overlap
            drawn[start:start + n] = ["1"] * n
    assert "".join(drawn) == bars
    assert code128_svg(value) != code128_svg("PL2611220002")


def test_hundred_order_wave_lists_every_order(make_order, warehouse, stocked, receive):
    # How fast it renders is bench/picklist.py's job; here: nothing is left out.
    receive(warehouse, stocked["cup"], 500)
    orders = [make_order(S.READY_TO_PICK, warehouse=warehouse) for _ in range(100)]
    pick_list = picklist_create(orders=orders, actor="system:test")
    text = pdf_text(picklist_pdf(pick_list))
    assert all(order.number in text for order in orders)


@pytest.mark.django_db
def test_orders_leaving_the_pick_queue_come_off_the_active_wave(
        ready, make_order, django_capture_on_commit_callbacks):
    # given: a wave of three ready orders
    from orderhub.services.orders import order_transition, order_update

    a, b, c = ready(), ready(), ready()
    wave = picklist_create(orders=[a, b, c], actor="system:test")

    # when: one is cancelled (the signal after commit does the rest)
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=a.pk, name="cancel", actor="system:test", reason="buyer")

    # then: the wave is void; its reprint keeps b and c in their totes
    wave.refresh_from_db()
    assert wave.status == "void"
    copy = PickList.objects.get(original=wave, status="active")
    assert list(copy.slots.values_list("order_id", "slot")) == [(b.pk, 2), (c.pk, 3)]

    # when: b is routed to another warehouse and comes back ready there
    bj = Warehouse.objects.create(code="bj2", name="Beijing")
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=b.pk, name="reprocess", actor="system:test")
        order_update(order=b.pk, actor="system:test", changes={"warehouse": bj})
        order_transition(order=b.pk, name="mark_ready", actor="system:test")

    # then: the Shanghai list no longer sends pickers to it; the last copy has c only
    copy.refresh_from_db()
    assert copy.status == "void"
    last = PickList.objects.get(original=wave, status="active")
    assert list(last.slots.values_list("order_id", flat=True)) == [c.pk]
    assert last.reprint == 2

    # when: c is held for review as well, nothing is left: voided, no empty reprint
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=c.pk, name="reprocess", actor="system:test")
        order_transition(order=c.pk, name="hold_review", actor="system:test", reason="risk")
    last.refresh_from_db()
    assert last.status == "void"
    assert not PickList.objects.filter(original=wave, status="active").exists()
    with pytest.raises(PickListError, match="nothing to reprint"):
        picklist_reprint(pick_list=last, actor="system:test")


@pytest.mark.django_db
def test_a_reprocessed_order_back_in_the_same_warehouse_keeps_its_list(
        ready, django_capture_on_commit_callbacks):
    from orderhub.services.orders import order_transition

    order = ready()
    pick_list = picklist_create(orders=[order], actor="system:test")
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order.pk, name="reprocess", actor="system:test")
        order_transition(order=order.pk, name="mark_ready", actor="system:test")
    pick_list.refresh_from_db()
    assert pick_list.status == "active"
    assert not PickList.objects.filter(original=pick_list).exists()


@pytest.mark.django_db
def test_a_batch_with_nothing_on_pick_lists_costs_one_query(ready):
    # The receiver runs for every automation batch: its cost must not grow with the batch.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orderhub.models import Order
    from orderhub.signals import StatusChange
    from warehouse.receivers import on_orders_status_changed

    orders = [ready() for _ in range(5)]
    changes = [StatusChange(o.pk, "mark_ready", S.PAID, S.READY_TO_PICK) for o in orders]
    changes += [StatusChange(o.pk, "pay", S.PENDING_PAYMENT, S.PAID) for o in orders]

    def queries(batch):
        with CaptureQueriesContext(connection) as ctx:
            on_orders_status_changed(Order, changes=batch, actor="system:test")
        return [q["sql"] for q in ctx.captured_queries]

    # One probe by order id (active pick lists, open pick tasks); no transaction opened.
    assert len(queries(changes)) == 1
    assert queries(changes[5:]) == []  # only payments: nothing to check
