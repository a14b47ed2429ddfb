"""Give the role groups the notification permissions.

Full phone numbers of recipients: managers and admins only. Adds only.
"""

from django.db import migrations

VIEW = ["view_message", "view_messageattempt", "view_messagetemplate", "view_alertroute",
        "view_warehousecontact"]
NOTIFICATIONS_ROLE_PERMISSIONS = {
    "ops": [*VIEW, "resend_message"],
    "manager": [*VIEW, "resend_message", "view_full_recipient", "view_gateway",
                "change_messagetemplate", "change_alertroute", "add_alertroute",
                "change_warehousecontact", "add_warehousecontact"],
    "finance": [],
    "picker": [],
    "admin": ["*"],
}


def add_permissions(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("notifications")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label="notifications")
    for role, codenames in NOTIFICATIONS_ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = ours if codenames == ["*"] else ours.filter(codename__in=codenames)
        group.permissions.add(*wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_default_templates"),
        ("orderhub", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
