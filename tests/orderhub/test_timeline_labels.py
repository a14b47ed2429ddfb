"""Every kind of order event the timeline shows has a label in English and Chinese."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from orderhub.events import declared_event_kinds, event_kind_label
from orderhub.models import OrderEvent

ROOT = Path(settings.BASE_DIR)
APPS = ("orderhub", "channels", "warehouse", "fulfillment", "reporting")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _source_files():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def _written_kinds() -> dict[str, str]:
    """Kinds passed as literals where order events are written: kind → file."""
    kinds = {}
    for path in _source_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
            values = []
            if (name == "create" and receiver == "OrderEvent.objects"
                    or name == "order_event_record"):  # the one write path (issue 13)
                values = [kw.value for kw in node.keywords if kw.arg == "kind"]
            elif name == "_event" and len(node.args) >= 2:
                # fulfillment.changes writes its events through ``_event(order, kind, ...)``.
                values = [node.args[1]]
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    kinds[value.value] = str(path.relative_to(ROOT))
                elif isinstance(value, ast.Attribute) and ast.unparse(value).startswith(
                        "OrderEvent.Kind."):
                    kinds[OrderEvent.Kind[value.attr].value] = str(path.relative_to(ROOT))
    return kinds


def test_every_kind_the_apps_write_is_declared():
    written = _written_kinds()
    # the scan finds the apps' events, not only the core's
    assert {"change_applied", "waybill_booked", "pick_problem", "shipment_pushed"} <= set(written)
    undeclared = {k: f for k, f in written.items() if k not in declared_event_kinds()}
    assert undeclared == {}


def test_every_declared_kind_reads_in_english_and_chinese():
    kinds = declared_event_kinds()
    assert len(kinds) >= 20
    with translation.override("en"):
        english = {k: event_kind_label(k) for k in kinds}
    with translation.override("zh-hans"):
        chinese = {k: event_kind_label(k) for k in kinds}
    assert [k for k, label in english.items() if "_" in label or not label] == []
    assert [k for k, label in chinese.items() if not CJK.search(label)] == []


def test_the_timeline_code_does_not_import_the_other_apps():
    pattern = re.compile(r"^\s*(from|import)\s+(channels|warehouse|fulfillment|reporting)\b",
                         re.M)
    timeline = ["events.py", "order_events.py", "selectors.py", "apps.py", "views/orders.py",
                "templatetags/orderhub_ui.py"]
    offenders = [name for name in timeline
                 if pattern.search((ROOT / "orderhub" / name).read_text())]
    assert offenders == []


@pytest.mark.django_db
def test_order_page_shows_other_apps_events_translated(client, make_user, make_order):
    # given: an order with events written by change requests and shipping, and a lines edit
    from orderhub.services.orders import order_update

    order = make_order("paid")
    user = make_user("ops")
    order_update(order=order.pk, actor=user, changes={"ship_street": "世纪大道300号"},
                 lines=[{"sku_code": "SKU-1", "name": "保温杯", "quantity": 3,
                         "unit_price": "59.00"}], reason="buyer called")
    for kind in ("change_applied", "waybill_booked"):
        OrderEvent.objects.create(order=order, kind=kind, actor="system:test", message="m")
    client.force_login(user)

    # when
    zh = client.get(f"/orders/{order.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    en = client.get(f"/orders/{order.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # then: the page renders the edit of fields and lines as one event (it used to fail
    # on the lines row) and shows labels, never the raw kind
    assert "Order lines: " in en and "世纪大道300号" in en
    assert "变更已应用" in zh and "运单已下单" in zh
    assert "Change applied" in en and "Waybill booked" in en
    for page in (zh, en):
        assert "change_applied" not in page and "change applied" not in page
        assert "waybill booked" not in page
