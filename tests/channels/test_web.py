import base64
import hashlib
import hmac
import json
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from channels.models import Channel, RawPayload
from channels.services import raw_payload_process
from orderhub.models import Order
from tests.channels.conftest import shopify_cn_order


def sign(body: bytes, secret="hush") -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture
def delay():
    with mock.patch("channels.tasks.process_raw_payload.delay") as delay:
        yield delay


def post_hook(client, code, body: bytes, **headers):
    return client.post(f"/hooks/{code}/", data=body, content_type="application/json",
                       headers=headers)


def test_signed_shopify_webhook_is_stored_then_processed(client, mapped, delay,
                                                         django_capture_on_commit_callbacks):
    body = json.dumps(shopify_cn_order()).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_hook(client, "shopify-demo", body, X_Shopify_Hmac_Sha256=sign(body),
                             X_Shopify_Topic="orders/create")
    assert response.status_code == 200
    raw = RawPayload.objects.get()
    assert raw.source == "webhook" and raw.status == "pending"
    delay.assert_called_once_with(raw.pk)
    assert raw_payload_process(raw_id=raw.pk) == "created"
    assert Order.objects.get().external_id == "9001"
    # Shopify retries deliveries: the same body again stores nothing new.
    post_hook(client, "shopify-demo", body, X_Shopify_Hmac_Sha256=sign(body),
              X_Shopify_Topic="orders/create")
    assert RawPayload.objects.count() == 1 and Order.objects.count() == 1


@pytest.mark.parametrize("headers", [
    {},
    {"X_Shopify_Hmac_Sha256": "forged"},
    {"X_Shopify_Hmac_Sha256": sign(b"other body")},
])
def test_forged_or_unsigned_webhook_is_refused_before_parsing(client, mapped, delay, headers):
    body = b"{garbage that must never be parsed"
    import json as json_module

    real_loads = json_module.loads
    with mock.patch("json.loads", side_effect=real_loads) as loads:
        response = post_hook(client, "shopify-demo", body, X_Shopify_Topic="orders/create",
                             **headers)
    assert response.status_code == 401
    assert all(call.args[0] != body for call in loads.call_args_list)
    assert not RawPayload.objects.exists()
    delay.assert_not_called()


def test_signed_garbage_is_kept_and_quarantined(client, mapped, delay):
    body = b"\xff\xfe not json"
    response = post_hook(client, "shopify-demo", body, X_Shopify_Hmac_Sha256=sign(body),
                         X_Shopify_Topic="orders/create")
    assert response.status_code == 400
    raw = RawPayload.objects.get()
    assert raw.status == "quarantined" and "not valid JSON" in raw.error


