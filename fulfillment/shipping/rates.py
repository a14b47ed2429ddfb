"""Rate tables: what a parcel costs with each carrier service and how fast it arrives.

Read by the routing rules' "choose carrier" action (``fulfillment.services.rules``):

- a service's ``RateZone`` rows group destination provinces; the zone naming the
  order's province applies, else the service's zone without provinces
  ("everywhere else"), else the service has no rate there;
- chargeable weight = max(actual weight, volumetric weight), volumetric weight =
  L×W×H (the SKUs' ``volume_cm3`` × quantity) ÷ the service's divisor;
- price = first price for up to the first weight, plus the additional price per
  started additional step above it;
- cheapest: lowest price (then fewer days); fastest: fewest promised days (then
  lower price); cheapest within N days: the cheapest of those promising at most N.

Everything is computed in memory from ``load_rate_cards()`` (one query), so a batch
of orders costs one read whatever its size. Money is ``Decimal``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

CHEAPEST = "cheapest"
FASTEST = "fastest"
CHEAPEST_WITHIN = "cheapest_within"
MODES = (CHEAPEST, FASTEST, CHEAPEST_WITHIN)

# Why no rate applied (stored on the decision; ``explain`` words them).
NO_RATE = "no_rate"
NONE_WITHIN = "none_within"

KG = Decimal("0.001")
CENT = Decimal("0.01")
# Longest first: 广西壮族自治区 -> 广西, 内蒙古自治区 -> 内蒙古, 香港特别行政区 -> 香港.
PROVINCE_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省",
                     "市")
_SPLIT = re.compile(r"[,，、;；\n\r]+")
# Candidates listed on a decision (cheapest first): enough to see why, not a dump.
MAX_LISTED = 8


def province_key(name: str) -> str:
    """``上海市`` / ``上海`` / `` 上海 `` -> ``上海``: how zones and orders are compared."""
    text = "".join((name or "").split())
    for suffix in PROVINCE_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def split_provinces(text: str) -> list[str]:
    return [p.strip() for p in _SPLIT.split(text or "") if p.strip()]


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Weights:
    actual_kg: Decimal
    volumetric_kg: Decimal
    chargeable_kg: Decimal


def chargeable_weight(*, weight_g: int, volume_cm3: int, divisor: int | None) -> Weights:
    """max(actual, L×W×H ÷ divisor) in kg; no divisor means actual weight only."""
    actual = (Decimal(int(weight_g or 0)) / 1000).quantize(KG, rounding=ROUND_CEILING)
    volumetric = Decimal("0.000")
    if divisor and volume_cm3:
        volumetric = (Decimal(int(volume_cm3)) / Decimal(int(divisor))).quantize(
            KG, rounding=ROUND_CEILING)
    return Weights(actual, volumetric, max(actual, volumetric))


@dataclass(frozen=True)
class Zone:
    name: str
    provinces: frozenset
    first_weight_kg: Decimal
    first_price: Decimal
    additional_weight_kg: Decimal
    additional_price: Decimal
    promised_days: int

    def price(self, chargeable_kg: Decimal) -> Decimal:
        over = chargeable_kg - self.first_weight_kg
        steps = 0
        if over > 0:
            steps = int((over / self.additional_weight_kg).to_integral_value(ROUND_CEILING))
        return _money(self.first_price + self.additional_price * steps)


@dataclass(frozen=True)
class RateCard:
    """One carrier service's rate table."""

    carrier: str  # the carrier account's code (what ``Order.carrier`` holds)
    service: str
    divisor: int | None
    zones: tuple  # zones naming provinces
    elsewhere: Zone | None = None

    def zone_for(self, province: str) -> Zone | None:
        key = province_key(province)
        if key:
            for zone in self.zones:
                if key in zone.provinces:
                    return zone
        return self.elsewhere


@dataclass(frozen=True)
class Quote:
    carrier: str
    service: str
    zone: str
    weights: Weights
    divisor: int | None
    cost: Decimal
    days: int

    def as_dict(self) -> dict:
        return {"carrier": self.carrier, "service": self.service, "zone": self.zone,
                "cost": str(self.cost), "days": self.days,
                "actual_kg": str(self.weights.actual_kg),
                "volumetric_kg": str(self.weights.volumetric_kg),
                "chargeable_kg": str(self.weights.chargeable_kg),
                "divisor": self.divisor}


def load_rate_cards() -> list[RateCard]:
    """The rate tables of enabled accounts' services, in one query."""
    from fulfillment.shipping.models import RateZone

    cards: dict[int, dict] = {}
    for zone in (RateZone.objects.filter(service__account__enabled=True)
                 .select_related("service__account").order_by("service_id", "pk")):
        service = zone.service
        card = cards.setdefault(service.pk, {
            "carrier": service.account.code, "service": service.code,
            "divisor": service.volumetric_divisor, "zones": [], "elsewhere": None})
        keys = frozenset(province_key(p) for p in zone.province_list)
        compiled = Zone(name=zone.name, provinces=keys, first_weight_kg=zone.first_weight_kg,
                        first_price=zone.first_price,
                        additional_weight_kg=zone.additional_weight_kg,
                        additional_price=zone.additional_price,
                        promised_days=zone.promised_days)
        if keys:
            card["zones"].append(compiled)
        elif card["elsewhere"] is None:
            card["elsewhere"] = compiled
    return [RateCard(carrier=c["carrier"], service=c["service"], divisor=c["divisor"],
                     zones=tuple(c["zones"]), elsewhere=c["elsewhere"])
            for c in cards.values()]


