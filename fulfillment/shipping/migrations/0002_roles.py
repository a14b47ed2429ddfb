"""Give the role groups the shipping permissions.

Adds only; it never removes what other apps' role migrations gave.
"""

from django.db import migrations

VIEW = ["view_waybill", "view_waybillattempt", "view_trackingevent", "view_carrieraccount",
        "view_carrierservice"]
SHIPPING_ROLE_PERMISSIONS = {
    # Pickers pack the parcel and stick the label on it.
    "picker": ["view_waybill", "download_label"],
    "ops": [*VIEW, "retry_waybill", "download_label"],
    "manager": [*VIEW, "retry_waybill", "download_label"],
    "finance": ["view_waybill", "view_carrieraccount"],
    "admin": ["*"],
}


def add_permissions(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("shipping")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label="shipping")
    for role, codenames in SHIPPING_ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = ours if codenames == ["*"] else ours.filter(codename__in=codenames)
        group.permissions.add(*wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("shipping", "0001_initial"),
        ("orderhub", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
