"""The sandbox carriers run the real adapters end to end; the waybills page and order panel."""

import datetime as dt

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from fulfillment.shipping import services
from fulfillment.shipping.carriers import CarrierRefused, get_adapter
from fulfillment.shipping.models import CarrierAccount, Waybill
from orderhub.models import Order


def wsgi_client():
    return httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler()),
                        timeout=httpx.Timeout(10.0, connect=5.0))


@pytest.fixture
def keep_db_connection():
    """Like Django's test client: a request through WSGIHandler must not close the test DB."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def sandbox_accounts(db, settings, keep_db_connection):
    settings.SANDBOX_ENABLED = True
    from fulfillment.shipping import demo

    settings.SITE_URL = "http://testserver"
    import os

    os.environ["ORDERHUB_SANDBOX_URL"] = "http://testserver"
    try:
        demo.seed(type("Out", (), {"write": lambda self, s: None})())
        demo.seed(type("Out", (), {"write": lambda self, s: None})())  # idempotent
    finally:
        del os.environ["ORDERHUB_SANDBOX_URL"]
    assert CarrierAccount.objects.count() == 5
    return {a.code: a for a in CarrierAccount.objects.all()}


@pytest.mark.parametrize("code", ["sf-demo", "zto-kuaidi100", "yto-kuaidi100", "sf-kuaidi100"])
def test_demo_accounts_book_and_track_through_the_sandbox(sandbox_accounts, make_order, code,
                                                          settings, tmp_path,
                                                          django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    start = dt.datetime(2026, 11, 20, 2, 0, 7, tzinfo=dt.UTC)
    with freeze_time(start):
        order = make_order("picked", carrier=code, ship_phone="13912345678")
        waybill = Waybill.objects.get(order=order)
        account = sandbox_accounts[code]
        with django_capture_on_commit_callbacks(execute=True):
            outcome = services.waybill_book(
                waybill_id=waybill.pk, adapter=get_adapter(account, client=wsgi_client()))
        assert outcome == "booked"
    order = Order.objects.get(pk=order.pk)
    assert order.status == "shipped" and len(order.tracking_number) >= 12

    with freeze_time(start + dt.timedelta(hours=26)):
        new = services.tracking_poll(waybill_id=waybill.pk,
                                     adapter=get_adapter(account, client=wsgi_client()))
    waybill.refresh_from_db()
    if waybill.events.filter(milestone="delivered").exists():
        assert new == 5 and Order.objects.get(pk=order.pk).status == "delivered"
    else:  # the sandbox's "stalled" parcels stop after leaving the hub
        assert new == 2 and waybill.milestone == "in_transit"
    assert waybill.first_event_at == start.replace(second=0) + dt.timedelta(minutes=20)


def test_the_sandbox_checks_signatures(sandbox_accounts):
    account = sandbox_accounts["sf-demo"]
    account.credentials = {"partner_id": "SANDBOX_SF", "check_word": "wrong"}
    with pytest.raises(CarrierRefused, match="A1006"):
        get_adapter(account, client=wsgi_client()).track(tracking_number="SF1")


def test_the_sandbox_is_off_unless_enabled(client, settings, db):
    settings.SANDBOX_ENABLED = False
    assert client.post("/sandbox/carriers/sf/std/service").status_code == 404


def test_waybills_page_filters_and_permissions(picked, client, make_user):
    order, waybill = picked()
    other, failed = picked()
    Waybill.objects.filter(pk=failed.pk).update(status="failed", last_error="地址不详")
    assert client.get("/shipping/").status_code == 302
    # Pickers print labels at the pack bench; the waybill list is not theirs.
    client.force_login(make_user("picker"))
    assert client.get("/shipping/").status_code == 403
    client.force_login(make_user("ops"))
    page = client.get("/shipping/").content.decode()
    assert order.number in page and other.number in page
    client.force_login(make_user("ops"))
    page = client.get("/shipping/?status=failures").content.decode()
    assert other.number in page and order.number not in page and "地址不详" in page
    assert "Retry" in page
    page = client.get("/shipping/", {"q": order.number}).content.decode()
    assert order.number in page and other.number not in page


def test_order_panel_is_hidden_without_permission_and_has_no_n_plus_1(picked, client,
                                                                      make_user):
    from fulfillment.shipping.carriers import TrackEvent
    from fulfillment.shipping.templatetags.shipping_ui import order_panel_data

    order, waybill = picked()
    Waybill.objects.filter(pk=waybill.pk).update(status="booked", tracking_number="SF1")
    for i in range(5):
        services.tracking_record(waybill=waybill, events=[TrackEvent(
            occurred_at=dt.datetime(2026, 11, 20, i, tzinfo=dt.UTC), description=f"e{i}")])
    user = make_user("ops")
    with CaptureQueriesContext(connection) as queries:
        data = order_panel_data(order=order, user=user)
        rendered = [(list(w.attempt_rows.all()), list(w.events.all()))
                    for w in data["waybills"]]
    assert len(rendered[0][1]) == 5
    permission_queries = [q for q in queries if "auth_" in q["sql"]]
    assert len(queries) - len(permission_queries) == 4

    client.force_login(make_user("ops"))
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert 'id="shipping-panel"' in page and "e4" in page
    # A user without shipping.view_waybill gets no panel at all.
    nobody = make_user(None)
    nobody.user_permissions.add(*__import__("django.contrib.auth.models", fromlist=["x"])
                                .Permission.objects.filter(codename="view_order"))
    assert order_panel_data(order=order, user=nobody) is None
    client.force_login(nobody)
    page = client.get(f"/orders/{order.pk}/")
    assert page.status_code == 200 and b'id="shipping-panel"' not in page.content
