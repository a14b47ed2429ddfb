"""Platform-encrypted buyer data: never shown as ciphertext; decrypted (audited) only
where the channel may, otherwise the platform's masked value (issue 14, scope 5).

The ciphertexts are the platforms' documented forms, as in their sample orders kept
under ``tests/fixtures/channels/cn`` (Youzan ``$…$1$``, Pinduoduo ``~…~0~``/``$…$0$``,
Douyin ``#…#1##``/``$…$1$$``/``~…~1~~``, Taobao ``~…~``/``$…$``).
"""

import copy
import json
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from channels.connectors import get_connector
from channels.models import DecryptAudit, SkuMapping
from channels.pipeline import ingest_items
from channels.recipient import MASK, is_ciphertext, masked, shown_recipient
from orderhub.models import Order
from orderhub.models import OrderStatus as S
from tests.channels.cn_support import PDD_GW, load, make_channel

YOUZAN = load("youzan_trades_sold_get.json")["data"]["full_order_info_list"][0][
    "full_order_info"]["address_info"]
DOUYIN = load("douyin_searchlist.json")["data"]["shop_order_list"][0]
PDD = load("pdd_increment.json")["order_sn_increment_get_response"]["order_sn_list"][0]
# Taobao's pre-OAID ciphertexts (still sent to ISVs without OAID): ``~…~`` and ``$…$``.
TAOBAO = {"name": "~AgAAAAGe4bzDGk3fBPKmqb8mMVYx9zPMvCA=~1~",
          "phone": "$AgAAAAGe4bzDL0i2Hv1kPdQ8WYQ=$1$"}

# platform -> (name ciphertext, street ciphertext)
CIPHERS = {
    "youzan": (YOUZAN["receiver_name"], YOUZAN["delivery_address"]),
    "pinduoduo": (PDD["receiver_name"], PDD["receiver_address"]),
    "douyin": (DOUYIN["encrypt_post_receiver"], DOUYIN["post_addr"]["encrypt_detail"]),
    "taobao": (TAOBAO["name"], TAOBAO["name"].replace("GK3", "XQ9")),
}
PHONES = {"youzan": YOUZAN["receiver_tel"], "pinduoduo": PDD["receiver_phone"],
          "douyin": DOUYIN["encrypt_post_tel"], "taobao": TAOBAO["phone"]}


@pytest.mark.parametrize("platform", sorted(CIPHERS))
def test_each_platforms_ciphertexts_are_recognised(platform):
    name, street = CIPHERS[platform]
    for value in (name, street, PHONES[platform], f"花木街道 {street}"):
        assert is_ciphertext(platform, value), value
        assert masked(platform, value) in (MASK, f"花木街道 {MASK}")
    for clear in ("张*", "138****8000", "世纪大道100号", "$5 off", "A~B", ""):
        assert not is_ciphertext(platform, clear)
        assert masked(platform, clear) == clear
    # a platform that does not encrypt keeps whatever the buyer typed
    assert not is_ciphertext("shopify", name) and masked("shopify", name) == name


def test_youzan_marker_is_dollar_only():
    assert not is_ciphertext("youzan", CIPHERS["douyin"][0])  # "#…#" is Douyin's
    assert is_ciphertext("douyin", CIPHERS["douyin"][0])


def _cipher_order(make_order, platform, **kw):
    name, street = CIPHERS[platform]
    return make_order(kw.pop("status", S.PAID), channel=make_channel(platform),
                      buyer_name=name, ship_name=name, ship_street=f"花木街道 {street}", **kw)


def _superuser(make_user):
    return make_user(is_superuser=True, is_staff=True)


@pytest.mark.parametrize("platform", sorted(CIPHERS))
def test_order_page_never_renders_ciphertext(db, client, make_user, make_order, platform):
    order = _cipher_order(make_order, platform)
    client.force_login(_superuser(make_user))

    html = client.get(f"/orders/{order.pk}/").content.decode()

    for cipher in CIPHERS[platform]:
        assert cipher not in html
    assert f"花木街道 {MASK}" in html
    assert "Encrypted by the platform: shown masked." in html
    assert not DecryptAudit.objects.exists()  # nothing decrypted without the permission


@pytest.mark.parametrize("platform", sorted(CIPHERS))
def test_pick_screen_never_renders_ciphertext(db, client, make_user, make_order, warehouse,
                                              platform):
    order = _cipher_order(make_order, platform, status=S.READY_TO_PICK, warehouse=warehouse)
    client.force_login(_superuser(make_user))

    html = client.get(f"/warehouse/picklists/?warehouse={warehouse.pk}").content.decode()

    assert order.number in html
    for cipher in CIPHERS[platform]:
        assert cipher not in html
    assert MASK in html


def test_pick_screen_never_decrypts_even_when_allowed(db, client, make_user, make_order,
                                                      warehouse):
    order = _cipher_order(make_order, "youzan", status=S.READY_TO_PICK, warehouse=warehouse)
    order.channel.config = {"decrypt_enabled": True}
    order.channel.save(update_fields=["config"])
    client.force_login(_superuser(make_user))
    with respx.mock(assert_all_called=False) as router:
        route = router.route().respond(500)
        html = client.get(f"/warehouse/picklists/?warehouse={warehouse.pk}").content.decode()
    assert not route.called and CIPHERS["youzan"][0] not in html
    assert not DecryptAudit.objects.exists()


# --- Pinduoduo end to end: ingest the documented order, then show it ------------------

