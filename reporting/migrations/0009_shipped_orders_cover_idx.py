"""A covering index of the shipped orders for the dashboard's live tracking return rate.

Today's and yesterday's rate probes each order shipped in them for a waybill scanned
in time; with the order's id, channel and warehouse in the index those orders come
from it alone (index-only) instead of a heap visit each (~4,000 scattered pages for
two days on the million-order benchmark). Reporting owns it, as migration 0008's.
PostgreSQL only (INCLUDE).
"""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS reporting_order_shipped_cover_idx ON orderhub_order "
        "(shipped_at) INCLUDE (id, channel_id, warehouse_id) WHERE shipped_at IS NOT NULL")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS reporting_order_shipped_cover_idx")


class Migration(migrations.Migration):

    dependencies = [("reporting", "0008_category_backlog_indexes")]

    operations = [migrations.RunPython(create, drop)]
