"""Carrier selection by rate table as a routing rule action: chargeable weight, zones,
cheapest / fastest / cheapest within N days, the fallback with its reason, and the action
applied through the normal automation path (one by one and in a batch)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from fulfillment.models import OrderDecision
from fulfillment.services.automation import order_automate, orders_automate
from fulfillment.services.rules import check_actions
from fulfillment.shipping.models import CarrierAccount, CarrierService, RateZone
from fulfillment.shipping.rates import (
    NO_RATE,
    NONE_WITHIN,
    RateCard,
    Zone,
    chargeable_weight,
    choose_carrier,
    explain,
    load_rate_cards,
    pick,
    province_key,
    quotes_for,
)
from orderhub.models import OrderStatus
from tests.fulfillment.test_automation_pipeline import make_rule, stock, stocked  # noqa: F401

S = OrderStatus
D = Decimal


def zone(name, provinces, first, extra, days, *, first_kg="1", step_kg="1"):
    return Zone(name=name, provinces=frozenset(province_key(p) for p in provinces),
                first_weight_kg=D(first_kg), first_price=D(first),
                additional_weight_kg=D(step_kg), additional_price=D(extra), promised_days=days)


# --- chargeable weight ----------------------------------------------------------------------


def test_volumetric_weight_wins_for_a_light_bulky_parcel():
    # 1.2 kg of pillows in 40×30×30 cm: 36000 cm³ / 6000 = 6 kg.
    w = chargeable_weight(weight_g=1200, volume_cm3=36000, divisor=6000)
    assert (w.actual_kg, w.volumetric_kg, w.chargeable_kg) == (D("1.2"), D("6"), D("6"))


def test_actual_weight_wins_for_a_dense_parcel():
    # 5 kg of tea in 20×20×10 cm: 4000 / 8000 = 0.5 kg.
    w = chargeable_weight(weight_g=5000, volume_cm3=4000, divisor=8000)
    assert (w.actual_kg, w.volumetric_kg, w.chargeable_kg) == (D("5"), D("0.5"), D("5"))


def test_without_a_divisor_only_actual_weight_counts():
    w = chargeable_weight(weight_g=800, volume_cm3=90000, divisor=None)
    assert w.volumetric_kg == 0 and w.chargeable_kg == D("0.8")


def test_price_is_first_weight_plus_each_started_step():
    z = zone("east", ["上海"], "12", "2", 1)
    assert z.price(D("0.4")) == D("12.00")
    assert z.price(D("1")) == D("12.00")
    assert z.price(D("1.01")) == D("14.00")  # a started kilo is a kilo
    assert z.price(D("3")) == D("16.00")
    half = zone("east", ["上海"], "5", "1", 2, step_kg="0.5")
    assert half.price(D("1.6")) == D("7.00")


# --- zones ----------------------------------------------------------------------------------


def test_zone_lookup_by_province_with_or_without_suffix_then_everywhere_else():
    card = RateCard(carrier="sf", service="std", divisor=6000,
                    zones=(zone("north", ["北京", "天津市"], "15", "3", 2),
                           zone("south", ["广西壮族自治区", "广东省"], "13", "2", 2)),
                    elsewhere=zone("rest", [], "20", "8", 4))
    assert card.zone_for("北京市").name == "north"
    assert card.zone_for("天津").name == "north"
    assert card.zone_for("广西").name == "south"
    assert card.zone_for("广东省").name == "south"
    assert card.zone_for("西藏自治区").name == "rest"
    assert RateCard(carrier="x", service="y", divisor=None,
                    zones=card.zones).zone_for("西藏自治区") is None


def zone_formset(service, rows):
    from django.forms import inlineformset_factory

    from fulfillment.shipping.admin import RateZoneFormSet

    formset_class = inlineformset_factory(
        CarrierService, RateZone, formset=RateZoneFormSet, extra=0, can_delete=True,
        fields=["name", "provinces", "first_weight_kg", "first_price", "additional_weight_kg",
                "additional_price", "promised_days"])
    existing = list(service.zones.order_by("pk"))
    data = {"zones-TOTAL_FORMS": str(len(rows)), "zones-INITIAL_FORMS": str(len(existing)),
            "zones-MIN_NUM_FORMS": "0", "zones-MAX_NUM_FORMS": "1000"}
    for i, (name, provinces) in enumerate(rows):
        data.update({f"zones-{i}-name": name, f"zones-{i}-provinces": provinces,
                     f"zones-{i}-first_weight_kg": "1", f"zones-{i}-first_price": "10",
                     f"zones-{i}-additional_weight_kg": "1",
                     f"zones-{i}-additional_price": "2", f"zones-{i}-promised_days": "2"})
        if i < len(existing):
            data[f"zones-{i}-id"] = str(existing[i].pk)
            data[f"zones-{i}-service"] = str(service.pk)
    return formset_class(data, instance=service, prefix="zones")


def test_a_province_is_in_one_zone_of_a_service_and_may_move_between_them(db):
    account = CarrierAccount.objects.create(code="sf", name="SF", kind="sf")
    service = CarrierService.objects.create(account=account, code="std", name="标快")

    clash = zone_formset(service, [("east", "上海, 江苏"), ("near", "江苏省、浙江")])
    assert not clash.is_valid()
    assert "江苏" in str(clash.non_form_errors())
    assert not zone_formset(service, [("rest", ""), ("rest2", "")]).is_valid()

    saved = zone_formset(service, [("east", "上海, 江苏"), ("near", "浙江")])
    assert saved.is_valid(), saved.errors
    saved.save()
    # 江苏 moves from east to near in one save.
    moved = zone_formset(service, [("east", "上海"), ("near", "浙江, 江苏")])
    assert moved.is_valid(), (moved.errors, moved.non_form_errors())
    moved.save()
    assert RateZone.objects.get(name="near").provinces == "浙江, 江苏"


# --- choosing -------------------------------------------------------------------------------

CARDS = [
    RateCard(carrier="sf", service="std", divisor=6000,
             zones=(zone("east", ["上海", "江苏"], "12", "2", 1),)),
    RateCard(carrier="zto", service="标准快递", divisor=8000,
             zones=(zone("east", ["上海", "江苏"], "5", "1", 2, step_kg="0.5"),)),
    RateCard(carrier="yto", service="标准快递", divisor=None,
             zones=(zone("north", ["北京"], "4", "1", 3),)),
]
# 1.1 kg in 12000 cm³: SF 2 kg chargeable (÷6000) -> ¥14; ZTO 1.5 kg (÷8000) -> ¥6.
PARCEL = {"province": "上海市", "weight_g": 1100, "volume_cm3": 12000}


def test_cheapest_and_fastest_choose_differently():
    quotes = quotes_for(CARDS, **PARCEL)
    assert [(q.carrier, q.cost, q.days) for q in quotes] == [("zto", D("6.00"), 2),
                                                            ("sf", D("14.00"), 1)]
    assert quotes[1].weights.chargeable_kg == D("2")
    assert pick(quotes, mode="cheapest").carrier == "zto"
    assert pick(quotes, mode="fastest").carrier == "sf"
    assert pick(quotes, mode="cheapest_within", max_days=1).carrier == "sf"
    assert pick(quotes, mode="cheapest_within", max_days=2).carrier == "zto"


def test_candidates_limit_the_choice():
    carrier, service, why = choose_carrier(CARDS, mode="cheapest", carriers=("SF",), **PARCEL)
    assert (carrier, service) == ("sf", "std")
    assert [c["carrier"] for c in why["candidates"]] == ["sf"]


def test_no_rate_for_the_destination_falls_back_to_the_rules_carrier_with_a_reason():
    carrier, service, why = choose_carrier(
        CARDS, mode="cheapest", province="西藏自治区", weight_g=500, volume_cm3=0,
        fallback_carrier="ems", fallback_service="std")
    assert (carrier, service) == ("ems", "std")
    assert why["problem"] == NO_RATE and why["chosen"] is None and why["fallback"] == "ems"
    with translation.override("en"):
        assert explain(why) == ("Cheapest: no rate table covers 西藏自治区; the rule's carrier "
                                "ems books it.")


def test_no_rate_and_no_fixed_carrier_leaves_it_to_the_default_account():
    carrier, service, why = choose_carrier(CARDS, mode="fastest", province="海南",
                                           weight_g=500, volume_cm3=0)
    assert (carrier, service) == ("", "")
    with translation.override("en"):
        assert "the default carrier account books it" in explain(why)
    with translation.override("zh-hans"):
        assert "默认" in explain(why)


def test_nobody_fast_enough_is_its_own_reason():
    carrier, _service, why = choose_carrier(CARDS, mode="cheapest_within", max_days=1,
                                            province="北京", weight_g=500, volume_cm3=0)
    assert carrier == "" and why["problem"] == NONE_WITHIN
    with translation.override("en"):
        assert "no carrier promises 北京 within 1 days" in explain(why)


# --- the rule action --------------------------------------------------------------------------


def test_the_action_is_checked_like_the_other_actions():
    base = {"warehouse_id": None, "carrier": "", "carrier_service": "", "priority": None,
            "add_tags": "", "hold_reason": ""}
    assert check_actions(**base, carrier_choice="cheapest") == []
    assert check_actions(**base, carrier_choice="cheapest_within")  # needs N
    assert check_actions(**base, carrier_choice="fastest", carrier_max_days=2)
    assert check_actions(**base, carrier_candidates="sf")  # candidates without a choice
    assert check_actions(**base, carrier_choice="cheapest_within", carrier_max_days=2,
                         carrier_candidates="sf, zto") == []


@pytest.fixture
def rate_tables(db):
    def account(code, kind, **extra):
        return CarrierAccount.objects.create(code=code, name=code.upper(), kind=kind, **extra)

    sf = CarrierService.objects.create(account=account("sf", "sf", is_default=True),
                                       code="std", name="顺丰标快", volumetric_divisor=6000)
    zto = CarrierService.objects.create(
        account=account("zto", "kuaidi100", carrier_code="zhongtong"), code="标准快递",
        name="中通标快", volumetric_divisor=8000)
    yto = CarrierService.objects.create(
        account=account("yto", "kuaidi100", carrier_code="yuantong"), code="标准快递",
        name="圆通标快")
    RateZone.objects.create(service=sf, name="华东", provinces="上海, 江苏, 浙江",
                            first_price=D("12"), additional_price=D("2"), promised_days=1)
    RateZone.objects.create(service=zto, name="华东", provinces="上海市，江苏省",
                            first_price=D("5"), additional_weight_kg=D("0.5"),
                            additional_price=D("1"), promised_days=2)
    RateZone.objects.create(service=yto, name="华北", provinces="北京", first_price=D("4"),
                            additional_price=D("1"), promised_days=3)
    return {"sf": sf, "zto": zto, "yto": yto}


@pytest.fixture
def bulky(stocked, stock):  # noqa: F811
    """The default order (2 × SKU-1 + a gift): 1.1 kg in 12000 cm³."""
    from warehouse.models import SKU

    SKU.objects.filter(code="SKU-1").update(weight_g=500, volume_cm3=6000)
    SKU.objects.filter(code="GIFT-1").update(weight_g=100)
    return stocked


def test_load_rate_cards_skips_disabled_accounts(rate_tables):
    assert {c.carrier for c in load_rate_cards()} == {"sf", "zto", "yto"}
    CarrierAccount.objects.filter(code="yto").update(enabled=False)
    cards = load_rate_cards()
    assert {c.carrier for c in cards} == {"sf", "zto"}
    assert next(c for c in cards if c.carrier == "zto").divisor == 8000


@pytest.mark.parametrize("choice, days, carrier, service, cost", [
    ("cheapest", None, "zto", "标准快递", "6.00"),
    ("fastest", None, "sf", "std", "14.00"),
    ("cheapest_within", 1, "sf", "std", "14.00"),
])
def test_the_rule_action_through_automation(make_order, bulky, rate_tables, choice, days,
                                            carrier, service, cost):
    # given
    make_rule("by rate", conditions=[("province", "in", "上海市")], carrier_choice=choice,
              carrier_max_days=days)
    order = make_order(S.PAID)
    # when
    order_automate(order=order)
    # then
    order.refresh_from_db()
    decision = OrderDecision.objects.get(order=order)
    assert order.status == S.READY_TO_PICK
    assert order.carrier == decision.carrier == carrier
    assert decision.carrier_service == service
    reason = decision.carrier_reason
    assert reason["chosen"]["cost"] == cost and reason["mode"] == choice
    assert reason["weight_g"] == 1100 and reason["volume_cm3"] == 12000
    assert {c["carrier"] for c in reason["candidates"]} == {"sf", "zto"}  # yto: no rate
    with translation.override("en"):
        text = decision.carrier_reason_text
    assert f"{carrier}/{service}, ¥{cost}" in text
    assert "chargeable" in text and "actual 1.100 kg" in text


def test_the_chosen_service_is_what_the_waybill_books(make_order, bulky, rate_tables):
    from fulfillment.shipping.selectors import account_for_order

    make_rule("by rate", conditions=[("province", "in", "上海市")], carrier_choice="fastest")
    order = make_order(S.PAID)
    order_automate(order=order)
    order.refresh_from_db()
    account, service = account_for_order(order)
    assert (account.code, service) == ("sf", "std")


def test_no_rate_falls_back_to_the_rules_fixed_carrier(make_order, bulky, rate_tables):
    make_rule("by rate", conditions=[("province", "in", "西藏自治区")], carrier="yto",
              carrier_service="标准快递", carrier_choice="cheapest")
    order = make_order(S.PAID, ship_province="西藏自治区", ship_city="拉萨市")
    order_automate(order=order)
    order.refresh_from_db()
    decision = order.decision
    assert order.carrier == "yto" and decision.carrier_service == "标准快递"
    assert decision.carrier_reason["problem"] == NO_RATE
    with translation.override("en"):
        assert "no rate table covers 西藏自治区" in decision.carrier_reason_text


def test_no_rate_and_no_fixed_carrier_books_with_the_default(make_order, bulky, rate_tables):
    from fulfillment.shipping.selectors import account_for_order

    make_rule("by rate", conditions=[("province", "in", "西藏自治区")],
              carrier_choice="cheapest")
    order = make_order(S.PAID, ship_province="西藏自治区", ship_city="拉萨市")
    order_automate(order=order)
    order.refresh_from_db()
    assert order.carrier == "" and order.decision.carrier == ""
    assert order.decision.carrier_reason["problem"] == NO_RATE
    assert account_for_order(order)[0].code == "sf"  # the default account


def test_the_first_rule_with_a_carrier_or_a_choice_wins(make_order, bulky, rate_tables):
    make_rule("cheapest", position=1, conditions=[("province", "in", "上海市")],
              carrier_choice="cheapest")
    make_rule("fixed", position=2, conditions=[("province", "in", "上海市")], carrier="yto")
    order = make_order(S.PAID)
    order_automate(order=order)
    order.refresh_from_db()
    assert order.carrier == "zto"


def test_a_batch_records_the_choice_like_one_by_one(make_order, bulky, rate_tables):
    make_rule("by rate", conditions=[("province", "in", "上海市")], carrier_choice="cheapest")
    orders = [make_order(S.PAID), make_order(S.PAID)]
    results = orders_automate(order_ids=[o.pk for o in orders])
    assert {r.result for r in results.values()} == {S.READY_TO_PICK}
    for order in orders:
        decision = OrderDecision.objects.get(order=order)
        assert decision.carrier == "zto"
        assert decision.carrier_reason["chosen"]["chargeable_kg"] == "1.500"


def test_the_order_page_shows_why(make_order, bulky, rate_tables, client, make_user):
    from django.urls import reverse

    make_rule("by rate", conditions=[("province", "in", "上海市")], carrier_choice="cheapest")
    order = make_order(S.PAID)
    order_automate(order=order)
    client.force_login(make_user("ops"))
    page = client.get(reverse("orders:detail", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert "Carrier choice" in page.content.decode()
    assert "zto/标准快递, ¥6.00" in page.content.decode()


def test_the_rules_dry_run_shows_the_chosen_carrier(make_order, bulky, rate_tables):
    from fulfillment.services.dryrun import dry_run
    from fulfillment.services.rules import ruleset_from_db

    make_rule("by rate", conditions=[("province", "in", "上海市")], carrier_choice="fastest")
    order = make_order(S.PAID)

    rows = dry_run(ruleset=ruleset_from_db(), days=7)

    row = next(r for r in rows if r.order.pk == order.pk)
    carrier = next(c for c in row.changes if str(c[0]) == "Carrier")
    assert carrier[1:] == ("—", "sf")


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    return client


def test_the_action_is_saved_and_refused_through_the_rule_admin(admin_client):
    from django.urls import reverse

    from fulfillment.models import Rule
    from tests.fulfillment.test_rules_admin import rule_post

    url = reverse("admin:fulfillment_rule_add")
    bad = admin_client.post(url, rule_post([("province", "in", "广东省")], carrier="",
                                           carrier_service="",
                                           carrier_choice="cheapest_within"))
    assert bad.status_code == 200 and "needs the number of days" in bad.content.decode()
    assert not Rule.objects.exists()

    good = admin_client.post(url, rule_post([("province", "in", "广东省")], carrier="",
                                            carrier_service="",
                                            carrier_choice="cheapest_within",
                                            carrier_max_days="2",
                                            carrier_candidates="sf, zto"))
    assert good.status_code == 302, good.content.decode()[:2000]
    rule = Rule.objects.get()
    assert (rule.carrier_choice, rule.carrier_max_days) == ("cheapest_within", 2)
    listing = admin_client.get(reverse("admin:fulfillment_rule_changelist")).content.decode()
    assert "cheapest within N days" in listing


def test_rate_tables_are_edited_on_the_service_admin(admin_client, rate_tables):
    from django.urls import reverse

    page = admin_client.get(reverse("admin:shipping_carrierservice_change",
                                    args=[rate_tables["zto"].pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "上海市，江苏省" in html and "volumetric_divisor" in html


def test_reprocessing_forgets_an_earlier_pick_when_no_rate_applies_any_more(
        make_order, bulky, rate_tables, make_user):
    from fulfillment.services.automation import order_reprocess
    from fulfillment.shipping.selectors import account_for_order

    make_rule("by rate", conditions=[("province", "in", "上海市")], carrier_choice="cheapest")
    order = make_order(S.PAID)
    order_automate(order=order)
    order.refresh_from_db()
    assert order.carrier == "zto"

    RateZone.objects.all().delete()
    order_reprocess(order=order.pk, actor=make_user("ops"), expected_status=S.READY_TO_PICK)

    order.refresh_from_db()
    assert order.carrier == "" and order.decision.carrier_reason["problem"] == NO_RATE
    assert account_for_order(order)[0].code == "sf"  # the default account books it
