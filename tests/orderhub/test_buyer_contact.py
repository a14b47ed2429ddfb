"""Approvers see the buyer's contact data masked; roles that contact buyers see it in full.

Issue 15 item 5: finance, sales and warehouse managers (approvers and
reviewers) get the name partly, the phone as 138****8000, the e-mail as
a***@example.com and no street on every page they reach; ops, managers and
admins (``orderhub.view_buyer_contact``) get it in full. ``BUYER_DATA`` in
``orderhub/access.py`` is the documented answer per role.
"""

import pytest
from django.contrib.auth.models import User

from orderhub.access import BUYER_DATA, FULL, MASKED
from orderhub.models import OrderStatus
from orderhub.privacy import (
    contact_shown,
    field_shown,
    mask_email,
    mask_name,
    mask_phone,
    sees_buyer_contact,
)
from orderhub.services.orders import order_update

S = OrderStatus

BUYER = {"buyer_name": "张三丰", "buyer_phone": "13800138000",
         "buyer_email": "alice@example.com", "ship_name": "李四",
         "ship_phone": "13912345678", "ship_street": "世纪大道100号"}
# What must never reach a masked role's page, and what it sees instead.
SECRETS = ["13800138000", "13912345678", "alice@example.com", "世纪大道100号", "张三丰"]
MASKS = ["138****8000", "139****5678", "a***@example.com", "张*丰", "李*"]

READERS = [role for role in BUYER_DATA if BUYER_DATA[role] in (FULL, MASKED)]


def login(client, make_user, role):
    user = make_user(role)
    if role == "admin":
        User.objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
    client.force_login(user)
    return User.objects.get(pk=user.pk)


def assert_shown_as_documented(role, html):
    if BUYER_DATA[role] == FULL:
        for secret in SECRETS:
            assert secret in html, (role, secret)
    else:
        for secret in SECRETS:
            assert secret not in html, (role, secret)
        for mask in MASKS:
            assert mask in html, (role, mask)


# --- the masks ------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "shown"), [
    ("张三丰", "张*丰"), ("张三", "张*"), ("欧阳娜娜", "欧**娜"), ("Emily Clark", "E**** C****"),
    ("", ""),
])
def test_mask_name(value, shown):
    assert mask_name(value) == shown


@pytest.mark.parametrize(("value", "shown"), [
    ("+8613800138000", "138****8000"), ("13800138000", "138****8000"),
    ("138****5678", "138****5678"),  # the platform's own mask passes through
    ("+14155550123", "141****0123"), ("1234", "****"), ("", ""),
])
def test_mask_phone(value, shown):
    assert mask_phone(value) == shown


def test_mask_email_and_street():
    assert mask_email("alice@example.com") == "a***@example.com"
    assert contact_shown("世纪大道100号", "street", full=False) == "••••"
    assert contact_shown("世纪大道100号", "street", full=True) == "世纪大道100号"
    assert contact_shown("", "street", full=False) == ""
    with pytest.raises(ValueError):
        contact_shown("x", "shoe size", full=False)


def test_only_contact_fields_are_masked():
    assert field_shown("ship_city", "上海市", full=False) == "上海市"
    assert field_shown("ship_phone", "+8613912345678", full=False) == "139****5678"
    assert field_shown("ship_phone", "+8613912345678", full=True) == "+8613912345678"


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(BUYER_DATA))
def test_the_role_table_grants_full_contact_to_exactly_the_full_roles(make_user, role):
    user = make_user(role)
    if role == "admin":
        User.objects.filter(pk=user.pk).update(is_superuser=True)
        user = User.objects.get(pk=user.pk)
    assert sees_buyer_contact(user) is (BUYER_DATA[role] == FULL)


def test_anonymous_sees_no_contact():
    from django.contrib.auth.models import AnonymousUser

    assert sees_buyer_contact(AnonymousUser()) is False
    assert sees_buyer_contact(None) is False


# --- the pages ------------------------------------------------------------------------


@pytest.fixture
def order(make_order):
    return make_order(S.PAID, **BUYER)


