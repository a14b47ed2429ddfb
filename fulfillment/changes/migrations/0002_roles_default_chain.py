"""Approver groups, their permissions, and the default approval chain.

Adds only; it never removes what other migrations granted.

- ``sales_manager`` and ``warehouse_manager`` are created (get_or_create) with
  what they need to read an order and decide a step.
- ``manager`` may approve either manager step (a small team often has one
  manager for both); the chain's "different person for each step" rule keeps
  one manager from approving both steps of the same request.
- ``picker`` gets nothing here: a picker can never approve.
"""

from django.db import migrations

VIEW_ORDER = [
    "orderhub.view_order", "orderhub.view_orderline", "orderhub.view_customer",
    "orderhub.view_ordertransitionlog", "orderhub.view_orderevent",
    "channels.view_channel", "warehouse.view_warehouse",
]
VIEW_CHANGES = ["changes.view_changerequest", "changes.view_approvaldecision",
                "changes.view_approvalchain", "changes.view_approvalstep"]
APPROVE = ["changes.approve_changerequest"]

ROLE_PERMISSIONS = {
    "ops": [*VIEW_CHANGES, "changes.add_changerequest"],
    "manager": [*VIEW_CHANGES, *APPROVE, "changes.add_changerequest",
                "changes.change_changerequest"],
    "finance": [*VIEW_CHANGES, *APPROVE],
    "sales_manager": [*VIEW_ORDER, *VIEW_CHANGES, *APPROVE],
    "warehouse_manager": [*VIEW_ORDER, *VIEW_CHANGES, *APPROVE, "warehouse.view_picklist",
                          "warehouse.view_picktask", "warehouse.view_reservation",
                          "warehouse.view_sku"],
    "admin": ["changes.*"],
}

DEFAULT_CHAIN = [
    ("Sales manager", ["sales_manager", "manager"]),
    ("Warehouse manager", ["warehouse_manager", "manager"]),
    ("Finance", ["finance"]),
]


def forwards(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for label in ("orderhub", "channels", "warehouse", "changes"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            found = Permission.objects.filter(content_type__app_label=app_label)
            if codename != "*":
                found = found.filter(codename=codename)
            wanted.extend(found)
        group.permissions.add(*wanted)

    ApprovalChain = apps.get_model("changes", "ApprovalChain")
    ApprovalStep = apps.get_model("changes", "ApprovalStep")
    if ApprovalChain.objects.exists():
        return
    chain = ApprovalChain.objects.create(name="Default: sales → warehouse → finance",
                                         applies_to="any", position=100)
    for position, (name, groups) in enumerate(DEFAULT_CHAIN, start=1):
        step = ApprovalStep.objects.create(chain=chain, position=position, name=name)
        step.groups.add(*Group.objects.filter(name__in=groups))


class Migration(migrations.Migration):
    dependencies = [
        ("changes", "0001_initial"),
        ("orderhub", "0002_roles"),
        ("warehouse", "0003_roles"),
        ("channels", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
