"""Booking a waybill records the carrier company, which the platform write-back names."""

import pytest

from fulfillment.shipping import services
from fulfillment.shipping.models import CarrierAccount, Waybill
from orderhub.models import Order


@pytest.mark.parametrize(("kind", "code", "company"), [
    ("sf", "", "SF"),
    ("kuaidi100", "zhongtong", "ZTO"),
    ("kuaidi100", "yuantong", "YTO"),
    ("kuaidi100", "shentong", "STO"),
    ("kuaidi100", "yunda", "YUNDA"),
    ("kuaidi100", "jd", "JD"),
    ("kuaidi100", "ems", "EMS"),
    ("kuaidi100", "jtexpress", "JTSD"),
    ("kuaidi100", "debangwuliu", "DEPPON"),
    ("kuaidi100", "huitongkuaidi", "BEST"),
    ("kuaidi100", "shunfeng", "SF"),
    ("kuaidi100", " ZhongTong ", "ZTO"),
    ("kuaidi100", "some-local-courier", ""),
    ("manual", "", ""),
])
def test_carrier_company_for_each_kind_of_account(kind, code, company):
    account = CarrierAccount(code="x", name="x", kind=kind, carrier_code=code)
    assert services.carrier_company_for(account) == company


def test_a_booked_kuaidi100_waybill_ships_the_order_with_its_company(
        picked, k100_account, no_delay, settings, tmp_path):
    # given a picked order whose waybill Kuaidi100 booked with ZTO
    settings.MEDIA_ROOT = tmp_path
    order, waybill = picked()
    Waybill.objects.filter(pk=waybill.pk).update(account=k100_account, status="booked",
                                                 tracking_number="ZT7001234567")

    # when the booking completes
    assert services.waybill_complete(waybill_id=waybill.pk) == "shipped"

    # then the order carries the account's code and the company the platform is told
    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.carrier, order.carrier_company) == ("shipped", "zto", "ZTO")


def test_a_typed_in_manual_tracking_number_leaves_the_company_blank(
        make_order, manual_account, no_delay):
    order = make_order("picked", carrier="manual")
    waybill = Waybill.objects.get(order=order)
    assert waybill.status == "manual"
    Order.objects.filter(pk=order.pk).update(carrier_company="SF")  # a stale guess is cleared

    services.waybill_enter_tracking(order=order, tracking_number="DB123456789",
                                    actor="system:test")

    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.carrier, order.carrier_company) == ("shipped", "manual", "")