def test_woocommerce_ping_and_signed_order(client, woo_channel, woo_order, delay):
    response = client.post("/hooks/woo-demo/", data=b"webhook_id=5",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    body = json.dumps(woo_order).encode()
    response = post_hook(client, "woo-demo", body, X_WC_Webhook_Signature=sign(body),
                         X_WC_Webhook_Topic="order.updated")
    assert response.status_code == 200
    assert RawPayload.objects.get().external_id == "727"


def test_unknown_channel_and_get_are_refused(client, mapped):
    assert client.post("/hooks/nope/", data=b"{}", content_type="application/json"
                       ).status_code == 404
    assert client.get("/hooks/shopify-demo/").status_code == 405


# --- pages ---------------------------------------------------------------------------

def test_health_page_needs_login_and_permission(client, make_user, mapped):
    url = reverse("channels:health")
    assert client.get(url).status_code == 302
    client.force_login(make_user("picker"))
    assert client.get(url).status_code == 403


def test_health_page_for_ops_shows_state_without_buttons(client, make_user, mapped):
    mapped.last_error = "shopify: HTTP 503"
    mapped.save()
    client.force_login(make_user("ops"))
    page = client.get(reverse("channels:health")).content.decode()
    assert "Shopify demo" in page and "HTTP 503" in page
    # Ops poll and pause channels (issue 14); credentials are never shown.
    assert "Pause" in page and "shpat" not in page


def test_manager_pauses_resumes_and_polls_with_htmx(client, make_user, mapped,
                                                    django_capture_on_commit_callbacks):
    client.force_login(make_user("manager"))
    htmx = {"HX-Request": "true"}
    response = client.post(reverse("channels:pause", args=[mapped.pk]), headers=htmx)
    assert response.status_code == 200 and "Resume" in response.content.decode()
    mapped.refresh_from_db()
    assert mapped.paused
    response = client.post(reverse("channels:resume", args=[mapped.pk]), headers=htmx)
    mapped.refresh_from_db()
    assert not mapped.paused and "Pause" in response.content.decode()
    with mock.patch("channels.tasks.poll_channel.delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("channels:poll", args=[mapped.pk]), headers=htmx)
    delay.assert_called_once_with(mapped.pk)


def test_ops_cannot_pause(client, make_user, mapped):
    # Name kept; since issue 14 ops may pause, finance may not.
    client.force_login(make_user("finance"))
    assert client.post(reverse("channels:pause", args=[mapped.pk])).status_code == 403
    client.force_login(make_user("ops"))
    assert client.post(reverse("channels:pause", args=[mapped.pk])).status_code == 302


def test_sync_problems_page_and_replay(client, make_user, shopify_channel):
    from channels.models import SkuMapping
    from channels.pipeline import ingest_items
    from channels.services import normalizer_for

    bad = shopify_cn_order(line_items=[{"id": 1, "sku": "CUP-1", "quantity": 0, "price": "1"}])
    ingest_items(channel=shopify_channel, items=[bad], source="poll",
                 normalizer=normalizer_for(shopify_channel))
    raw = RawPayload.objects.get()
    client.force_login(make_user("ops"))
    page = client.get(reverse("channels:problems")).content.decode()
    assert "must be at least 1" in page and "Replay" in page

    # Still broken: replay says so and keeps it quarantined.
    response = client.post(reverse("channels:replay", args=[raw.pk]), {"action": "replay"},
                           headers={"HX-Request": "true"})
    assert "Still failing" in response.content.decode()
    raw.refresh_from_db()
    assert raw.status == "quarantined" and raw.attempts == 2

    # After the payload is corrected, replay creates the order.
    SkuMapping.objects.create(channel=shopify_channel, platform_sku="CUP-1", hub_sku="SKU-CUP")
    raw.body = json.dumps(shopify_cn_order(line_items=[
        {"id": 1, "sku": "CUP-1", "quantity": 1, "price": "1"}]))
    raw.save()
    client.post(reverse("channels:replay", args=[raw.pk]), {"action": "replay"})
    raw.refresh_from_db()
    assert raw.status == "processed"
    assert Order.objects.get().status == "paid"
    detail = client.get(reverse("channels:problem", args=[raw.pk]))
    assert detail.status_code == 200


def test_picker_cannot_see_sync_problems(client, make_user, mapped):
    client.force_login(make_user("picker"))
    assert client.get(reverse("channels:problems")).status_code == 403


def test_replay_all_quarantined_from_the_health_page(client, make_user, mapped, monkeypatch,
                                                     django_capture_on_commit_callbacks):
    from channels.pipeline import ingest_items
    from tests.channels.fakes import FakeConnector, FakeStore
    from tests.channels.test_format_drift import broken

    # given three payloads in a format the connector could not read
    store = FakeStore(timezone.now())
    old = FakeConnector(mapped, store)
    with django_capture_on_commit_callbacks(execute=True):
        ingest_items(channel=mapped, items=[broken(n) for n in range(3)], source="webhook",
                     normalizer=old)
    client.force_login(make_user("ops"))
    page = client.get(reverse("channels:health")).content.decode()
    assert "Replay all quarantined" in page
    assert "/channels/problems/?channel=shopify-demo" in page

    # when the connector is fixed and someone replays them all
    class Fixed(FakeConnector):
        def normalize(self, raw):
            return super().normalize({**raw, "sku": raw["skuInfo"]["code"]})

    monkeypatch.setattr("channels.services.webhooks.normalizer_for",
                        lambda channel: Fixed(channel, store))
    response = client.post(reverse("channels:replay_all", args=[mapped.pk]),
                           headers={"HX-Request": "true"})

    # then every one is taken in, and the row says so
    assert "3 taken in, 0 still failing" in response.content.decode()
    assert not RawPayload.objects.filter(status="quarantined").exists()
    assert Order.objects.filter(channel=mapped).count() == 3


def test_replay_all_needs_the_replay_permission(client, make_user, mapped):
    client.force_login(make_user("picker"))
    assert client.post(reverse("channels:replay_all", args=[mapped.pk])).status_code == 403


def test_replay_all_on_a_manual_channel_says_there_is_nothing_to_read(client, make_user):
    # given a channel fed by hand, with no connector behind it
    channel = Channel.objects.create(code="by-hand", name="By hand", platform="manual")
    client.force_login(make_user("manager"))
    # when replay-all is pressed for it (the health row is swapped by HTMX)
    response = client.post(reverse("channels:replay_all", args=[channel.pk]),
                           HTTP_HX_REQUEST="true")
    # then the row says why instead of failing
    assert response.status_code == 200
    assert "no connector" in response.content.decode()
