"""Give the role groups the fulfillment permissions, and seed the risk checks.

Credit holds are finance's: only they (and admins) get ``review_credit``.

The grants come from the one role table, ``orderhub.roles`` (``sync_roles``:
these permissions are made exactly what the table says).
"""

from django.db import migrations

from orderhub.roles import sync_roles


# Switched off until an admin sets them up; the demo switches them on.
RISK_CHECKS = [
    {"kind": "phone_velocity", "count": 5, "hours": 24},
    {"kind": "ip_velocity", "count": 10, "hours": 1},
    {"kind": "vague_address", "min_street_length": 4},
    {"kind": "near_free_shipping", "threshold": "99.00", "margin": "1.00"},
    {"kind": "blacklist"},
    {"kind": "new_b2b"},
]


def add_permissions(apps, schema_editor):
    sync_roles(apps, labels=["fulfillment"])

    RiskRule = apps.get_model("fulfillment", "RiskRule")
    for row in RISK_CHECKS:
        RiskRule.objects.get_or_create(kind=row["kind"], defaults={**row, "enabled": False})


class Migration(migrations.Migration):
    dependencies = [
        ("fulfillment", "0001_initial"),
        ("orderhub", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
