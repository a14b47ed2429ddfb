"""Encrypted recipients: stored as sent, decrypted only for a label, never logged."""

import copy
import logging

import httpx
import pytest
import respx

from channels.connectors import get_connector
from channels.models import SkuMapping
from channels.pipeline import ingest_items
from channels.recipient import (
    FAILED,
    NO_PAYLOAD,
    NOT_CONFIGURED,
    NeedsPlatformDecryption,
    real_recipient,
)
from channels.templatetags.channels_ui import decryption_state
from orderhub.models import Order
from tests.channels.cn_support import PDD_GW, connector_for, load, make_channel

PLAIN = {"name": "张三", "phone": "13800138000", "street": "世纪大道100号 2栋1502室"}


def pdd_order():
    order = copy.deepcopy(load("pdd_increment.json")["order_sn_increment_get_response"]
                          ["order_sn_list"][0])
    return order


def ingested(channel):
    SkuMapping.objects.create(channel=channel, platform_sku="CUP-1", hub_sku="SKU-CUP")
    ingest_items(channel=channel, items=[pdd_order()], source="poll",
                 normalizer=get_connector(channel))
    return Order.objects.get(channel=channel)


def decrypt_answer(request):
    import json
    from urllib.parse import parse_qsl

    params = dict(parse_qsl(request.content.decode()))
    order = pdd_order()
    by_cipher = {order["receiver_name"]: PLAIN["name"], order["receiver_phone"]: PLAIN["phone"],
                 order["receiver_address"]: PLAIN["street"]}
    rows = json.loads(params["data_list"])
    return httpx.Response(200, json={"open_decrypt_batch_response": {"data_decrypt_list": [
        {"data_tag": r["data_tag"], "encrypted_data": r["encrypted_data"],
         "decrypted_data": by_cipher[r["encrypted_data"]]} for r in rows]}})


def test_order_keeps_masked_values_and_no_ciphertext_in_the_phone(db):
    order = ingested(make_channel("pinduoduo"))
    assert order.ship_name == "张*" and order.ship_street == "世纪大道****"
    assert order.ship_phone == ""
    assert (order.ship_province, order.ship_city, order.ship_district) == (
        "上海市", "上海市", "浦东新区")


def test_not_configured_raises_a_clear_state(db):
    order = ingested(make_channel("pinduoduo"))

    with pytest.raises(NeedsPlatformDecryption) as caught:
        real_recipient(order)

    assert caught.value.state == NOT_CONFIGURED
    assert "need decrypting through the platform" in str(caught.value)
    assert decryption_state(order) == "needed"


def test_no_stored_payload_raises_no_payload(db, make_order):
    channel = make_channel("pinduoduo", config={"decrypt_enabled": True})
    order = make_order("paid", channel=channel)
    with pytest.raises(NeedsPlatformDecryption) as caught:
        real_recipient(order)
    assert caught.value.state == NO_PAYLOAD


def test_decrypts_through_the_platform_and_logs_nothing(db, caplog):
    channel = make_channel("pinduoduo", config={"decrypt_enabled": True})
    order = ingested(channel)
    caplog.set_level(logging.DEBUG)
    with respx.mock() as router:
        route = router.post(PDD_GW).mock(side_effect=decrypt_answer)
        recipient = real_recipient(order, connector=connector_for(channel))

    assert (recipient.name, recipient.phone, recipient.street) == (
        PLAIN["name"], PLAIN["phone"], PLAIN["street"])
    assert recipient.province == "上海市" and recipient.district == "浦东新区"
    assert route.calls.last.request.url.path == "/api/router"
    # neither the plain values nor the ciphertexts reach a log line or a repr
    ciphers = [pdd_order()[k] for k in ("receiver_name", "receiver_phone", "receiver_address")]
    for secret in [*PLAIN.values(), *ciphers]:
        assert secret not in caplog.text
        assert secret not in repr(recipient)
    # and nothing was stored
    order.refresh_from_db()
    assert order.ship_phone == "" and PLAIN["name"] not in order.ship_name
    assert decryption_state(order) == "configured"


def test_platform_refusal_is_a_failed_state_without_values(db, caplog):
    channel = make_channel("pinduoduo", config={"decrypt_enabled": True})
    order = ingested(channel)
    caplog.set_level(logging.DEBUG)
    with respx.mock() as router:
        router.post(PDD_GW).respond(200, json={"error_response": {
            "error_code": 10000, "error_msg": "解密失败"}})
        with pytest.raises(NeedsPlatformDecryption) as caught:
            real_recipient(order, connector=connector_for(channel))
    assert caught.value.state == FAILED and "解密失败" in str(caught.value)
    assert pdd_order()["receiver_phone"] not in caplog.text + str(caught.value)


def test_clear_platforms_need_no_decryption(db, make_order):
    order = make_order("paid")
    recipient = real_recipient(order)
    assert recipient.name == order.buyer_name and decryption_state(order) == ""


def test_order_page_shows_needs_platform_decryption(db, client, make_user):
    order = ingested(make_channel("pinduoduo"))
    client.force_login(make_user("ops"))

    html = client.get(f"/orders/{order.pk}/").content.decode()

    assert "Needs platform decryption" in html or "需要平台解密" in html
