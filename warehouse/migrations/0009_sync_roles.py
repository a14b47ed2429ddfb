"""Make the role groups hold exactly what ``orderhub.roles`` gives them of this app.

The role table lives in one place (``orderhub/roles.py``); this runs its sync
for the warehouse permissions once the app's models exist. Idempotent.
"""

from django.db import migrations

from orderhub.roles import sync_roles


def sync(apps, schema_editor):
    sync_roles(apps, labels=["warehouse"])


class Migration(migrations.Migration):
    dependencies = [
        ("warehouse", "0008_presale_transfers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
