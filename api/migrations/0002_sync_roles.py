"""Make the role groups hold exactly what ``orderhub.roles`` gives them of this app
(API tokens: the admin role only). Idempotent."""

from django.db import migrations

from orderhub.roles import sync_roles


def sync(apps, schema_editor):
    # channels too: its 0008 (decrypt audit) has no sync of its own and relied on
    # orderhub's 0010 running after it, which this app's place in the plan changes.
    sync_roles(apps, labels=["api", "channels"])


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("channels", "0008_decrypt_audit"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
