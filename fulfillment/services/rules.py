"""The routing rules engine: conditions, actions and what wins.

Semantics (also shown as help text in the admin):

- Enabled **active** rules run in ``position`` order (then id). A rule matches
  when all (``match=all``) or any (``match=any``) of its conditions hold; a
  condition with "not" ticked holds when its test fails.
- **Warehouse**: the first matching rule that names a warehouse wins.
- **Carrier and service**: the first matching rule that names a carrier or a
  carrier choice wins; its service comes with it (a later rule cannot mix in
  another service).
- **Choose carrier** (cheapest / fastest / cheapest within N days): picked from
  the rate tables (``fulfillment.shipping.rates``) by ``choose_carriers`` after
  the rules ran, for the whole batch at once; with no rate for the destination
  the rule's own carrier code is used, else the default carrier account. Why is
  recorded on the decision (``carrier_reason``).
- **Priority**: the most urgent priority of all matching rules wins.
- **Tags** and **hold reasons** accumulate over all matching rules.
- **Stop**: once a matching rule has "stop" ticked, later active rules are not
  evaluated.
- **Shadow** rules never act. Each is tried on ``shadow_share`` % of orders
  (chosen by a stable hash of rule and order, so a re-run picks the same
  orders), independently of "stop", and only records what it would do.
- When no rule names a warehouse the automation falls back to stock and
  region (``fulfillment.services.automation``).

Rules are compiled once into plain Python objects and cached per process; the
cache is keyed by a generation number that any rule save/delete bumps, so a
batch of 10,000 orders costs one cache read, not a query per order.
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from fulfillment.models import Condition, Rule
from orderhub.db import in_values
from orderhub.models import Customer, Order, OrderLine
from warehouse.models import SKU

RULES_GENERATION_KEY = "fulfillment:rules-generation"

F_ = "province city channel kind sku_category sku_attribute presale amount weight tier message tag"
FIELDS = F_.split()
# Fields an order has exactly one value of: two "is one of" lists that share
# nothing can never both hold.
SINGLE_VALUED = {"province", "city", "channel", "kind", "tier"}
NUMERIC = {"amount", "weight"}
OPERATORS = {
    "province": {"in"}, "city": {"in"}, "channel": {"in"}, "kind": {"in"},
    "sku_category": {"in"}, "sku_attribute": {"in"}, "tier": {"in"}, "tag": {"in"},
    "presale": {"yes"}, "message": {"contains"},
    "amount": {"gte", "lte", "between"}, "weight": {"gte", "lte", "between"},
}
_SPLIT = re.compile(r"[,，、;；\n\r]+")
_RANGE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(?:-|–|~|\.\.)\s*([0-9]+(?:\.[0-9]+)?)\s*$")
CARRIER_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def split_values(value: str) -> list[str]:
    return [v.strip() for v in _SPLIT.split(value or "") if v.strip()]


def _number(text: str) -> Decimal:
    try:
        number = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise ValidationError(_("“%(value)s” is not a number.") % {"value": text}) from exc
    if not number.is_finite() or number < 0:
        raise ValidationError(_("“%(value)s” is not a number.") % {"value": text})
    return number


@dataclass(frozen=True)
class OrderFacts:
    """What conditions look at, gathered for many orders with a few queries."""

    order_id: int
    province: str = ""
    city: str = ""
    channel: str = ""
    kind: str = Order.Kind.B2C
    presale: bool = False
    amount: Decimal = Decimal("0")
    weight: int = 0
    volume_cm3: int = 0
    tier: str = ""
    message: str = ""
    tags: frozenset = frozenset()
    categories: frozenset = frozenset()
    attributes: frozenset = frozenset()

    def values(self, name: str):
        return {
            "province": self.province, "city": self.city, "channel": self.channel,
            "kind": self.kind, "presale": self.presale, "amount": self.amount,
            "weight": self.weight, "tier": self.tier, "message": self.message,
            "tag": self.tags, "sku_category": self.categories,
            "sku_attribute": self.attributes,
        }[name]


@dataclass(frozen=True)
class CompiledCondition:
    field: str
    operator: str
    negate: bool = False
    values: frozenset = frozenset()
    lo: Decimal | None = None
    hi: Decimal | None = None

    def holds(self, facts: OrderFacts) -> bool:
        return self._test(facts) != self.negate

    def _test(self, facts: OrderFacts) -> bool:
        got = facts.values(self.field)
        op = self.operator
        if op == "in":
            if isinstance(got, frozenset):
                return not got.isdisjoint(self.values)
            return got in self.values
        if op == "contains":
            return any(v in got for v in self.values)
        if op == "yes":
            return bool(got)
        if self.lo is not None and got < self.lo:
            return False
        return not (self.hi is not None and got > self.hi)


def compile_condition(field_name: str, operator: str, value: str = "",
                      negate: bool = False) -> CompiledCondition:
    """Parse one condition row; ValidationError with a readable message if it is wrong."""
    if field_name not in OPERATORS:
        raise ValidationError(_("“%(field)s” is not a condition field.") % {"field": field_name})
    if operator not in OPERATORS[field_name]:
        raise ValidationError(
            _("%(field)s cannot be compared with “%(op)s”.") % {"field": field_name, "op": operator}
        )
    if operator == "yes":
        return CompiledCondition(field_name, operator, negate)
    if operator in ("gte", "lte", "between"):
        if operator == "between":
            m = _RANGE.match(value or "")
            if not m:
                raise ValidationError(_("Write a range as 100-500."))
            lo, hi = _number(m.group(1)), _number(m.group(2))
            if lo > hi:
                raise ValidationError(
                    _("The range %(lo)s-%(hi)s is empty: its start is above its end.")
                    % {"lo": lo, "hi": hi}
                )
        elif operator == "gte":
            lo, hi = _number(value or ""), None
        else:
            lo, hi = None, _number(value or "")
        return CompiledCondition(field_name, operator, negate, lo=lo, hi=hi)
    values = split_values(value)
    if not values:
        raise ValidationError(_("Give at least one value."))
    if field_name == "kind":
        bad = [v for v in values if v not in Order.Kind.values]
        if bad:
            raise ValidationError(_("Unknown order kind: %(v)s (use %(ok)s).")
                                  % {"v": ", ".join(bad), "ok": ", ".join(Order.Kind.values)})
    if field_name == "tier":
        bad = [v for v in values if v not in Customer.Tier.values]
        if bad:
            raise ValidationError(_("Unknown customer tier: %(v)s (use %(ok)s).")
                                  % {"v": ", ".join(bad), "ok": ", ".join(Customer.Tier.values)})
    return CompiledCondition(field_name, operator, negate, values=frozenset(values))


def check_conditions(match: str, conditions: list[CompiledCondition]) -> list[str]:
    """Why this set of conditions can never match (or matches nothing to decide on).

    Returns readable messages; an empty list means the set is fine.
    """
    if not conditions:
        return [_("A rule needs at least one condition; an empty rule would catch every order.")]
    errors = []
    seen = {}
    for cond in conditions:
        key = (cond.field, cond.operator, cond.values, cond.lo, cond.hi)
        if key in seen and seen[key] != cond.negate and match == "all":
            errors.append(_("The conditions on %(field)s contradict each other: the same test "
                            "is required and forbidden.") % {"field": cond.field})
        seen.setdefault(key, cond.negate)
    if match != "all":
        return errors
    by_field = defaultdict(list)
    for cond in conditions:
        by_field[cond.field].append(cond)
    for name, conds in by_field.items():
        pos = [c for c in conds if not c.negate]
        neg = [c for c in conds if c.negate]
        if name in NUMERIC:
            los = [c.lo for c in pos if c.lo is not None]
            his = [c.hi for c in pos if c.hi is not None]
            if los and his and max(los) > min(his):
                errors.append(_("The conditions on %(field)s contradict each other: at least "
                                "%(lo)s and at most %(hi)s.")
                              % {"field": name, "lo": max(los), "hi": min(his)})
            continue
        pos_sets = [c.values for c in pos if c.operator == "in"]
        neg_sets = [c.values for c in neg if c.operator in ("in", "contains")]
        if name in SINGLE_VALUED and len(pos_sets) > 1:
            common = frozenset.intersection(*pos_sets)
            if not common:
                errors.append(_("The conditions on %(field)s contradict each other: an order "
                                "cannot be in both lists.") % {"field": name})
                continue
            pos_sets = [common]
        forbidden = frozenset().union(*neg_sets) if neg_sets else frozenset()
        pos_lists = pos_sets + [c.values for c in pos if c.operator == "contains"]
        if any(s <= forbidden for s in pos_lists) and forbidden:
            errors.append(_("The conditions on %(field)s contradict each other: every allowed "
                            "value is also excluded.") % {"field": name})
    return list(dict.fromkeys(errors))


def check_actions(*, warehouse_id, carrier: str, carrier_service: str, priority,
                  add_tags: str, hold_reason: str, carrier_choice: str = "",
                  carrier_max_days=None, carrier_candidates: str = "") -> list[str]:
    errors = check_carrier_choice(carrier_choice=carrier_choice,
                                  carrier_max_days=carrier_max_days,
                                  carrier_candidates=carrier_candidates)
    if carrier and not CARRIER_CODE.match(carrier):
        errors.append(_("A carrier code is letters, digits, “-”, “_” or “.”, like SF or ZTO."))
    if carrier_service and not carrier:
        errors.append(_("A carrier service needs a carrier."))
    if carrier_service and not CARRIER_CODE.match(carrier_service):
        errors.append(_("A service code is letters, digits, “-”, “_” or “.”, like standard."))
    tags = [t for t in split_values(add_tags)]
    if not (warehouse_id or carrier or carrier_choice or priority not in (None, "") or tags
            or (hold_reason or "").strip()):
        errors.append(_("A rule needs at least one action (warehouse, carrier, priority, tags "
                        "or hold for review)."))
    return errors


def check_carrier_choice(*, carrier_choice: str, carrier_max_days,
                         carrier_candidates: str) -> list[str]:
    """What is wrong with a rule's "choose carrier" action (empty: fine)."""
    from fulfillment.shipping.rates import CHEAPEST_WITHIN, MODES

    errors = []
    if carrier_choice and carrier_choice not in MODES:
        errors.append(_("Unknown carrier choice “%(value)s”.") % {"value": carrier_choice})
    if carrier_choice == CHEAPEST_WITHIN and not carrier_max_days:
        errors.append(_("“Cheapest within N days” needs the number of days."))
    if carrier_max_days and carrier_choice != CHEAPEST_WITHIN:
        errors.append(_("The number of days only applies to “cheapest within N days”."))
    codes = split_values(carrier_candidates)
    if codes and not carrier_choice:
        errors.append(_("Carriers to choose among need a carrier choice."))
    if any(not CARRIER_CODE.match(c) for c in codes):
        errors.append(_("A carrier code is letters, digits, “-”, “_” or “.”, like SF or ZTO."))
    return errors


