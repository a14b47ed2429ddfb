"""Every URL pattern x every role answers as ``orderhub/access.py`` documents.

Walks the root URLconf (admin included), fills each path argument with an object
made here (or an id that does not exist where making the object would need a
whole flow: the guard answers before the view looks the object up), and sends
each role's request: a refused role must get a 403, an anonymous visitor the
login redirect, a let-through role anything but those (and no server error).
A pattern missing from the table fails. The README's pages table must be the
one generated from the same table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern

from orderhub.access import (
    ADMIN_SITE,
    BUYER_DATA,
    FULL,
    PUBLIC,
    ROLES,
    SCAN_ONLY,
    access_for,
    readme_buyer_data_table,
    readme_pages_table,
)
from orderhub.roles import role_permissions

ROOT = Path(__file__).resolve().parents[2]
MISSING_ID = "999999"


def walk(resolver=None, prefix=(), namespace=None):
    """(pattern pieces from the root, full URL name or None) of every endpoint."""
    resolver = resolver or get_resolver()
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
            yield from walk(p, (*prefix, p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = p.name and (f"{namespace}:{p.name}" if namespace else p.name)
            yield (*prefix, p.pattern), name


def route_of(pieces) -> str:
    return "".join(str(piece) for piece in pieces)


def url_of(pieces, values: dict[str, str]) -> str:
    parts = []
    for piece in pieces:
        text = str(piece)
        if isinstance(piece, RegexPattern):
            # The admin's app index and catch-all: a real app label, any path.
            text = text.lstrip("^").rstrip("$")
            text = re.sub(r"\(\?P<app_label>[^)]*\)", "orderhub", text)
            text = re.sub(r"\(\?P<url>[^)]*\)", "no-such-page/", text)
            text = text.replace("\\", "")
        else:
            text = re.sub(r"<(?:(\w+):)?(\w+)>",
                          lambda m: values.get(m.group(2), MISSING_ID if m.group(1) in (
                                              "int", "path") else "x"), text)
        parts.append(text)
    return "/" + "".join(parts)


PATTERNS = list(walk())


def test_every_url_pattern_is_in_the_access_table():
    missing = [route_of(pieces) for pieces, name in PATTERNS
               if access_for(name, route_of(pieces)) is None]
    assert missing == []


def test_the_walk_covers_the_project():
    """The walk is not vacuous: pages of every area are in it."""
    names = {name for _, name in PATTERNS}
    for name in ("orders:detail", "scan", "channels:health", "tickets:queue", "admin:index",
                 "shipping:track", "reporting-reconciliation"):
        assert name in names


def test_readme_pages_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## What is in the hub\n\n", 1)[1]
    table = section.split("\n\n", 1)[0] + "\n"
    assert table == readme_pages_table()


def test_readme_buyer_data_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| role | buyer contact data |")
    table = readme[start:].split("\n\n", 1)[0] + "\n"
    assert table == readme_buyer_data_table()


@pytest.mark.parametrize("role", ROLES)
def test_buyer_data_matches_the_role_table_and_the_order_pages(role):
    """A FULL role holds view_buyer_contact, no other does; a SCAN_ONLY role reaches
    no order page. (What each role's pages show: tests/orderhub/test_buyer_contact.py.)"""
    perms = role_permissions(role)
    holds = perms is None or "orderhub.view_buyer_contact" in perms
    assert holds is (BUYER_DATA[role] == FULL)
    reaches_orders = role in access_for("orders:detail", "orders/<int:order_id>/").roles
    assert reaches_orders is (BUYER_DATA[role] != SCAN_ONLY)


@pytest.fixture
def values(make_order):
    from channels.models import Channel

    # An API channel: the channel pages' actions act on its connector.
    shop = Channel.objects.create(code="lotus", name="Lotus", platform="shopify")
    order = make_order("paid", channel=shop)
    return {"order_id": str(order.pk), "channel_id": str(shop.pk),
            "channel_code": shop.code, "fmt": "csv"}


def _answer(response) -> str:
    location = response.get("Location", "") or response.get("HX-Redirect", "")
    # The guard's redirect carries ``next`` (logout's own redirect to /login/ does not).
    if response.status_code == 302 and "login/" in location and "next=" in location:
        return "login"
    if response.status_code == 403:
        return "403"
    return "through"


@pytest.mark.parametrize("role", ["anonymous", *ROLES])
def test_every_url_answers_each_role_as_documented(role, client, make_user, values):
    if role != "anonymous":
        user = make_user(role)
        if role == "admin":
            # Admin accounts are superusers (README: Roles and permissions).
            User.objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
    wrong = []
    for pieces, name in PATTERNS:
        if role != "anonymous":
            client.force_login(user)  # /logout/ is in the walk
        access = access_for(name, route_of(pieces))
        url = url_of(pieces, values)
        send = client.post if access.method == "POST" else client.get
        try:
            response = send(url)
        except Exception as exc:  # a crash is a wrong answer too; collect them all
            wrong.append((url, f"raised {type(exc).__name__}: {exc}"))
            continue
        got = _answer(response)
        if access.roles == PUBLIC:
            # Public: never the login; a sandbox may refuse an unsigned call itself.
            expected = "403" if got == "403" else "through"
        elif role == "anonymous":
            expected = "login"
        elif role in access.roles:
            expected = "through"
            if access is ADMIN_SITE and got == "403":
                # Inside the admin site, read-only models refuse add/delete even
                # to superusers (the ModelAdmin's own rule), as does a bare
                # autocomplete call: refused by the admin, not by the role.
                expected = got
        elif route_of(pieces).startswith("admin/"):
            expected = "login"  # the admin site sends non-staff accounts to its login
            if response.status_code == 302 and response["Location"].startswith("/admin/"):
                expected = got  # the old object URL redirects to its change page first
        else:
            expected = "403"
        if got != expected or response.status_code >= 500:
            wrong.append((url, f"{access.method} expected {expected}, "
                               f"got {response.status_code} ({got})"))
    assert not wrong, f"{role}:\n" + "\n".join(f"{url} {why}" for url, why in wrong)
