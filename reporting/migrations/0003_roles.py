"""Give the role groups the reporting permissions.

Managers see the dashboard and export everything; finance reconciles and
exports; ops export the order list. Adds only, never removes.
"""

from django.db import migrations

REPORTING_ROLE_PERMISSIONS = {
    "ops": ["export_orders"],
    "manager": ["view_dashboard", "export_orders", "export_reports", "view_kpithreshold",
                "change_kpithreshold", "change_spikerule", "change_spikealert",
                "view_spikealert", "view_spikerule", "view_exportjob"],
    "finance": ["view_dashboard", "export_orders", "export_reports", "reconcile",
                "view_reconciliationrun", "view_reconciliationdifference", "view_exportjob"],
    "admin": ["*"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("reporting")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label="reporting")
    for role, codenames in REPORTING_ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = ours if codenames == ["*"] else ours.filter(codename__in=codenames)
        group.permissions.add(*wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0002_seed_defaults"),
        ("orderhub", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
