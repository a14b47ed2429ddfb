"""Dry run: what a rule set would do to recent orders, versus what happened.

Reads only: rules are evaluated in memory (shadow results are not recorded,
the warehouse fallback is not simulated), nothing is saved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment.services.rules import RuleSet, choose_carriers, facts_for_orders
from orderhub.models import Order
from warehouse.models import Warehouse

MAX_ORDERS = 500


@dataclass
class DryRunRow:
    order: Order
    matched: list
    changes: list = field(default_factory=list)  # [(label, actual, would)]


def dry_run(*, ruleset: RuleSet, days: int, now: dt.datetime | None = None,
            limit: int = MAX_ORDERS) -> list[DryRunRow]:
    """Evaluate ``ruleset`` on the orders placed in the last ``days`` days (newest first)."""
    now = now or timezone.now()
    orders = list(
        Order.objects.filter(placed_at__gte=now - dt.timedelta(days=days))
        .select_related("customer", "channel", "warehouse", "decision")
        .prefetch_related("tags").order_by("-placed_at", "-id")[:limit]
    )
    facts = facts_for_orders(orders)
    names = dict(Warehouse.objects.values_list("pk", "name"))
    priorities = dict(Order.Priority.choices)
    outcomes = {o.pk: ruleset.evaluate(facts[o.pk], shadow=False) for o in orders}
    choose_carriers([(facts[pk], out) for pk, out in outcomes.items()])
    rows = []
    for order in orders:
        outcome = outcomes[order.pk]
        decision = getattr(order, "decision", None)
        actual_tags = sorted(t.name for t in order.tags.all())
        actual_holds = sorted(r.get("message", "") for r in (decision.review_reasons
                                                               if decision else [])
                              if str(r.get("code", "")).startswith("rule:"))
        would_priority = max(order.priority, outcome.priority or 0)
        pairs = [
            (_("Warehouse"), order.warehouse.name if order.warehouse else "—",
             names.get(outcome.warehouse_id, "—") if outcome.warehouse_id
             else (order.warehouse.name if order.warehouse else "—")),
            (_("Carrier"), order.carrier or "—", outcome.carrier or order.carrier or "—"),
            (_("Service"), (decision.carrier_service if decision else "") or "—",
             outcome.carrier_service or ((decision.carrier_service if decision else "")
                                         if not outcome.carrier else "") or "—"),
            (_("Priority"), str(priorities.get(order.priority, order.priority)),
             str(priorities.get(would_priority, would_priority))),
            (_("Tags"), ", ".join(actual_tags) or "—",
             ", ".join(sorted(set(actual_tags) | set(outcome.tags))) or "—"),
            (_("Review"), "; ".join(actual_holds) or "—",
             "; ".join(sorted(text for _id, text in outcome.holds)) or "—"),
        ]
        rows.append(DryRunRow(order=order, matched=list(outcome.matched),
                              changes=[p for p in pairs if p[1] != p[2]]))
    return rows
