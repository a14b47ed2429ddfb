"""Give the role groups the fulfillment permissions, and seed the risk checks.

Adds only; it never removes what other migrations gave. Credit holds are
finance's: only they (and admins) get ``review_credit``.
"""

from django.db import migrations

VIEW = ["view_rule", "view_condition", "view_shadowresult", "view_riskrule", "view_blacklist",
        "view_orderdecision", "view_reviewaction"]
EDIT_RULES = ["add_rule", "change_rule", "delete_rule", "add_condition", "change_condition",
              "delete_condition", "change_riskrule", "add_blacklist", "change_blacklist",
              "delete_blacklist"]
FULFILLMENT_ROLE_PERMISSIONS = {
    "picker": [],
    "ops": [*VIEW, "add_blacklist", "change_blacklist"],
    "manager": [*VIEW, *EDIT_RULES],
    "finance": ["view_orderdecision", "view_reviewaction", "review_credit"],
    "admin": ["*"],
}

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
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("fulfillment")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label="fulfillment")
    for role, codenames in FULFILLMENT_ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = ours if codenames == ["*"] else ours.filter(codename__in=codenames)
        group.permissions.add(*wanted)

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
