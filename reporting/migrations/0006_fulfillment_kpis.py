"""Thresholds for the fulfillment KPIs (tracking, SLA paid → first tracking info), and the
time window of the tracking return rate and the SLA share.

Seeding uses get_or_create / fills only an empty window: an admin's edits stay.
"""

import django.core.validators
from decimal import Decimal
from django.db import migrations, models


# kpi: (direction, amber, red, window hours).
NEW_THRESHOLDS = {
    "sla_median_hours": ("higher", Decimal("6"), Decimal("12"), None),
    "sla_p90_hours": ("higher", Decimal("24"), Decimal("48"), None),
    "sla_within_pct": ("lower", Decimal("95"), Decimal("90"), Decimal("24")),
}


def seed(apps, schema_editor):
    KpiThreshold = apps.get_model("reporting", "KpiThreshold")
    for kpi, (direction, amber, red, window) in NEW_THRESHOLDS.items():
        KpiThreshold.objects.get_or_create(kpi=kpi, defaults={
            "direction": direction, "amber": amber, "red": red, "window_hours": window})
    KpiThreshold.objects.filter(kpi="tracking_return_rate", window_hours__isnull=True).update(
        window_hours=Decimal("24"))


class Migration(migrations.Migration):

    dependencies = [
        ('reporting', '0005_category_rollup'),
    ]

    operations = [
        migrations.AddField(
            model_name='kpithreshold',
            name='window_hours',
            field=models.DecimalField(blank=True, decimal_places=1, help_text='Tracking return rate and SLA share: the time allowed. Empty: 24 hours.', max_digits=6, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.1'))], verbose_name='time window (hours)'),
        ),
        migrations.AlterField(
            model_name='kpithreshold',
            name='kpi',
            field=models.CharField(choices=[('awaiting_shipment', 'Orders awaiting shipment'), ('paid_to_shipped_hours', 'Average paid → shipped (hours)'), ('tracking_return_rate', 'Tracking return rate (%)'), ('complaint_ratio', 'Complaint ratio (%)'), ('out_of_stock', 'Out-of-stock orders'), ('in_review', 'Orders in review'), ('stalled_parcels', 'Stalled parcels'), ('channel_sync_problems', 'Channels with sync problems'), ('urgent_not_picked', 'Urgent orders not yet picked'), ('sla_median_hours', 'SLA paid → first tracking, median (hours)'), ('sla_p90_hours', 'SLA paid → first tracking, p90 (hours)'), ('sla_within_pct', 'SLA paid → first tracking, share in time (%)')], max_length=40, unique=True, verbose_name='KPI'),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