@dataclass(frozen=True)
class CarrierChoiceAction:
    """A matching rule's "choose carrier" action, resolved by ``choose_carriers``."""

    rule_id: int | None
    mode: str
    max_days: int | None = None
    candidates: tuple = ()
    fallback_carrier: str = ""
    fallback_service: str = ""


@dataclass(frozen=True)
class CompiledRule:
    id: int | None
    name: str
    mode: str = "active"
    shadow_share: int = 100
    canary_share: int = 0
    match: str = "all"
    conditions: tuple = ()
    warehouse_id: int | None = None
    carrier: str = ""
    carrier_service: str = ""
    priority: int | None = None
    tags: tuple = ()
    hold_reason: str = ""
    stop: bool = False
    carrier_choice: str = ""
    carrier_max_days: int | None = None
    carrier_candidates: tuple = ()

    def matches(self, facts: OrderFacts) -> bool:
        if self.match == "any":
            return any(c.holds(facts) for c in self.conditions)
        return all(c.holds(facts) for c in self.conditions)

    def sampled(self, order_id: int) -> bool:
        return zlib.crc32(f"{self.id}:{order_id}".encode()) % 100 < self.shadow_share

    def in_canary(self, order_id: int) -> bool:
        """Canary rules: does the rule act on this order (else it is only recorded)?

        A hash of the rule and the order, not a random draw: every re-run
        (task retry, re-process, straggler sweep) puts an order in the same
        group, and about ``canary_share`` % of orders land in the acting one.
        """
        return zlib.crc32(f"canary:{self.id}:{order_id}".encode()) % 100 < self.canary_share

    def actions(self) -> dict:
        out = {}
        if self.warehouse_id:
            out["warehouse_id"] = self.warehouse_id
        if self.carrier:
            out["carrier"] = self.carrier
            out["carrier_service"] = self.carrier_service
        if self.carrier_choice:
            out["carrier_choice"] = self.carrier_choice
            if self.carrier_max_days:
                out["carrier_max_days"] = self.carrier_max_days
            if self.carrier_candidates:
                out["carrier_candidates"] = list(self.carrier_candidates)
        if self.priority is not None:
            out["priority"] = self.priority
        if self.tags:
            out["tags"] = list(self.tags)
        if self.hold_reason:
            out["hold_reason"] = self.hold_reason
        if self.stop:
            out["stop"] = True
        return out


