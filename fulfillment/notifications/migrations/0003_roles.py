"""Give the role groups the notification permissions.

Full phone numbers of recipients: managers and admins only.

The grants come from the one role table, ``orderhub.roles`` (``sync_roles``:
these permissions are made exactly what the table says).
"""

from django.db import migrations

from orderhub.roles import sync_roles


def add_permissions(apps, schema_editor):
    sync_roles(apps, labels=["notifications"])


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_default_templates"),
        ("orderhub", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
