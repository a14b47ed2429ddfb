"""Bestseller / regional spike alert.

Default rule (editable in the admin, ``SpikeRule``): a SKU's paid orders in one
province grow by at least 50% day over day for 3 consecutive days, and over
those days more than 92% of the orders placed for it were paid (a spike of
unpaid orders is more likely fraud or a pricing error than demand). A day
after a day with no orders counts as growth once it reaches ``min_orders``.

Each new alert is saved once per (rule, day, SKU, province) and announced
with fulfillment's ``spike_alert_raised`` signal after commit: the
notifications' team-alert outbox connects a receiver to it to send the WeCom/DingTalk message.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from fulfillment.signals import spike_alert_raised
from orderhub.models import OrderLine
from reporting.models import SpikeAlert, SpikeRule
from reporting.selectors.scope import local_midnight, local_tz

# ``spike_alert_raised`` (defined by fulfillment, whose notifications listen to it;
# reporting may read and signal the rest, never the other way) is sent on commit
# with ``alert`` (a SpikeAlert) for each newly raised alert.

HUNDRED = Decimal("100")


def _percent(part, whole) -> Decimal:
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(Decimal("0.01"),
                                                               rounding=ROUND_HALF_UP)


def spike_series(*, first_day: dt.date, last_day: dt.date) -> dict[tuple, dict]:
    """``{(sku, province): {day: (placed, paid)}}`` for orders placed in the days given.

    One GROUP BY over the lines of the window; gifts are not demand, so they are left out.
    """
    rows = (
        OrderLine.objects.filter(
            is_gift=False,
            order__placed_at__gte=local_midnight(first_day),
            order__placed_at__lt=local_midnight(last_day + dt.timedelta(days=1)),
        )
        .annotate(day=TruncDate("order__placed_at", tzinfo=local_tz()))
        .values("sku_code", "order__ship_province", "day")
        .annotate(placed=Count("order", distinct=True),
                  paid=Count("order", distinct=True, filter=Q(order__paid_at__isnull=False)))
        .order_by()
    )
    series: dict[tuple, dict] = defaultdict(dict)
    for row in rows:
        series[(row["sku_code"], row["order__ship_province"])][row["day"]] = (
            row["placed"], row["paid"])
    return series


def spike_rule_matches(*, rule: SpikeRule, day: dt.date) -> list[dict]:
    """The (SKU, province) pairs for which ``rule`` fires on ``day``; reads, writes nothing."""
    days = [day - dt.timedelta(days=i) for i in range(rule.consecutive_days, -1, -1)]
    matches = []
    for (sku, province), per_day in spike_series(first_day=days[0], last_day=day).items():
        counts = [per_day.get(d, (0, 0)) for d in days]
        steps, fires = [], True
        for (_placed_before, before), (_placed, now), d in zip(counts[:-1], counts[1:],
                                                              days[1:], strict=True):
            if now < rule.min_orders:
                fires = False
                break
            growth = None if before == 0 else _percent(now - before, before)
            if growth is not None and growth < rule.growth_percent:
                fires = False
                break
            steps.append({"day": d.isoformat(), "orders": now, "previous": before,
                          "growth": None if growth is None else str(growth)})
        if not fires:
            continue
        placed = sum(p for p, _paid in counts[1:])
        paid = sum(paid for _p, paid in counts[1:])
        success = _percent(paid, placed)
        if success <= rule.min_payment_success_percent:
            continue
        matches.append({"sku_code": sku, "province": province, "series": steps,
                        "payment_success_percent": success})
    return sorted(matches, key=lambda m: (m["sku_code"], m["province"]))


def spike_rules_evaluate(*, actor: str, day: dt.date | None = None) -> list[SpikeAlert]:
    """Raise the alerts of every enabled rule for ``day`` (default: yesterday, local).

    Idempotent: an alert already raised for the same rule, day, SKU and province is
    not raised again, so the daily task may run twice.
    """
    day = day or timezone.localdate() - dt.timedelta(days=1)
    raised = []
    for rule in SpikeRule.objects.filter(enabled=True):
        for match in spike_rule_matches(rule=rule, day=day):
            with transaction.atomic():
                alert, created = SpikeAlert.objects.get_or_create(
                    rule=rule, day=day, sku_code=match["sku_code"],
                    province=match["province"],
                    defaults={"series": match["series"],
                              "payment_success_percent": match["payment_success_percent"]},
                )
                if created:
                    raised.append(alert)
                    transaction.on_commit(
                        lambda alert=alert: spike_alert_raised.send(sender=SpikeAlert,
                                                                    alert=alert, actor=actor))
    return raised
