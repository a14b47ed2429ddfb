"""Demo automation: a handful of routing rules, risk checks, a blacklist entry.

``seed(stdout)`` is idempotent (rules are found by name) and ends by running
automation over the demo's paid orders that have no decision yet.
"""

from __future__ import annotations

from django.db import transaction

from fulfillment.models import Blacklist, Condition, RiskRule, Rule
from fulfillment.services.automation import orders_automate
from orderhub.models import Order, OrderStatus
from warehouse.models import SKU, Warehouse

ACTOR = "system:seed_demo"

REGIONS = {
    "sh-jiading": ["上海市", "江苏省", "浙江省", "安徽省"],
    "gz-baiyun": ["广东省", "广西壮族自治区", "福建省", "海南省"],
    "cd-shuangliu": ["四川省", "重庆市", "云南省", "贵州省"],
}
COLD_WAREHOUSE = "sh-jiading"
COLD_SKUS = ["TEA-LJ-250"]

RULES = [
    # name, position, match, conditions, fields
    ("Cold-chain goods → cold-chain warehouse", 10, "all",
     [("sku_attribute", "in", "cold_chain", False)], {"warehouse": COLD_WAREHOUSE}),
    ("Guangdong → SF standard", 20, "all",
     [("province", "in", "广东省", False)], {"carrier": "SF", "carrier_service": "standard"}),
    ("VIP customers → 24 h", 30, "all",
     [("tier", "in", "vip", False)], {"priority": 1, "add_tags": "VIP"}),
    ("Buyer in a hurry (急) → 4 h", 40, "any",
     [("message", "contains", "急,加急,urgent", False)], {"priority": 2, "add_tags": "加急"}),
    ("Fragile goods", 50, "all",
     [("sku_category", "in", "BWL,BTL,TEA", False)], {"add_tags": "易碎"}),
    ("Heavy parcels → ZTO (trial)", 60, "all",
     [("weight", "gte", "5000", False)],
     {"carrier": "ZTO", "carrier_service": "standard", "mode": "shadow", "shadow_share": 50}),
]

RISK = {
    "phone_velocity": {"count": 5, "hours": 24},
    "ip_velocity": {"count": 10, "hours": 1},
    "vague_address": {"min_street_length": 4},
    "near_free_shipping": {"threshold": "99.00", "margin": "1.00"},
    "blacklist": {},
    "new_b2b": {},
}


def seed(stdout) -> None:
    with transaction.atomic():
        warehouses = {w.code: w for w in Warehouse.objects.all()}
        for code, regions in REGIONS.items():
            wh = warehouses.get(code)
            if wh is not None and not wh.service_regions:
                wh.service_regions = regions
                wh.cold_chain = wh.cold_chain or code == COLD_WAREHOUSE
                wh.save(update_fields=["service_regions", "cold_chain"])
        SKU.objects.filter(code__in=COLD_SKUS).update(cold_chain=True)
        created = 0
        for name, position, match, conditions, fields in RULES:
            fields = dict(fields)
            if "warehouse" in fields:
                fields["warehouse"] = warehouses.get(fields["warehouse"])
                if fields["warehouse"] is None:
                    continue
            rule, new = Rule.objects.get_or_create(
                name=name, defaults={"position": position, "match": match, **fields})
            if new:
                created += 1
                for field, op, value, negate in conditions:
                    Condition.objects.create(rule=rule, field=field, operator=op, value=value,
                                             negate=negate)
        for kind, params in RISK.items():
            RiskRule.objects.update_or_create(kind=kind, defaults={"enabled": True, **params})
        Blacklist.objects.get_or_create(
            kind=Blacklist.Kind.PHONE, value="+8613000000000",
            defaults={"reason": "chargeback fraud (demo)"})
    # The newest paid order is left waiting for its task, so the demo shows every state
    # (with a worker and beat running, the straggler sweep takes it within minutes).
    pending = list(Order.objects.filter(status=OrderStatus.PAID, decision__isnull=True)
                   .order_by("pk").values_list("pk", flat=True))[:-1]
    results = {}
    for start in range(0, len(pending), 200):
        results.update(orders_automate(order_ids=pending[start:start + 200], actor=ACTOR))
    counts: dict[str, int] = {}
    for outcome in results.values():
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to do"
    stdout.write(f"Fulfillment: {created} routing rules added; automation: {summary}.")