@pytest.mark.django_db
@pytest.mark.parametrize("role", READERS)
def test_order_page_shows_contact_data_as_documented(client, make_user, order, role):
    login(client, make_user, role)
    response = client.get(f"/orders/{order.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert_shown_as_documented(role, html)
    # where the parcel goes stays visible to everyone who reads orders
    assert "浦东新区" in html


@pytest.mark.django_db
@pytest.mark.parametrize("role", READERS)
def test_version_diff_and_timeline_mask_an_address_edit(client, make_user, order, role):
    # given an ops edit of the recipient's phone and street
    order_update(order=order.pk, actor="system:test",
                 changes={"ship_phone": "13700001111", "ship_street": "科苑南路2666号"},
                 reason="buyer called")
    login(client, make_user, role)
    versions = list(order.history.order_by("history_date", "history_id")
                    .values_list("history_id", flat=True))
    html = client.get(f"/orders/{order.pk}/?compare={versions[-2]},{versions[-1]}"
                      ).content.decode()
    new_secrets = ["13700001111", "科苑南路2666号"]
    if BUYER_DATA[role] == FULL:
        assert all(s in html for s in new_secrets)
    else:
        assert not any(s in html for s in new_secrets), role
        assert "137****1111" in html


@pytest.mark.django_db
@pytest.mark.parametrize("role", READERS)
def test_order_list_masks_the_name_for_approvers(client, make_user, order, role):
    login(client, make_user, role)
    html = client.get("/orders/").content.decode()
    assert order.number in html
    assert ("张三丰" in html) is (BUYER_DATA[role] == FULL)
    assert "138****8000" in html  # the list masks phones for everyone


@pytest.mark.django_db
def test_review_queue_masks_the_name_for_finance(client, make_user, make_order):
    from fulfillment.models import OrderDecision

    order = make_order(S.REVIEW, **BUYER)
    OrderDecision.objects.create(order=order, result="review", credit_hold=True,
                                 review_reasons=[{"code": "credit"}])
    login(client, make_user, "finance")
    html = client.get("/review/").content.decode()
    assert order.number in html
    assert "张*丰" in html and "张三丰" not in html
    login(client, make_user, "ops")
    assert "张三丰" in client.get("/review/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["sales_manager", "warehouse_manager", "finance", "manager"])
def test_change_request_page_masks_the_proposed_address_for_approvers(
        client, make_user, make_order, warehouse, role):
    from fulfillment.changes.services import change_request_create
    from warehouse.models import SKU

    SKU.objects.create(code="SKU-1", name="保温杯")
    SKU.objects.create(code="GIFT-1", name="杯套", is_gift=True)
    order = make_order(S.PICKING, warehouse=warehouse, **BUYER)
    change = change_request_create(
        order=order.pk, actor=make_user("ops"), reason="买家改地址",
        proposed={"fields": {"ship_street": "科苑南路2666号", "ship_phone": "13700001111",
                             "ship_city": "深圳市"}})
    login(client, make_user, role)
    html = client.get(f"/changes/{change.pk}/").content.decode()
    assert "深圳市" in html  # the city changes: every approver sees that
    secrets = ["科苑南路2666号", "13700001111", "世纪大道100号"]
    if BUYER_DATA[role] == FULL:
        assert all(s in html for s in secrets)
    else:
        assert not any(s in html for s in secrets), role
        assert "137****1111" in html and "••••" in html


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["finance", "ops"])
def test_legacy_order_search_masks_the_buyer_for_finance(client, make_user, role):
    from django.utils import timezone

    from channels.models import Channel, LegacyOrder

    old = Channel.objects.create(code="old-erp", name="旧系统", platform="csv")
    LegacyOrder.objects.create(channel=old, legacy_id="L1", buyer_name="张三丰",
                               buyer_phone="+8613800138000", buyer_phone_raw="138-0013-8000",
                               placed_at=timezone.now(), total="59.00")
    login(client, make_user, role)
    html = client.get("/channels/legacy/", {"phone": "13800138000"}).content.decode()
    assert 'data-legacy="L1"' in html
    row = html[html.index('data-legacy="L1"'):]
    row = row[:row.index("</tr>")]
    if BUYER_DATA[role] == FULL:
        assert "张三丰" in row and "138-0013-8000" in row
    else:
        assert "张*丰" in row and "138****8000" in row and "138-0013-8000" not in row


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["finance", "sales_manager", "ops"])
def test_the_order_page_asks_the_platform_to_decrypt_only_for_full_roles(client, make_user,
                                                                          role):
    # given a Pinduoduo order whose recipient arrived encrypted, decryption enabled
    import respx

    from channels.models import DecryptAudit
    from tests.channels.cn_support import PDD_GW, make_channel
    from tests.channels.test_decrypt import PLAIN, _pdd_decrypt_answer, _pdd_order

    order = _pdd_order(make_channel("pinduoduo", config={"decrypt_enabled": True}))
    login(client, make_user, role)
    # when the role opens the order page
    with respx.mock(assert_all_called=False) as router:
        route = router.post(PDD_GW).mock(side_effect=_pdd_decrypt_answer)
        html = client.get(f"/orders/{order.pk}/").content.decode()
    # then only a role that contacts buyers makes the (audited) decrypt call
    full = BUYER_DATA[role] == FULL
    assert route.called is full
    assert DecryptAudit.objects.exists() is full
    assert (PLAIN["street"] in html) is full
