"""Canary comparison: how orders a canary rule acted on fared against its shadow group.

A canary rule (``Rule.Mode.CANARY``) acts on a fixed share of the orders it
matches and only records the rest (``ShadowResult`` rows, ``applied`` True or
False; ``rules.CompiledRule.in_canary``). This selector counts, per group, the
distinct orders and what became of them:

- shipped, and shipped on time: shipped within ``ON_TIME_HOURS`` of payment;
- out of stock: entered ``out_of_stock`` at least once;
- changed by hand: a person edited the order (an ``edited`` event with a user)
  or put it on hold, cancelled, intercepted or re-processed it.

Read-only; a handful of queries whatever the number of orders (the orders are
selected by subquery, never loaded).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F, Q

from fulfillment.models import Rule, ShadowResult
from orderhub.models import Order, OrderEvent, OrderStatus, OrderTransitionLog

ON_TIME_HOURS = 48
MANUAL_TRANSITIONS = ("hold", "cancel", "intercept", "reprocess")


@dataclass(frozen=True)
class GroupFigures:
    orders: int
    shipped: int
    on_time: int
    out_of_stock: int
    manual: int

    def pct(self, value: int) -> float | None:
        return round(100.0 * value / self.orders, 1) if self.orders else None

    @property
    def on_time_pct(self):
        return round(100.0 * self.on_time / self.shipped, 1) if self.shipped else None

    @property
    def out_of_stock_pct(self):
        return self.pct(self.out_of_stock)

    @property
    def manual_pct(self):
        return self.pct(self.manual)


@dataclass(frozen=True)
class CanaryComparison:
    rule: Rule
    applied: GroupFigures
    shadow: GroupFigures

    @property
    def applied_share(self) -> float | None:
        total = self.applied.orders + self.shadow.orders
        return round(100.0 * self.applied.orders / total, 1) if total else None


def _figures(order_ids) -> GroupFigures:
    orders = Order.objects.filter(pk__in=order_ids)
    shipped = orders.filter(shipped_at__isnull=False)
    on_time = shipped.filter(paid_at__isnull=False,
                             shipped_at__lte=F("paid_at") + dt.timedelta(hours=ON_TIME_HOURS))
    oos = OrderTransitionLog.objects.filter(
        order_id__in=order_ids, to_status=OrderStatus.OUT_OF_STOCK).values("order_id")
    edited = OrderEvent.objects.filter(order_id__in=order_ids, kind=OrderEvent.Kind.EDITED,
                                       actor_user__isnull=False).values("order_id")
    moved = OrderTransitionLog.objects.filter(
        order_id__in=order_ids, actor_user__isnull=False,
        transition__in=MANUAL_TRANSITIONS).values("order_id")
    return GroupFigures(
        orders=orders.count(), shipped=shipped.count(), on_time=on_time.count(),
        out_of_stock=orders.filter(pk__in=oos).count(),
        manual=orders.filter(Q(pk__in=edited) | Q(pk__in=moved)).count(),
    )


def canary_comparison(rule: Rule) -> CanaryComparison:
    """Applied group against shadow group of ``rule`` (any mode; empty groups read 0)."""
    results = ShadowResult.objects.filter(rule=rule, matched=True)
    applied = results.filter(applied=True).values("order_id")
    # An order is in one group only (the hash decides); should the share have
    # been changed meanwhile, an order that was acted on counts as applied.
    shadow = results.filter(applied=False).exclude(order_id__in=applied).values("order_id")
    return CanaryComparison(rule=rule, applied=_figures(applied), shadow=_figures(shadow))
