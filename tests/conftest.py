"""Shared fixtures: channels, warehouses, users per role, and orders in any state.

Orders are built through the real services, so their logs and versions are
the ones production would write.
"""

import importlib
import itertools
import os
import shutil
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings as settings_module
from django.contrib.auth.models import Group, User
from django.db import connection

from orderhub.models import OrderStatus
from orderhub.services.orders import order_create, order_transition

S = OrderStatus

# The transitions (as system:test) that bring a new order to each state.
PATH_TO = {
    S.PENDING_PAYMENT: [],
    S.PAID: ["pay"],
    S.REVIEW: ["pay", "hold_review"],
    S.OUT_OF_STOCK: ["pay", "mark_out_of_stock"],
    S.READY_TO_PICK: ["pay", "mark_ready"],
    S.PICKING: ["pay", "mark_ready", "claim"],
    S.PICKED: ["pay", "mark_ready", "claim", "finish"],
    S.SHIPPED: ["pay", "mark_ready", "claim", "finish", "ship"],
    S.DELIVERED: ["pay", "mark_ready", "claim", "finish", "ship", "deliver"],
    S.COMPLETED: ["pay", "mark_ready", "claim", "finish", "ship", "deliver", "complete"],
    S.CANCELLED: ["cancel"],
    S.ON_HOLD: ["pay", "hold"],
}

_seq = itertools.count(1)
# Every test user's password (make_user), for logging in through the pages.
PASSWORD = "pw-Secret-123"

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Debian's chromium, headless as root, with nothing that reaches for the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL)"
)


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in the default language: a Chinese request must not leak into the next."""
    from django.utils import translation

    translation.activate(settings_module.LANGUAGE_CODE)
    yield
    translation.activate(settings_module.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def isolated_cache(settings):
    """Each test gets an empty in-process cache: cached counts must not leak between tests."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "orderhub-tests",
        }
    }
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def browser():
    """Headless Debian chromium driven by Playwright (its own browsers cannot be downloaded).

    Pages run under the Content-Security-Policy (no eval): give ``wait_for_function`` a
    function, ``"() => ..."``; a bare expression string is eval'd in the page and refused.
    """
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("chromium is not on PATH")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def channel(db):
    from channels.models import Channel

    return Channel.objects.create(code="shop", name="Test shop", platform="manual")


@pytest.fixture
def warehouse(db):
    from warehouse.models import Warehouse

    return Warehouse.objects.create(code="sh", name="Shanghai DC")


@pytest.fixture
def make_user(db):
    def make(role: str | None = None, username: str | None = None, **extra) -> User:
        username = username or f"{role or 'user'}{next(_seq)}"
        user = User.objects.create_user(username=username, password=PASSWORD, **extra)
        if role:
            user.groups.add(Group.objects.get(name=role))
        # A fresh instance: permission caches are per object.
        return User.objects.get(pk=user.pk)

    return make


@pytest.fixture
def make_order(db, channel):
    def make(status: str = S.PENDING_PAYMENT, *, lines=None, tags=(), **fields):
        n = next(_seq)
        fields.setdefault("external_id", f"EXT{n:06d}")
        fields.setdefault("buyer_name", "张三")
        fields.setdefault("buyer_phone", "13800138000")
        fields.setdefault("ship_province", "上海市")
        fields.setdefault("ship_city", "上海市")
        fields.setdefault("ship_district", "浦东新区")
        fields.setdefault("ship_street", "世纪大道100号")
        lines = lines or [
            {"sku_code": "SKU-1", "name": "保温杯", "quantity": 2, "unit_price": "59.00"},
            {"sku_code": "GIFT-1", "name": "杯套", "quantity": 1, "unit_price": "0",
             "is_gift": True},
        ]
        order = order_create(
            channel=fields.pop("channel", channel), actor="system:test", lines=lines, tags=tags,
            **fields,
        )
        for name in PATH_TO[status]:
            reason = "test" if name in ("hold", "cancel", "hold_review") else ""
            order = order_transition(order=order.pk, name=name, actor="system:test", reason=reason)
        assert order.status == status
        return order

    return make


def browser_login(browser, live_server, user):
    """A new desktop-sized English page, logged in as ``user`` (made by ``make_user``)."""
    page = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{live_server.url}/orders/")
    return page


def pytest_configure(config):
    # WhiteNoise warns on every request when STATIC_ROOT is missing (no collectstatic
    # in tests); an empty folder under var/ keeps real warnings visible.
    Path(settings_module.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


def pytest_collection_modifyitems(config, items):
    """A transactional test must restore the migrated data it flushes (role groups,
    default templates): without serialized_rollback the next tests lose them."""
    bad = []
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and not marker.kwargs.get(
                "serialized_rollback"):
            bad.append(item.nodeid)
    if bad:
        raise pytest.UsageError(
            "transaction=True needs serialized_rollback=True: " + ", ".join(bad))


@pytest.fixture
def fresh_settings():
    """``orderhub.settings`` read again under a patched environment (a module copy)."""
    def load(env):
        with mock.patch.dict(os.environ, {**env, "DEBUG": "1"}):
            saved = sys.modules.pop("orderhub.settings")
            try:
                return importlib.import_module("orderhub.settings")
            finally:
                sys.modules["orderhub.settings"] = saved
    return load
