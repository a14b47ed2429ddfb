"""Shipping fixtures: carrier accounts (SF, Kuaidi100, manual) and picked orders."""

import json
from pathlib import Path
from unittest import mock

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "shipping"

SF_URL = "https://sf.example.test"
SF_SERVICE = f"{SF_URL}/std/service"
K100_URL = "https://k100.example.test"
SENDER = {
    "sender_name": "仓库", "sender_phone": "02169580000", "sender_province": "上海市",
    "sender_city": "上海市", "sender_district": "嘉定区", "sender_address": "墨玉路185号",
}


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def sf_account(db):
    from fulfillment.shipping.models import CarrierAccount

    account = CarrierAccount(code="sf", name="顺丰速运", kind="sf", base_url=SF_URL,
                             default_service="1", monthly_account="7551234567",
                             is_default=True, **SENDER)
    account.credentials = {"partner_id": "PARTNER1", "check_word": "CHECKWORD-1234567"}
    account.save()
    return account


@pytest.fixture
def k100_account(db):
    from fulfillment.shipping.models import CarrierAccount

    account = CarrierAccount(code="zto", name="中通快递", kind="kuaidi100", base_url=K100_URL,
                             carrier_code="zhongtong", **SENDER)
    # ZTO's e-waybill account as Kuaidi100's parameter dictionary asks: partnerId + partnerKey.
    account.credentials = {"key": "KEY123", "secret": "SECRET456", "customer": "CUST789",
                           "salt": "SALT-abc", "partner_id": "ZTO-ACCT", "partner_key": "ZTO-PWD"}
    account.save()
    return account


@pytest.fixture
def manual_account(db):
    from fulfillment.shipping.models import CarrierAccount

    return CarrierAccount.objects.create(code="manual", name="Other carrier", kind="manual",
                                         **SENDER)


@pytest.fixture
def no_delay():
    """Tasks enqueued on commit are recorded, not sent to a broker."""
    with mock.patch("fulfillment.shipping.tasks.book_waybill.delay") as book, \
            mock.patch("fulfillment.shipping.tasks.cancel_waybill.delay") as cancel, \
            mock.patch("channels.tasks.deliver_shipment_push.delay"):
        yield mock.Mock(book=book, cancel=cancel)


@pytest.fixture
def picked(make_order, sf_account):
    """A picked order (its waybill was queued by the finish transition) and that waybill."""
    def make(**fields):
        from fulfillment.shipping.models import Waybill

        fields.setdefault("ship_name", "李四")
        fields.setdefault("ship_phone", "13912345678")
        fields.setdefault("ship_province", "北京市")
        fields.setdefault("ship_city", "北京市")
        fields.setdefault("ship_district", "朝阳区")
        fields.setdefault("ship_street", "建国路88号")
        order = make_order("picked", **fields)
        return order, Waybill.objects.get(order=order)

    return make
