"""Let ops, managers and finance look up archived legacy orders by buyer phone."""

from django.db import migrations

ROLES = ["ops", "manager", "finance"]


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("channels")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.get(content_type__app_label="channels", codename="view_legacyorder")
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(view)
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(*Permission.objects.filter(
        content_type__app_label="channels", codename__endswith="_legacyorder"))


class Migration(migrations.Migration):
    dependencies = [
        ("channels", "0004_legacyorder"),
        ("channels", "0003_channel_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