@dataclass
class RuleOutcome:
    warehouse_id: int | None = None
    warehouse_rule: int | None = None
    carrier: str = ""
    carrier_service: str = ""
    priority: int | None = None
    tags: list = field(default_factory=list)
    holds: list = field(default_factory=list)  # [(rule_id, reason)]
    matched: list = field(default_factory=list)
    shadow: list = field(default_factory=list)  # [(rule_id, matched, actions)]
    carrier_choice: CarrierChoiceAction | None = None
    carrier_reason: dict = field(default_factory=dict)  # set by choose_carriers
    # Canary rules that matched: [(rule_id, applied, actions)]; applied False = shadow group.
    canary: list = field(default_factory=list)


class RuleSet:
    def __init__(self, rules: list[CompiledRule]):
        # Canary rules run in position among the active ones; each acts only on its share.
        self.active = [r for r in rules if r.mode in ("active", "canary")]
        self.shadow = [r for r in rules if r.mode == "shadow"]

    def __len__(self):
        return len(self.active) + len(self.shadow)

    def evaluate(self, facts: OrderFacts, *, shadow: bool = True) -> RuleOutcome:
        out = RuleOutcome()
        for rule in self.active:
            if not rule.matches(facts):
                continue
            if rule.mode == "canary":
                applied = rule.in_canary(facts.order_id)
                if shadow:
                    out.canary.append((rule.id, applied, rule.actions()))
                if not applied:
                    continue
            out.matched.append(rule.id)
            if rule.warehouse_id and out.warehouse_id is None:
                out.warehouse_id, out.warehouse_rule = rule.warehouse_id, rule.id
            if (rule.carrier or rule.carrier_choice) and not out.carrier \
                    and out.carrier_choice is None:
                # A choice starts from its fallback; choose_carriers replaces it.
                out.carrier, out.carrier_service = rule.carrier, rule.carrier_service
                if rule.carrier_choice:
                    out.carrier_choice = CarrierChoiceAction(
                        rule_id=rule.id, mode=rule.carrier_choice,
                        max_days=rule.carrier_max_days, candidates=rule.carrier_candidates,
                        fallback_carrier=rule.carrier, fallback_service=rule.carrier_service)
            if rule.priority is not None:
                out.priority = max(out.priority or 0, rule.priority)
            for tag in rule.tags:
                if tag not in out.tags:
                    out.tags.append(tag)
            if rule.hold_reason:
                out.holds.append((rule.id, rule.hold_reason))
            if rule.stop:
                break
        if shadow:
            for rule in self.shadow:
                if rule.sampled(facts.order_id):
                    hit = rule.matches(facts)
                    out.shadow.append((rule.id, hit, rule.actions() if hit else {}))
        return out


