"""Every risk reason, and approvals that are not raised again."""

# Fixtures are imported from test_automation_pipeline and then named as arguments.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from freezegun import freeze_time

from fulfillment.models import Blacklist, RiskRule
from fulfillment.services.automation import order_automate
from fulfillment.services.review import review_approve
from fulfillment.services.risk import RiskChecker, parse_addresses, reason_text
from orderhub.models import Customer, Order, OrderStatus
from tests.fulfillment.test_automation_pipeline import (  # noqa: F401 (fixtures)
    enable_risk,
    stock,
    stocked,
)

S = OrderStatus


def codes_for(order) -> list[str]:
    order = Order.objects.select_related("customer", "channel").get(pk=order.pk)
    return [r["code"] for r in RiskChecker.load().check([order])[order.pk]]


def keys_for(order) -> list[str]:
    order = Order.objects.select_related("customer", "channel").get(pk=order.pk)
    return [r["key"] for r in RiskChecker.load().check([order])[order.pk]]


def test_risk_rules_off_by_default(make_order):
    assert RiskRule.objects.count() == 6
    assert not RiskRule.objects.filter(enabled=True).exists()
    assert codes_for(make_order(S.PAID, ship_street="x")) == []


def test_same_phone_many_orders(make_order):
    enable_risk("phone_velocity", count=3, hours=24)
    with freeze_time(timezone.now() - dt.timedelta(hours=30)):
        make_order(S.PAID)  # outside the window
    make_order(S.PAID)
    second = make_order(S.PAID)
    assert codes_for(second) == []  # 2 in 24 h
    make_order(S.CANCELLED)  # cancelled orders do not count
    third = make_order(S.PAID)
    assert codes_for(third) == ["risk:phone_velocity"]
    other = make_order(S.PAID, buyer_phone="13900139000")
    assert codes_for(other) == []


def test_same_ip_many_orders(make_order):
    enable_risk("ip_velocity", count=2, hours=1)
    make_order(S.PAID, buyer_ip="10.1.2.3", buyer_phone="13900139001")
    order = make_order(S.PAID, buyer_ip="10.1.2.3", buyer_phone="13900139002")
    assert codes_for(order) == ["risk:ip_velocity"]
    assert codes_for(make_order(S.PAID, buyer_ip="10.9.9.9")) == []
    assert codes_for(make_order(S.PAID)) == []  # no IP: no count


@pytest.mark.parametrize(("fields", "keys"), [
    ({}, []),
    # no district field, but the parser finds one in the street text
    ({"ship_district": "", "ship_street": "浦东新区世纪大道100号"}, []),
    ({"ship_district": "", "ship_street": "某某路100号"}, ["no_district"]),
    ({"ship_street": "1号"}, ["street_short"]),
    ({"ship_province": "火星", "ship_city": "基地", "ship_district": "", "ship_street": "某处"},
     ["unparseable", "street_short"]),
    ({"ship_province": "", "ship_city": "", "ship_district": "",
      "ship_street": "广东省深圳市南山区科技园南区1号"}, []),
])
def test_vague_address(make_order, fields, keys):
    enable_risk("vague_address", min_street_length=4)
    assert keys_for(make_order(S.PAID, **fields)) == keys


def test_address_parser_structures_free_text():
    assert parse_addresses(["广东省深圳市南山区科技园", "火星基地"]) == [
        ("广东省", "深圳市", "南山区", "科技园"), ("", "", "", "")]


def test_amount_just_over_free_shipping(make_order):
    enable_risk("near_free_shipping", threshold=Decimal("99"), margin=Decimal("2"))

    def order_of(price):
        return make_order(S.PAID, lines=[{"sku_code": "SKU-1", "name": "x", "quantity": 1,
                                          "unit_price": price}])

    assert codes_for(order_of("99.00")) == ["risk:near_free_shipping"]
    assert codes_for(order_of("100.99")) == ["risk:near_free_shipping"]
    assert codes_for(order_of("101.00")) == []
    assert codes_for(order_of("98.99")) == []


def test_blacklisted_phone_and_address(make_order):
    enable_risk("blacklist")
    entry = Blacklist(kind="phone", value="139 0013 9000", reason="fraud")
    entry.full_clean()
    entry.save()
    assert entry.value == "+8613900139000"  # normalised like orders' phones
    Blacklist.objects.create(kind="address", value="世纪大道 100号", reason="reseller")
    Blacklist.objects.create(kind="address", value="人民路1号", reason="old", active=False)
    assert keys_for(make_order(S.PAID, buyer_phone="13900139000", ship_street="长安街1号")) == [
        "blacklist_phone"]
    assert keys_for(make_order(S.PAID, buyer_phone="13900139001", ship_phone="13900139000",
                               ship_street="长安街1号")) == ["blacklist_phone"]
    assert keys_for(make_order(S.PAID)) == ["blacklist_address"]
    assert keys_for(make_order(S.PAID, ship_street="人民路1号")) == []


def test_blacklist_address_too_short_is_refused():
    with pytest.raises(ValidationError):
        Blacklist(kind="address", value="路").full_clean()


def test_new_b2b_customers_first_order(make_order):
    enable_risk("new_b2b")
    customer = Customer.objects.create(name="ACME", tier="b2b", credit_limit=Decimal("1e6"))
    first = make_order(S.PAID, customer=customer, kind="b2b")
    second = make_order(S.PAID, customer=customer, kind="b2b")
    assert codes_for(first) == ["risk:new_b2b"]
    assert codes_for(second) == []
    retail = Customer.objects.create(name="Joe")
    assert codes_for(make_order(S.PAID, customer=retail)) == []


def test_reason_text_is_translated_at_display():
    from django.utils import translation

    from fulfillment.services.risk import make_reason

    reason = make_reason("risk:vague_address", "no_district")
    assert reason["message"] == "The address has no district."
    with translation.override("zh-hans"):
        assert reason_text(reason) != reason["message"]


def test_approved_reasons_are_not_raised_again(make_order, stocked, make_user):
    enable_risk("blacklist")
    Blacklist.objects.create(kind="phone", value="+8613800138000", reason="check")
    order = make_order(S.PAID)
    assert order_automate(order=order).result == S.REVIEW
    result = review_approve(order_id=order.pk, user=make_user("ops"), comment="known buyer")
    assert result.done
    order.refresh_from_db()
    assert order.status == S.PAID
    # automation runs again (the paid signal's task) and lets it through this time
    assert order_automate(order=order).result == S.READY_TO_PICK
    assert order.review_actions.get().codes == ["risk:blacklist"]


def test_address_parse_matches_cpca_transform():
    # parse_addresses calls cpca's per-address parser (no pandas); it must read
    # every address exactly as cpca's public transform does.
    import cpca

    from fulfillment.services.risk import parse_addresses

    addresses = ["上海市上海市浦东新区世纪大道100号", "徐汇区虹漕路461号58号楼5楼", "火星基地",
                 "泉州市洛江区万安塘西工业区", "北京朝阳", "广东省深圳市", "", "朝阳区建国路1号"]
    frame = cpca.transform(addresses)
    expected = [tuple("" if v is None or v != v else str(v) for v in row[:4])
                for row in frame.itertuples(index=False)]
    assert parse_addresses(addresses) == expected
    assert expected[0] == ("上海市", "市辖区", "浦东新区", "世纪大道100号")
