"""Seed the KPI thresholds with the issue's defaults, and the default spike rule.

Runs once; an admin's later edits are never overwritten (get_or_create).
"""

from decimal import Decimal

from django.db import migrations

# kpi: (direction, amber, red). "higher": alert above; "lower": alert below.
DEFAULT_THRESHOLDS = {
    "awaiting_shipment": ("higher", Decimal("120"), Decimal("150")),
    "paid_to_shipped_hours": ("higher", Decimal("4"), Decimal("8")),
    "tracking_return_rate": ("lower", Decimal("100"), Decimal("95")),
    "complaint_ratio": ("higher", Decimal("0.5"), Decimal("0.8")),
    "out_of_stock": ("higher", Decimal("0"), Decimal("20")),
    "in_review": ("higher", Decimal("20"), Decimal("50")),
    "stalled_parcels": ("higher", Decimal("0"), Decimal("10")),
    "channel_sync_problems": ("higher", None, Decimal("0")),
    "urgent_not_picked": ("higher", Decimal("0"), Decimal("10")),
}


def seed(apps, schema_editor):
    KpiThreshold = apps.get_model("reporting", "KpiThreshold")
    for kpi, (direction, amber, red) in DEFAULT_THRESHOLDS.items():
        KpiThreshold.objects.get_or_create(
            kpi=kpi, defaults={"direction": direction, "amber": amber, "red": red}
        )
    SpikeRule = apps.get_model("reporting", "SpikeRule")
    if not SpikeRule.objects.exists():
        SpikeRule.objects.create(name="default")


class Migration(migrations.Migration):
    dependencies = [("reporting", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
