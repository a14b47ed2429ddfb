"""A wave's labels in one PDF, in the pick list's pick order; skipped ones reported."""

import base64
import re
import shutil
import subprocess

import pytest
from django.utils import timezone

from fulfillment.shipping.carriers.kuaidi100 import IMAGE_KEY, IMAGE_TYPE_KEY
from fulfillment.shipping.labels import wave_labels
from fulfillment.shipping.models import Waybill
from fulfillment.shipping.sandbox import _png
from warehouse.models import PickList, PickListOrder

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils")


def page_texts(pdf: bytes) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()
    return text.split("\f")[:-1]  # pdftotext ends every page with a form feed


def page_sizes_mm(pdf: bytes) -> list[tuple[int, int]]:
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "99", "-"], input=pdf,
                          capture_output=True, check=True).stdout.decode()
    return [(round(float(w) / 72 * 25.4), round(float(h) / 72 * 25.4))
            for w, h in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info)]


def book(waybill: Waybill, number: str, **fields) -> Waybill:
    Waybill.objects.filter(pk=waybill.pk).update(status="booked", tracking_number=number,
                                                 booked_at=timezone.now(), **fields)
    return Waybill.objects.get(pk=waybill.pk)


@pytest.fixture
def wave(picked, warehouse):
    """A wave of three orders in tote slots 1..3; the one in slot 2 is not booked yet.

    The list is made by hand: its orders were put on it while ready to pick and have
    been picked since (picking is what creates their waybills).
    """
    first, first_wb = picked()
    second, _second_wb = picked()
    third, third_wb = picked()
    book(first_wb, "SF1400000000001")
    book(third_wb, "SF1400000000003")
    pick_list = PickList.objects.create(number="PL-T1", warehouse=warehouse,
                                        kind=PickList.Kind.WAVE, created_by="test")
    # Slots deliberately not in id order: pick order is the slot order.
    PickListOrder.objects.create(pick_list=pick_list, order=third, slot=1)
    PickListOrder.objects.create(pick_list=pick_list, order=second, slot=2)
    PickListOrder.objects.create(pick_list=pick_list, order=first, slot=3)
    return pick_list, {"first": first, "second": second, "third": third}


def test_one_page_per_booked_label_in_pick_order_and_a_cover_for_the_skipped(wave):
    pick_list, orders = wave

    result = wave_labels(pick_list)

    assert result.printed == ["SF1400000000003", "SF1400000000001"]
    assert [(s.slot, s.order_number) for s in result.skipped] == [(2, orders["second"].number)]
    pages = page_texts(result.pdf)
    assert len(pages) == 3  # the cover, then one page per booked label
    cover, *labels = pages
    assert "PL-T1" in cover and orders["second"].number in cover and "SKIPPED" in cover
    assert "SF1400000000003" in labels[0] and orders["third"].number in labels[0]
    assert "SF1400000000001" in labels[1] and orders["first"].number in labels[1]
    assert orders["second"].number not in "".join(labels)
    assert set(page_sizes_mm(result.pdf)) == {(100, 150)}


def test_no_cover_when_every_label_is_there(wave):
    pick_list, orders = wave
    book(Waybill.objects.get(order=orders["second"]), "SF1400000000002")

    result = wave_labels(pick_list)

    assert result.skipped == []
    pages = page_texts(result.pdf)
    assert [re.search(r"SF14000000000\d\d", p).group() for p in pages] == [
        "SF1400000000003", "SF1400000000002", "SF1400000000001"]


def test_a_carrier_image_label_is_one_label_page(wave, k100_account):
    # given: the slot-2 order has a Kuaidi100 waybill whose carrier label is an image
    pick_list, orders = wave
    waybill = Waybill.objects.get(order=orders["second"])
    image = base64.b64encode(_png("75300000000002")).decode()
    book(waybill, "75300000000002", account=k100_account,
         label_data={IMAGE_KEY: image, IMAGE_TYPE_KEY: "image/png"})

    # when
    result = wave_labels(pick_list)

    # then: three label pages, the image one in the middle, at label size
    assert result.printed == ["SF1400000000003", "75300000000002", "SF1400000000001"]
    pages = page_texts(result.pdf)
    assert len(pages) == 3
    assert "SF1400000000003" in pages[0] and "SF1400000000001" in pages[2]
    assert "SF14" not in pages[1]  # the carrier's image, not the hub's label
    assert page_sizes_mm(result.pdf)[1] == (100, 150)


def test_a_cancelled_waybill_is_skipped_with_its_status(wave):
    pick_list, orders = wave
    Waybill.objects.filter(order=orders["first"]).update(status="cancelled")

    result = wave_labels(pick_list)

    assert result.printed == ["SF1400000000003"]
    reasons = {s.order_number: s.reason for s in result.skipped}
    assert "Cancelled" in reasons[orders["first"].number]
    assert "Booking" in reasons[orders["second"].number]


def test_the_button_and_the_pdf_for_label_printers(wave, client, make_user):
    pick_list, orders = wave
    client.force_login(make_user("ops"))

    page = client.get(f"/warehouse/picklists/?warehouse={pick_list.warehouse_id}")
    url = f"/shipping/picklists/{pick_list.pk}/labels.pdf"
    assert url in page.content.decode()

    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["X-Labels-Skipped"] == "1"
    assert len(page_texts(response.content)) == 3


def test_nothing_booked_is_a_page_listing_every_order(wave, client, make_user):
    pick_list, orders = wave
    Waybill.objects.update(status="failed")
    client.force_login(make_user("manager"))

    response = client.get(f"/shipping/picklists/{pick_list.pk}/labels.pdf")

    assert response.status_code == 409 and response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert all(o.number in body for o in orders.values())


@pytest.mark.parametrize(("role", "status"), [("picker", 403), ("finance", 403),
                                              ("warehouse_manager", 403), ("ops", 200)])
def test_who_may_print_a_waves_labels(wave, client, make_user, role, status):
    pick_list, _orders = wave
    url = f"/shipping/picklists/{pick_list.pk}/labels.pdf"
    assert client.get(url).status_code == 302  # login first
    client.force_login(make_user(role))
    assert client.get(url).status_code == status


def test_the_cover_page_speaks_chinese(wave):
    from django.utils import translation

    pick_list, orders = wave
    with translation.override("zh-hans"):
        result = wave_labels(pick_list)
    cover = page_texts(result.pdf)[0]
    assert "已跳过" in cover and "拣货单 PL-T1 的面单" in cover
