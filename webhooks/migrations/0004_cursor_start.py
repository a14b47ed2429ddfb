"""Start the missed-event cursors at today's newest order and transition log row, so
a hub that already has history does not send it all again; then sync the role groups
(the cursor model's permissions are in no role)."""

from django.db import migrations
from django.db.models import Max

from orderhub.roles import sync_roles


def start(apps, schema_editor):
    cursor = apps.get_model("webhooks", "WebhookCursor")
    for source, model in (("order", "Order"), ("transition", "OrderTransitionLog")):
        last = apps.get_model("orderhub", model).objects.aggregate(m=Max("id"))["m"] or 0
        cursor.objects.get_or_create(source=source, defaults={"last_id": last})


def sync(apps, schema_editor):
    sync_roles(apps, labels=["webhooks"])


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0003_event_sources"),
    ]

    operations = [
        migrations.RunPython(start, migrations.RunPython.noop),
        migrations.RunPython(sync, migrations.RunPython.noop),
    ]