def compile_rule(rule, conditions) -> CompiledRule:
    """``rule`` a Rule (saved or not), ``conditions`` its Condition objects."""
    return CompiledRule(
        id=rule.pk, name=rule.name, mode=rule.mode, shadow_share=rule.shadow_share or 0,
        canary_share=rule.canary_share or 0,
        match=rule.match,
        conditions=tuple(compile_condition(c.field, c.operator, c.value, c.negate)
                         for c in conditions),
        warehouse_id=rule.warehouse_id, carrier=rule.carrier.strip(),
        carrier_service=rule.carrier_service.strip(), priority=rule.priority,
        tags=tuple(rule.tag_list), hold_reason=rule.hold_reason.strip(), stop=rule.stop,
        carrier_choice=getattr(rule, "carrier_choice", "") or "",
        carrier_max_days=getattr(rule, "carrier_max_days", None),
        carrier_candidates=tuple(split_values(getattr(rule, "carrier_candidates", ""))),
    )


def rules_generation() -> str:
    # A random token rather than a counter: a cleared or restarted cache then
    # can never hand back a value some process already compiled under.
    return cache.get_or_set(RULES_GENERATION_KEY, lambda: uuid.uuid4().hex, None)


def rules_changed(**kwargs) -> None:
    """Receiver for rule saves/deletes: every process recompiles on its next batch."""
    cache.set(RULES_GENERATION_KEY, uuid.uuid4().hex, None)


_compiled: dict = {}


