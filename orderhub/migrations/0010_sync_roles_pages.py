"""Re-sync the role groups after the pages-table decision (issue 14/15).

Ops gain channel poll/pause, stock adjustment and the warehouse board; pickers
lose the order pages and the shipping list (they work through /scan/); finance
loses tickets, shipping and stock. Those permissions live in several apps, so
this one migration syncs each of them, after their own last migration.
"""

from django.db import migrations

from orderhub.roles import sync_roles

LABELS = ["orderhub", "channels", "warehouse", "shipping", "tickets"]


def sync(apps, schema_editor):
    sync_roles(apps, labels=LABELS)


class Migration(migrations.Migration):
    dependencies = [
        ("orderhub", "0009_sync_roles"),
        ("channels", "0007_sync_roles"),
        ("warehouse", "0006_sync_roles"),
        ("shipping", "0005_sync_roles"),
        ("tickets", "0003_sync_roles"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
