"""Give the role groups the warehouse permissions.

The grants come from the one role table, ``orderhub.roles`` (``sync_roles``:
these permissions are made exactly what the table says).
"""

from django.db import migrations

from orderhub.roles import sync_roles


def add_permissions(apps, schema_editor):
    sync_roles(apps, labels=["warehouse"])


class Migration(migrations.Migration):
    dependencies = [
        ("warehouse", "0002_catalogue_stock_picking"),
        ("orderhub", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