def promised_days(*, carrier: str, service: str, province: str) -> int | None:
    """The rate table's promised days for one account's service to ``province``, or None.

    A parcel booked without a service reads the account's only rated service.
    """
    cards = [card for card in load_rate_cards() if card.carrier.lower() == carrier.lower()
             and (card.service == service or not service)]
    if service == "" and len(cards) != 1:
        return None
    zones = [card.zone_for(province) for card in cards]
    return next((zone.promised_days for zone in zones if zone is not None), None)


def quotes_for(cards: list[RateCard], *, province: str, weight_g: int, volume_cm3: int,
               carriers: tuple | list | None = None) -> list[Quote]:
    """Every service's price and promise for this parcel, cheapest first.

    ``carriers``: account codes to consider (empty: all). Services without a zone
    for ``province`` are left out.
    """
    allowed = {c.lower() for c in carriers or ()}
    quotes = []
    for card in cards:
        if allowed and card.carrier.lower() not in allowed:
            continue
        zone = card.zone_for(province)
        if zone is None:
            continue
        weights = chargeable_weight(weight_g=weight_g, volume_cm3=volume_cm3,
                                    divisor=card.divisor)
        quotes.append(Quote(carrier=card.carrier, service=card.service, zone=zone.name,
                            weights=weights, divisor=card.divisor,
                            cost=zone.price(weights.chargeable_kg),
                            days=zone.promised_days))
    quotes.sort(key=lambda q: (q.cost, q.days, q.carrier, q.service))
    return quotes


def pick(quotes: list[Quote], *, mode: str, max_days: int | None = None) -> Quote | None:
    """The quote ``mode`` chooses, or None when none qualifies."""
    if mode == FASTEST:
        return min(quotes, key=lambda q: (q.days, q.cost, q.carrier, q.service), default=None)
    if mode == CHEAPEST_WITHIN:
        quotes = [q for q in quotes if max_days is not None and q.days <= max_days]
    return min(quotes, key=lambda q: (q.cost, q.days, q.carrier, q.service), default=None)


def choose_carrier(cards: list[RateCard], *, mode: str, province: str, weight_g: int,
                   volume_cm3: int, max_days: int | None = None, carriers=(),
                   fallback_carrier: str = "", fallback_service: str = ""
                   ) -> tuple[str, str, dict]:
    """(carrier account code, service code, why) for one parcel.

    With no qualifying rate the fallback (the rule's fixed carrier) is returned, or
    ("", "") so the default carrier account books it; ``why`` says which and why.
    """
    quotes = quotes_for(cards, province=province, weight_g=weight_g, volume_cm3=volume_cm3,
                        carriers=carriers)
    chosen = pick(quotes, mode=mode, max_days=max_days)
    why = {"mode": mode, "max_days": max_days, "province": province,
           "weight_g": int(weight_g or 0), "volume_cm3": int(volume_cm3 or 0),
           "candidates": [q.as_dict() for q in quotes[:MAX_LISTED]],
           "chosen": chosen.as_dict() if chosen else None, "problem": "", "fallback": ""}
    if chosen is not None:
        return chosen.carrier, chosen.service, why
    why["problem"] = NONE_WITHIN if quotes else NO_RATE
    if fallback_carrier:
        why["fallback"] = fallback_carrier
        return fallback_carrier, fallback_service, why
    return "", "", why


def explain(why: dict | None) -> str:
    """The decision's carrier choice as one sentence in the reader's language."""
    if not why:
        return ""
    modes = {CHEAPEST: _("Cheapest"), FASTEST: _("Fastest"),
             CHEAPEST_WITHIN: _("Cheapest within %(days)s days") % {
                 "days": why.get("max_days")}}
    mode = modes.get(why.get("mode"), why.get("mode") or "")
    province = why.get("province") or "—"
    chosen = why.get("chosen")
    if chosen:
        weights = _("chargeable %(chargeable)s kg (actual %(actual)s kg, volumetric "
                    "%(volumetric)s kg)") % {
            "chargeable": chosen["chargeable_kg"], "actual": chosen["actual_kg"],
            "volumetric": chosen["volumetric_kg"]}
        if chosen.get("divisor"):
            weights += f" ÷{chosen['divisor']}"
        others = len(why.get("candidates") or []) - 1
        return _("%(mode)s: %(carrier)s/%(service)s, ¥%(cost)s, %(days)s days to %(province)s "
                 "(zone %(zone)s); %(weights)s; %(others)s other offers.") % {
            "mode": mode, "carrier": chosen["carrier"], "service": chosen["service"],
            "cost": chosen["cost"], "days": chosen["days"], "province": province,
            "zone": chosen["zone"], "weights": weights, "others": max(others, 0)}
    if why.get("problem") == NONE_WITHIN:
        problem = _("no carrier promises %(province)s within %(days)s days") % {
            "province": province, "days": why.get("max_days")}
    else:
        problem = _("no rate table covers %(province)s") % {"province": province}
    if why.get("fallback"):
        then = _("the rule's carrier %(carrier)s books it") % {"carrier": why["fallback"]}
    else:
        then = _("the default carrier account books it")
    return _("%(mode)s: %(problem)s; %(then)s.") % {"mode": mode, "problem": problem,
                                                     "then": then}
