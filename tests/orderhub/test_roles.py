"""The role table in orderhub/roles.py is what the groups hold after migrating: no more, no less."""

import pytest
from django.contrib.auth.models import Group, Permission

from orderhub.roles import APP_LABELS, ROLE_PERMISSIONS, sync_roles


def _held(group: Group) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")}


def _expected(role: str) -> set[str]:
    perms = ROLE_PERMISSIONS[role]
    if perms == ["*"]:
        return {f"{p.content_type.app_label}.{p.codename}" for p in
                Permission.objects.filter(content_type__app_label__in=APP_LABELS)
                .select_related("content_type")}
    return set(perms)


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(ROLE_PERMISSIONS))
def test_groups_hold_exactly_the_table_after_migrating(role):
    assert _held(Group.objects.get(name=role)) == _expected(role)


@pytest.mark.django_db
def test_every_permission_the_table_names_exists():
    existing = {f"{p.content_type.app_label}.{p.codename}"
                for p in Permission.objects.select_related("content_type")}
    named = {p for perms in ROLE_PERMISSIONS.values() if perms != ["*"] for p in perms}
    assert named - existing == set()


@pytest.mark.django_db
def test_sync_roles_restores_the_table_and_is_idempotent():
    ops = Group.objects.get(name="ops")
    intercept = Permission.objects.get(content_type__app_label="orderhub",
                                       codename="intercept_order")
    ops.permissions.add(intercept)  # a grant the table does not give
    ops.permissions.remove(Permission.objects.get(codename="view_waybill"))
    Group.objects.get(name="picker").delete()

    sync_roles()
    sync_roles()

    for role in ROLE_PERMISSIONS:
        assert _held(Group.objects.get(name=role)) == _expected(role)


@pytest.mark.django_db
def test_sync_for_one_app_leaves_the_others_alone():
    ops = Group.objects.get(name="ops")
    intercept = Permission.objects.get(content_type__app_label="orderhub",
                                       codename="intercept_order")
    ops.permissions.add(intercept)

    sync_roles(labels=["warehouse"])
    assert "orderhub.intercept_order" in _held(ops)

    sync_roles(labels=["orderhub"])
    assert "orderhub.intercept_order" not in _held(ops)
