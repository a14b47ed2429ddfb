"""Approver groups, their permissions, and the default approval chain.

The grants come from the one role table, ``orderhub.roles`` (``sync_roles``).

- ``sales_manager`` and ``warehouse_manager`` are created (get_or_create) with
  what they need to read an order and decide a step.
- ``manager`` may approve either manager step (a small team often has one
  manager for both); the chain's "different person for each step" rule keeps
  one manager from approving both steps of the same request.
- ``picker`` gets nothing here: a picker can never approve.
"""

from django.db import migrations

from orderhub.roles import sync_roles

DEFAULT_CHAIN = [
    ("Sales manager", ["sales_manager", "manager"]),
    ("Warehouse manager", ["warehouse_manager", "manager"]),
    ("Finance", ["finance"]),
]


def forwards(apps, schema_editor):
    # The approver groups and every role's grants come from the one role table.
    sync_roles(apps, labels=["orderhub", "channels", "warehouse", "changes"])
    Group = apps.get_model("auth", "Group")

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