def ruleset_from_db(queryset=None) -> RuleSet:
    rules = list(queryset if queryset is not None else Rule.objects.filter(enabled=True))
    conds = defaultdict(list)
    for cond in Condition.objects.filter(rule__in=[r.pk for r in rules]).order_by("id"):
        conds[cond.rule_id].append(cond)
    compiled = []
    for rule in rules:
        try:
            compiled.append(compile_rule(rule, conds[rule.pk]))
        except ValidationError:
            # Saved through the admin these are valid; a rule broken by hand in the
            # database is skipped rather than stopping every order.
            continue
    return RuleSet(compiled)


def load_ruleset() -> RuleSet:
    """The enabled rules, compiled; cached per process until a rule changes."""
    generation = rules_generation()
    cached = _compiled.get("rules")
    if cached and cached[0] == generation:
        return cached[1]
    ruleset = ruleset_from_db()
    _compiled["rules"] = (generation, ruleset)
    return ruleset


def order_lines(order_ids) -> dict[int, list[tuple[str, int]]]:
    """``(sku code, quantity)`` of each order's lines, for many orders in one query."""
    lines = defaultdict(list)
    for order_id, code, qty in OrderLine.objects.filter(
        order_id__in=in_values(order_ids)
    ).values_list("order_id", "sku_code", "quantity"):
        lines[order_id].append((code, qty))
    return lines


def facts_for_orders(orders: list[Order], *, lines: dict | None = None
                     ) -> dict[int, OrderFacts]:
    """Facts for every order in ``orders`` (with ``customer`` and ``channel`` selected).

    Three queries whatever the number of orders: lines (unless given, as
    ``order_lines`` returns them), SKUs, tags.
    """
    ids = [o.pk for o in orders]
    if lines is None:
        lines = order_lines(ids)
    codes = {code for ls in lines.values() for code, _q in ls}
    skus = {
        code: (category, cold, fragile, attrs or {}, weight or 0, volume or 0)
        for code, category, cold, fragile, attrs, weight, volume in SKU.objects.filter(
            code__in=in_values(codes, db_type="text")
        ).values_list("code", "category", "cold_chain", "fragile", "attributes", "weight_g",
                      "volume_cm3")
    }
    tags = defaultdict(set)
    for order_id, name in Order.tags.through.objects.filter(
        order_id__in=in_values(ids)
    ).values_list("order_id", "tag__name"):
        tags[order_id].add(name)
    facts = {}
    for order in orders:
        categories, attributes, weight, volume = set(), set(), 0, 0
        for code, qty in lines.get(order.pk, ()):
            sku = skus.get(code)
            if sku is None:
                continue
            category, cold, fragile, attrs, grams, cm3 = sku
            if category:
                categories.add(category)
            if cold:
                attributes.add("cold_chain")
            if fragile:
                attributes.add("fragile")
            if isinstance(attrs, dict):
                for key, val in attrs.items():
                    if val not in (None, False, ""):
                        attributes.add(str(key))
                    attributes.add(f"{key}={val}")
            weight += grams * qty
            volume += cm3 * qty
        customer = order.customer
        facts[order.pk] = OrderFacts(
            order_id=order.pk, province=order.ship_province, city=order.ship_city,
            channel=order.channel.code, kind=order.kind, presale=order.presale,
            amount=order.total, weight=weight, volume_cm3=volume,
            tier=customer.tier if customer else "",
            message=order.buyer_message or "", tags=frozenset(tags[order.pk]),
            categories=frozenset(categories), attributes=frozenset(attributes),
        )
    return facts


def choose_carriers(evaluated, *, cards=None) -> None:
    """Resolve the "choose carrier" action of each ``(facts, outcome)`` pair in place.

    Sets ``outcome.carrier`` / ``carrier_service`` to the chosen rate's account and
    service (or the fallback) and ``outcome.carrier_reason`` to why. The rate tables
    are read once for the whole batch (``cards``: already loaded ones), and only if
    some outcome has a choice to make.
    """
    from fulfillment.shipping.rates import choose_carrier, load_rate_cards

    todo = [(facts, out) for facts, out in evaluated if out.carrier_choice is not None]
    if not todo:
        return
    if cards is None:
        cards = load_rate_cards()
    for facts, out in todo:
        action = out.carrier_choice
        out.carrier, out.carrier_service, out.carrier_reason = choose_carrier(
            cards, mode=action.mode, province=facts.province, weight_g=facts.weight,
            volume_cm3=facts.volume_cm3, max_days=action.max_days, carriers=action.candidates,
            fallback_carrier=action.fallback_carrier,
            fallback_service=action.fallback_service)
        out.carrier_reason["rule"] = action.rule_id
