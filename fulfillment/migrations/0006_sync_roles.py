"""Give the role groups the credit ledger's permissions (``orderhub.roles`` decides who).

The ledger model arrived in 0004; its permissions exist only once this runs the role
table's sync for the fulfillment app (idempotent).
"""

from django.db import migrations

from orderhub.roles import sync_roles


def sync(apps, schema_editor):
    sync_roles(apps, labels=["fulfillment"])


class Migration(migrations.Migration):
    dependencies = [
        ("fulfillment", "0005_credit_opening_balances"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
