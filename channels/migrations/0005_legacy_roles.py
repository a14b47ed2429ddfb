"""Let ops, managers and finance look up archived legacy orders by buyer phone.

The grants come from the one role table, ``orderhub.roles`` (``sync_roles``:
these permissions are made exactly what the table says).
"""

from django.db import migrations

from orderhub.roles import sync_roles


def grant(apps, schema_editor):
    sync_roles(apps, labels=["channels"])


class Migration(migrations.Migration):
    dependencies = [
        ("channels", "0004_legacyorder"),
        ("channels", "0003_channel_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
