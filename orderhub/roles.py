"""Staff roles as Django groups, and what each may do.

The matrix is the single source for the data migration that creates the
groups and for the README's table. A later app that adds permissions extends
``ROLE_PERMISSIONS`` and adds a migration calling ``sync_roles`` again.
"""

VIEW_CORE = [
    "orderhub.view_order",
    "orderhub.view_orderline",
    "orderhub.view_customer",
    "orderhub.view_tag",
    "orderhub.view_ordertransitionlog",
    "orderhub.view_orderevent",
    "channels.view_channel",
    "warehouse.view_warehouse",
]

OPS = [
    *VIEW_CORE,
    "orderhub.change_order",
    "orderhub.add_orderevent",
    "orderhub.add_customer",
    "orderhub.change_customer",
    "orderhub.add_tag",
    "orderhub.allocate_order",
    "orderhub.review_order",
    "orderhub.hold_order",
    "orderhub.release_order",
    "orderhub.cancel_order",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "ops": OPS,
    "picker": [
        "orderhub.view_order",
        "orderhub.view_orderline",
        "warehouse.view_warehouse",
        "orderhub.pick_order",
    ],
    "manager": [
        *OPS,
        "orderhub.intercept_order",
        "orderhub.ship_order",
        "orderhub.pick_order",
        "orderhub.pay_order",
    ],
    "finance": [*VIEW_CORE],
    # Admins are also superusers in practice; the group gives every core permission
    # so an admin account without the superuser flag still works.
    "admin": ["*"],
}

ROLE_NAMES = list(ROLE_PERMISSIONS)


def sync_roles(apps) -> None:
    """Create or update the role groups so they hold the matrix's permissions.

    Order-core permissions a role is not given are removed; other apps'
    permissions are left alone, since each app grants its own in its migrations.
    ``apps`` is a migration's app registry (or ``django.apps.apps``).
    """
    from django.contrib.auth.management import create_permissions

    # Permissions normally appear after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    core_apps = ("orderhub", "channels", "warehouse", "fulfillment", "reporting")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        if perms == ["*"]:
            wanted = Permission.objects.filter(content_type__app_label__in=core_apps)
        else:
            wanted = []
            for perm in perms:
                app_label, codename = perm.split(".")
                wanted.append(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )
        stale = group.permissions.filter(content_type__app_label="orderhub").exclude(
            pk__in=[p.pk for p in wanted]
        )
        group.permissions.remove(*stale)
        group.permissions.add(*wanted)
