"""The 100×150 mm label PDF."""

import re
import shutil
import subprocess

import pytest
from django.utils import timezone

from fulfillment.shipping.models import Waybill
from fulfillment.shipping.services import label_pdf

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils")


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def page_info(pdf: bytes) -> str:
    return subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


@pytest.fixture
def booked(picked):
    order, waybill = picked(ship_city="杭州市", ship_province="浙江省", ship_district="西湖区",
                            ship_street="文三路90号")
    Waybill.objects.filter(pk=waybill.pk).update(
        status="booked", tracking_number="SF1400000000123", booked_at=timezone.now(),
        label_data={"originCode": "021", "destCode": "571"})
    return order, Waybill.objects.select_related("order", "account").get(pk=waybill.pk)


def test_label_has_tracking_number_chinese_address_and_is_100_by_150_mm(booked):
    order, waybill = booked
    pdf = label_pdf(waybill)
    text = pdf_text(pdf)
    assert "SF1400000000123" in text
    assert "杭州市" in text and "文三路90号" in text and "李四" in text
    assert order.number in text and "021" in text and "571" in text
    # The phone is masked on the box; the carrier has the full number.
    assert "139****5678" in text and "13912345678" not in text
    info = page_info(pdf)
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups())
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (100, 150)
    assert re.search(r"Pages:\s+1\b", info)
    fonts = subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True).stdout.decode()
    assert "CJK" in fonts  # a real CJK font is embedded, not boxes


def test_label_download_needs_the_permission(booked, client, make_user):
    _order, waybill = booked
    url = f"/shipping/waybills/{waybill.pk}/label.pdf"
    assert client.get(url).status_code == 302  # login first
    client.force_login(make_user("finance"))
    assert client.get(url).status_code == 403
    client.force_login(make_user("picker"))
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "SF1400000000123" in pdf_text(response.content)
