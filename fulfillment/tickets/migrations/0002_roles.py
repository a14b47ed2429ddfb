"""Give the role groups the ticket permissions.

ops and manager work tickets (all permissions); finance may read them; pickers
get none (their problems reach ops as tickets through the scanning screen).
Adds only.
"""

from django.db import migrations

ALL = ["view_ticket", "add_ticket", "change_ticket", "delete_ticket", "view_ticketevent",
       "add_ticketevent"]
TICKETS_ROLE_PERMISSIONS = {
    "ops": ALL,
    "manager": ALL,
    "finance": ["view_ticket", "view_ticketevent"],
    "picker": [],
    "admin": ["*"],
}


def add_permissions(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("tickets")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label="tickets")
    for role, codenames in TICKETS_ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = ours if codenames == ["*"] else ours.filter(codename__in=codenames)
        group.permissions.add(*wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0001_initial"),
        ("orderhub", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
