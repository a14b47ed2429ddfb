"""Make the role groups hold exactly what ``orderhub.roles`` gives them of this app
(API tokens: the admin role only). Idempotent."""

from django.db import migrations

from orderhub.roles import sync_roles


def sync(apps, schema_editor):
    sync_roles(apps, labels=["api"])


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
