"""Give the role groups the warehouse permissions.

Adds only; it never removes what the core's role matrix (orderhub.roles) gave.
"""

from django.db import migrations

VIEW = [
    "view_sku", "view_barcode", "view_kitcomponent", "view_bin", "view_skulocation",
    "view_stocklevel", "view_stockmovement", "view_reservation", "view_picklist",
    "view_picktask", "view_pickproblem",
]
WAREHOUSE_ROLE_PERMISSIONS = {
    "picker": ["scan_pick", "view_sku", "view_bin", "add_pickproblem"],
    "ops": [*VIEW, "print_picklist", "add_pickproblem"],
    "manager": [*VIEW, "print_picklist", "add_pickproblem", "scan_pick", "adjust_stock",
                "view_warehouse_dashboard"],
    "finance": ["view_sku", "view_stocklevel", "view_stockmovement"],
    "admin": ["*"],
}


def add_permissions(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("warehouse")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label="warehouse")
    for role, codenames in WAREHOUSE_ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = ours if codenames == ["*"] else ours.filter(codename__in=codenames)
        group.permissions.add(*wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("warehouse", "0002_catalogue_stock_picking"),
        ("orderhub", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
