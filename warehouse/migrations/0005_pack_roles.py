"""Give the role groups the pack-verify permissions.

The grants come from the one role table, ``orderhub.roles`` (``sync_roles``:
these permissions are made exactly what the table says).
"""

from django.db import migrations

from orderhub.roles import sync_roles


def add_permissions(apps, schema_editor):
    sync_roles(apps, labels=["warehouse"])


class Migration(migrations.Migration):
    dependencies = [
        ("warehouse", "0004_pack_verify"),
        ("warehouse", "0003_roles"),
    ]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
