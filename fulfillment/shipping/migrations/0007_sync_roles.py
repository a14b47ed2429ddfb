"""Give the role groups the rate zone permissions ``orderhub.roles`` names. Idempotent."""

from django.db import migrations

from orderhub.roles import sync_roles


def sync(apps, schema_editor):
    sync_roles(apps, labels=["shipping"])


class Migration(migrations.Migration):
    dependencies = [
        ("shipping", "0006_rate_zones"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