PLAIN = {"name": "张三", "phone": "13800138000", "street": "世纪大道100号 2栋1502室"}


def _pdd_order(channel):
    SkuMapping.objects.create(channel=channel, platform_sku="CUP-1", hub_sku="SKU-CUP")
    ingest_items(channel=channel, items=[copy.deepcopy(PDD)], source="poll",
                 normalizer=get_connector(channel))
    return Order.objects.get(channel=channel)


def _pdd_decrypt_answer(request):
    """``pdd.open.decrypt.batch``: ``data_list`` in, ``data_decrypt_list`` out."""
    params = dict(parse_qsl(request.content.decode()))
    assert params["type"] == "pdd.open.decrypt.batch"
    by_cipher = {PDD["receiver_name"]: PLAIN["name"], PDD["receiver_phone"]: PLAIN["phone"],
                 PDD["receiver_address"]: PLAIN["street"]}
    rows = json.loads(params["data_list"])
    assert {r["data_tag"] for r in rows} == {PDD["order_sn"]}
    return httpx.Response(200, json={"open_decrypt_batch_response": {"data_decrypt_list": [
        {"data_tag": r["data_tag"], "encrypted_data": r["encrypted_data"],
         "decrypted_data": by_cipher[r["encrypted_data"]], "data_type": 1} for r in rows]}})


def test_without_permission_the_platforms_masked_values_are_shown(db, client, make_user):
    order = _pdd_order(make_channel("pinduoduo"))
    client.force_login(_superuser(make_user))
    with respx.mock(assert_all_called=False) as router:
        route = router.post(PDD_GW).respond(500)
        html = client.get(f"/orders/{order.pk}/").content.decode()
    assert not route.called
    assert PDD["receiver_name_mask"] in html and PDD["address_mask"] in html
    assert PDD["receiver_phone_mask"] in html  # kept at ingest in platform_data
    assert order.platform_data == {"masked": {"phone": PDD["receiver_phone_mask"]}}
    for field in ("receiver_name", "receiver_phone", "receiver_address"):
        assert PDD[field] not in html
    assert PLAIN["name"] not in html


def test_with_permission_the_order_page_decrypts_and_audits(db, client, make_user):
    order = _pdd_order(make_channel("pinduoduo", config={"decrypt_enabled": True}))
    user = _superuser(make_user)
    client.force_login(user)
    with respx.mock() as router:
        route = router.post(PDD_GW).mock(side_effect=_pdd_decrypt_answer)
        html = client.get(f"/orders/{order.pk}/").content.decode()

    assert route.call_count == 1
    assert PLAIN["name"] in html and PLAIN["phone"] in html and PLAIN["street"] in html
    rows = list(DecryptAudit.objects.order_by("field"))
    assert [(r.field, r.order_id, r.actor_id, r.purpose, r.ok) for r in rows] == [
        (f, order.pk, user.pk, "order_page", True) for f in ("name", "phone", "street")]
    # the plain values are shown, never stored
    order.refresh_from_db()
    assert PLAIN["name"] not in order.ship_name and order.ship_phone == ""


def test_decrypt_failure_falls_back_to_masked_with_a_note(db, client, make_user):
    order = _pdd_order(make_channel("pinduoduo", config={"decrypt_enabled": True}))
    client.force_login(_superuser(make_user))
    with respx.mock() as router:
        router.post(PDD_GW).respond(200, json={"error_response": {
            "error_code": 10000, "error_msg": "解密失败"}})
        html = client.get(f"/orders/{order.pk}/").content.decode()

    assert PDD["receiver_name_mask"] in html and PDD["receiver_name"] not in html
    assert "The platform did not decrypt" in html and "解密失败" in html
    assert "Shown masked." in html
    assert set(DecryptAudit.objects.values_list("field", "ok")) == {
        ("name", False), ("phone", False), ("street", False)}


def test_waybill_decrypts_are_audited_as_waybill(db, make_order):
    order = _pdd_order(make_channel("pinduoduo", config={"decrypt_enabled": True}))
    with respx.mock() as router:
        router.post(PDD_GW).mock(side_effect=_pdd_decrypt_answer)
        from channels.recipient import real_recipient
        real_recipient(order)
    assert set(DecryptAudit.objects.values_list("purpose", "actor_id")) == {("waybill", None)}


def test_shown_recipient_repr_holds_no_values(db, make_order):
    shown = shown_recipient(_cipher_order(make_order, "youzan"))
    assert "花木" not in repr(shown) and shown.masked and not shown.decrypted


@pytest.mark.parametrize("platform", sorted(CIPHERS))
def test_printed_pick_list_and_seal_label_never_carry_ciphertext(db, make_order, warehouse,
                                                                  platform):
    from django.template.loader import render_to_string

    from warehouse.models import SKU
    from warehouse.services.picklists import picklist_context, picklist_create

    SKU.objects.create(code="SKU-1", name="保温杯")
    SKU.objects.create(code="GIFT-1", name="杯套", is_gift=True)
    order = _cipher_order(make_order, platform, status=S.READY_TO_PICK, warehouse=warehouse)
    pick_list = picklist_create(orders=[order.pk], actor="system:test")
    seal = render_to_string("warehouse/seal_label_pdf.html", {"order": order})
    sheet = render_to_string("warehouse/picklist_pdf.html", picklist_context(pick_list))
    for html in (seal, sheet):
        assert CIPHERS[platform][0] not in html
        assert MASK in html
