"""A write-back error whose body is an HTML page shows as a short line of text."""

import pytest

from channels.models import ShipmentPush, ShipmentPushAttempt
from channels.templatetags.channels_ui import error_text
from orderhub.models import OrderStatus

# What a Shopify edge/proxy answers on an outage: a whole HTML page, not JSON.
BAD_GATEWAY = (
    "Shopify: HTTP 502: <!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>502 Bad Gateway &amp; retry</title><style>body{color:red}</style>"
    "<script>var x = '<b>';</script></head><body><h1>Bad Gateway</h1>"
    "<p>There was a problem loading this website.</p></body></html>"
)


def test_an_html_page_becomes_its_title():
    assert error_text(BAD_GATEWAY) == "Shopify: HTTP 502: 502 Bad Gateway & retry"


def test_without_a_title_the_text_is_kept_without_tags_scripts_or_styles():
    body = ("Shopify: HTTP 503: <html><head><style>p{x:1}</style></head>"
            "<body><p>Service\n  unavailable</p><script>alert(1)</script></body></html>")
    assert error_text(body) == "Shopify: HTTP 503: Service unavailable"


def test_plain_errors_are_unchanged_and_long_ones_are_cut():
    assert error_text("HTTP 422: fulfillment order is closed") == (
        "HTTP 422: fulfillment order is closed")
    assert error_text("a < b and c > d") == "a < b and c > d"
    cut = error_text("x" * 500)
    assert len(cut) == 200 and cut.endswith("…")
    assert error_text("") == "" and error_text(None) == ""


@pytest.mark.django_db
def test_the_order_page_never_shows_the_raw_html(client, make_user, make_order):
    order = make_order(OrderStatus.PAID, carrier="SF", tracking_number="SF1234567890")
    push = ShipmentPush.objects.create(
        order=order, channel=order.channel, carrier="SF", tracking_number="SF1234567890",
        status=ShipmentPush.Status.FAILED, attempts=1, last_error=BAD_GATEWAY)
    ShipmentPushAttempt.objects.create(push=push, ok=False, status_code=502,
                                       error=BAD_GATEWAY)
    client.force_login(make_user("ops"))
    html = client.get(f"/orders/{order.pk}/").content.decode()
    panel = html[html.index('id="channels-panel"'):]
    assert "Shopify: HTTP 502: 502 Bad Gateway &amp; retry" in panel
    assert "DOCTYPE" not in panel and "&lt;" not in panel and "There was a problem" not in panel
