"""Give the role groups the channel permissions (ops: look and replay; manager: also act)."""

from django.db import migrations

CHANNEL_PERMISSIONS = {
    "ops": [
        "view_channel", "view_rawpayload", "view_skumapping", "view_shipmentpush",
        "view_shipmentpushattempt", "view_gapalert", "replay_payload",
    ],
    "manager": [
        "view_channel", "view_rawpayload", "view_skumapping", "view_shipmentpush",
        "view_shipmentpushattempt", "view_gapalert", "replay_payload",
        "poll_channel", "pause_channel", "add_skumapping", "change_skumapping",
    ],
    "finance": ["view_channel", "view_shipmentpush", "view_gapalert"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("channels")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    channel_perms = Permission.objects.filter(content_type__app_label="channels")
    for role, codenames in CHANNEL_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*channel_perms.filter(codename__in=codenames))
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(*channel_perms)


class Migration(migrations.Migration):
    dependencies = [
        ("channels", "0002_channel_sync"),
        ("orderhub", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
