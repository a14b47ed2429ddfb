"""Give the role groups the pack-verify permissions (adds only, like 0003_roles)."""

from django.db import migrations

PACK_ROLE_PERMISSIONS = {
    "picker": ["pack_verify"],
    "ops": ["pack_verify", "view_packcheck", "view_packscan"],
    "manager": ["pack_verify", "view_packcheck", "view_packscan"],
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
    for role, codenames in PACK_ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = ours if codenames == ["*"] else ours.filter(codename__in=codenames)
        group.permissions.add(*wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("warehouse", "0004_pack_verify"),
        ("warehouse", "0003_roles"),
    ]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
