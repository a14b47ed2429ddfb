"""The Chinese UI has no English: system texts are translated when displayed.

Ticket titles, waybill errors, transition reasons, order events and seeded carrier
names are stored in English (the site language) by background code; a viewer in
zh-hans reads them in Chinese (``orderhub.stored_text``), and an English viewer
reads them as stored.
"""

import re
from html.parser import HTMLParser

import pytest
from django.utils import timezone, translation

from fulfillment.shipping.models import CarrierAccount, Waybill
from fulfillment.tickets.models import Ticket
from fulfillment.tickets.services import ticket_open
from orderhub.models import OrderStatus
from orderhub.services.events import order_event_record
from orderhub.services.orders import order_transition
from orderhub.stored_text import _compiled, translate_stored

S = OrderStatus

# English UI words and phrases that must not show on a Chinese page.
ENGLISH = ["Ticket", "Tickets", "Stalled parcel", "Parcel stalled", "Waybill", "Pick problem",
           "Picking problem", "paid on the platform", "Other carrier", "Not booked",
           "Out of stock", "Intercept", "booked with", "typed in", "Carrier", "Order"]
PAGES = ["/orders/", "/tickets/", "/shipping/", "/dashboard/", "/channels/", "/review/",
         "/scan/"]


class _Visible(HTMLParser):
    """The text a person reads: no tags, scripts, styles or attribute values."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_in(text: str) -> list[str]:
    return [w for w in ENGLISH if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]


@pytest.fixture
def scene(db, make_order, make_user, channel):
    """An order with system events on its timeline, system tickets, a failed waybill."""
    with translation.override("en"):
        order = make_order(S.PENDING_PAYMENT, external_id="EXT-ZH-1")
        order = order_transition(order=order.pk, name="pay", actor="system:ingest",
                                 reason="paid on the platform")
        manual = CarrierAccount.objects.create(
            code="manual", name="Other carrier (tracking number typed in)", kind="manual")
        Waybill.objects.create(order=order, account=manual, status=Waybill.Status.FAILED,
                               last_error=f"Not booked: the order is {S.CANCELLED.label}.")
        # A stalled parcel with the manual carrier: the dashboard lists it per carrier.
        stalled = make_order(S.PAID, external_id="EXT-ZH-2")
        Waybill.objects.create(order=stalled, account=manual, status=Waybill.Status.BOOKED,
                               tracking_number="SF200", booked_at=timezone.now(),
                               stalled_at=timezone.now())
        order_event_record(order=order, kind="waybill_booked", actor="system:shipping",
                           message="Waybill SF100 booked with Other carrier (tracking number "
                                   "typed in).")
        ticket_open(kind=Ticket.Kind.STALLED_PARCEL, actor="system:notifications",
                    title=f"Parcel stalled: {order.number} (SF100)", order=order)
        ticket_open(kind=Ticket.Kind.PICKING_PROBLEM, actor="system:notifications",
                    title=f"Picking problem on {order.number}: Damaged", order=order)
        ticket_open(kind=Ticket.Kind.INTERCEPT, actor="system:notifications",
                    title=f"Intercept order {order.number}", order=order)
    return order


def test_stored_english_texts_read_in_chinese_and_stay_english_for_english_viewers(scene):
    number = scene.number
    with translation.override("zh-hans"):
        assert translate_stored("paid on the platform") != "paid on the platform"
        stalled = translate_stored(f"Parcel stalled: {number} (SF100)")
        assert number in stalled and "SF100" in stalled and not english_in(stalled)
        error = translate_stored("Not booked: the order is Cancelled.")
        assert error == "未出单：订单状态为已取消。" or not english_in(error), error
        assert "Cancelled" not in error
        assert not english_in(str(CarrierAccount.objects.get(code="manual")))
        # A seller's own text is shown as typed.
        assert translate_stored("顺丰 SF Express") == "顺丰 SF Express"
        assert translate_stored("Parcel stalled for ever") == "Parcel stalled for ever"
        # Nested: a paused channel's ticket description holds the pause reason.
        nested = translate_stored("3 polls in a row failed. Last error: HTTP 502 — sync "
                                  "problems: https://hub.example/channels/1/problems/")
        assert "HTTP 502" in nested and "https://hub.example/channels/1/problems/" in nested
        assert "polls in a row" not in nested and "sync problems" not in nested, nested
    with translation.override("en"):
        assert translate_stored(f"Parcel stalled: {number} (SF100)") == (
            f"Parcel stalled: {number} (SF100)")


def test_every_declared_system_text_has_a_chinese_translation_keeping_its_placeholders():
    with translation.override("zh-hans"):
        missing = [msgid for _pattern, msgid in _compiled()
                   if translation.gettext(msgid) == msgid]
    assert missing == []


@pytest.mark.parametrize("path", PAGES)
def test_main_pages_in_chinese_show_no_english_ui_words(client, make_user, scene, path):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans", follow=True)
    assert response.status_code == 200
    text = visible_text(response.content.decode())
    assert english_in(text) == [], text[:3000]


def test_order_page_timeline_and_panels_in_chinese(client, make_user, scene):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    html = client.get(f"/orders/{scene.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    text = visible_text(html)
    assert scene.number in text
    assert english_in(text) == [], text[:4000]
    # The same page in English shows the stored texts (the test can see them).
    english = visible_text(client.get(f"/orders/{scene.pk}/",
                                      HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert "paid on the platform" in english


@pytest.mark.parametrize(("path", "stored"), [("/tickets/", "Parcel stalled"),
                                               ("/shipping/", "Other carrier"),
                                               ("/dashboard/", "Other carrier")])
def test_the_scene_is_on_the_pages_so_the_chinese_check_can_fail(client, make_user, scene,
                                                                 path, stored):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    english = client.get(path, HTTP_ACCEPT_LANGUAGE="en", follow=True).content.decode()
    assert stored in visible_text(english)
