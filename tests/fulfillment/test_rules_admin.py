"""Rules in the Django admin: refused when empty or contradictory; dry run changes nothing."""

# Fixtures are imported from test_automation_pipeline and then named as arguments.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from django.urls import reverse

from fulfillment.models import Condition, OrderDecision, Rule, ShadowResult
from fulfillment.services.automation import order_automate
from orderhub.models import Order, OrderEvent, OrderStatus, OrderTransitionLog
from tests.fulfillment.test_automation_pipeline import (  # noqa: F401 (fixtures)
    make_rule,
    stock,
    stocked,
)
from warehouse.models import Reservation, StockLevel, StockMovement

S = OrderStatus


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    return client


def rule_post(conditions, **fields):
    data = {
        "name": "Guangdong to SF", "position": "10", "enabled": "on", "mode": "active",
        "shadow_share": "100", "match": "all", "warehouse": "", "carrier": "SF",
        "carrier_service": "standard", "priority": "", "add_tags": "", "hold_reason": "",
        "note": "",
        "conditions-TOTAL_FORMS": str(len(conditions)), "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0", "conditions-MAX_NUM_FORMS": "1000",
    }
    for i, (field, op, value, *neg) in enumerate(conditions):
        data[f"conditions-{i}-field"] = field
        data[f"conditions-{i}-operator"] = op
        data[f"conditions-{i}-value"] = value
        if neg and neg[0]:
            data[f"conditions-{i}-negate"] = "on"
    data.update(fields)
    return data


def test_valid_rule_is_saved(admin_client):
    url = reverse("admin:fulfillment_rule_add")
    response = admin_client.post(url, rule_post([("province", "in", "广东省")]))
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = Rule.objects.get()
    assert rule.carrier == "SF"
    assert list(rule.conditions.values_list("field", "value")) == [("province", "广东省")]


@pytest.mark.parametrize(("conditions", "fields", "message"), [
    ([], {}, "needs at least one condition"),
    ([("province", "in", "北京市"), ("province", "in", "上海市")], {},
     "cannot be in both lists"),
    ([("amount", "gte", "500"), ("amount", "lte", "100")], {}, "at least 500 and at most 100"),
    ([("amount", "between", "500-100")], {}, "range 500-100 is empty"),
    ([("province", "in", " ")], {}, "Give at least one value"),
    ([("province", "in", "广东省")], {"carrier": "", "carrier_service": ""},
     "needs at least one action"),
    ([("province", "in", "广东省")], {"carrier": "", "carrier_service": "express"},
     "service needs a carrier"),
    ([("province", "in", "广东省")], {"carrier": "S F!"}, "A carrier code is"),
])
def test_bad_rule_is_refused_at_save(admin_client, conditions, fields, message):
    url = reverse("admin:fulfillment_rule_add")
    response = admin_client.post(url, rule_post(conditions, **fields))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Rule.objects.exists() and not Condition.objects.exists()


def test_contradiction_only_counts_for_all(admin_client):
    url = reverse("admin:fulfillment_rule_add")
    data = rule_post([("province", "in", "北京市"), ("province", "in", "上海市")], match="any")
    assert admin_client.post(url, data).status_code == 302


def snapshot():
    """Everything a dry run must leave alone."""
    return (
        list(Order.objects.order_by("pk").values_list(
            "pk", "status", "warehouse_id", "carrier", "priority", "updated_at")),
        sorted(Order.tags.through.objects.values_list("order_id", "tag_id")),
        list(OrderDecision.objects.order_by("pk").values()),
        list(Reservation.objects.order_by("pk").values_list("pk", "status")),
        list(StockLevel.objects.order_by("pk").values_list("pk", "on_hand", "reserved")),
        StockMovement.objects.count(), OrderTransitionLog.objects.count(),
        OrderEvent.objects.count(), ShadowResult.objects.count(),
        Order.history.count(), list(Rule.objects.values()), list(Condition.objects.values()),
    )


def test_dry_run_page_shows_changes_and_changes_nothing(admin_client, make_order, stocked):
    orders = [make_order(S.PAID) for _ in range(3)]
    beijing = make_order(S.PAID, ship_province="北京市", ship_city="北京市",
                         ship_district="朝阳区", ship_street="建国路88号")
    for order in [*orders, beijing]:
        order_automate(order=order)
    rule = make_rule("Shanghai express", enabled=False, conditions=[("province", "in", "上海市")],
                     carrier="SF", carrier_service="express", priority=1, add_tags="fast")
    make_rule("shadow", mode="shadow", conditions=[("amount", "gte", "1")], priority=3)
    before = snapshot()
    url = reverse("admin:fulfillment_rule_dryrun")
    response = admin_client.get(url, {"rules": [rule.pk], "days": 7})
    assert response.status_code == 200
    html = response.content.decode()
    assert "4 orders checked, 3 would change." in html
    assert html.count('class="changed"') == 3 * 4  # carrier, service, priority, tags
    assert "express" in html and "fast" in html
    assert snapshot() == before


def test_dry_run_from_change_form_uses_unsaved_edits(admin_client, make_order, stocked):
    order = make_order(S.PAID)
    order_automate(order=order)
    rule = make_rule("Shanghai", conditions=[("province", "in", "北京市")], carrier="ZTO")
    before = snapshot()
    # the change form's fields, edited but not saved: now matches Shanghai, carrier SF
    data = rule_post([("province", "in", "上海市")], name="Shanghai", carrier="SF",
                     _rule_id=str(rule.pk), days="7")
    response = admin_client.post(reverse("admin:fulfillment_rule_dryrun"), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 order checked, 1 would change." in html
    assert "Shanghai (edited)" in html
    assert snapshot() == before
    assert Rule.objects.get().carrier == "ZTO"
    assert Condition.objects.get().value == "北京市"


def test_dry_run_with_contradictory_edits_shows_why(admin_client, make_order, stocked):
    data = rule_post([("province", "in", "北京市"), ("province", "in", "上海市")],
                     _rule_id="", days="7")
    response = admin_client.post(reverse("admin:fulfillment_rule_dryrun"), data)
    assert "cannot be in both lists" in response.content.decode()
    assert not Rule.objects.exists()


def test_dry_run_needs_staff(client, make_user):
    client.force_login(make_user("ops"))
    response = client.get(reverse("admin:fulfillment_rule_dryrun"))
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_change_form_has_dry_run_button(admin_client):
    rule = make_rule("r", conditions=[("province", "in", "上海市")], carrier="SF")
    html = admin_client.get(reverse("admin:fulfillment_rule_change", args=[rule.pk])).content
    assert reverse("admin:fulfillment_rule_dryrun").encode() in html
    assert b'name="_rule_id"' in html
