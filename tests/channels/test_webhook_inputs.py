"""Webhook entry limits: oversized bodies get 413 JSON unread; wrong shapes 400 JSON, kept."""

import io
import json
import logging
from unittest import mock

import pytest

from channels.models import RawPayload
from channels.services import WEBHOOK_BODY_LIMIT
from tests.channels.conftest import shopify_cn_order
from tests.channels.test_web import post_hook, sign


@pytest.fixture
def delay():
    with mock.patch("channels.tasks.process_raw_payload.delay") as delay:
        yield delay


class Unreadable(io.RawIOBase):
    """A request stream that must not be read."""

    def read(self, size=-1):
        raise AssertionError("the body was read")


class Chunked(io.BytesIO):
    """A chunked body as the server hands it over: no length, ended by the server."""

    reads = 0

    def read(self, size=-1):
        self.reads += 1
        return super().read(size)


def post_chunked(client, code, stream, **headers):
    return client.post(f"/hooks/{code}/", data=b"", content_type="application/json",
                       headers=headers, CONTENT_LENGTH="",
                       **{"wsgi.input": stream, "wsgi.input_terminated": True})


def refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_declared_length_over_the_limit_is_refused_413_json_unread(client, mapped, delay,
                                                                     caplog):
    response = client.post("/hooks/shopify-demo/", data=b"", content_type="application/json",
                           CONTENT_LENGTH=str(WEBHOOK_BODY_LIMIT + 1),
                           **{"wsgi.input": Unreadable()})

    assert response.status_code == 413
    assert response.json()["ok"] is False and "too large" in response.json()["message"]
    assert not RawPayload.objects.exists()
    delay.assert_not_called()
    assert len(refusals(caplog)) == 1  # ours, not Django's request logger a second time


def test_a_signed_body_over_djangos_upload_limit_but_under_ours_is_taken_in(
        client, mapped, delay, settings):
    # given: an order with a 3 MB note, past Django's 2.5 MB DATA_UPLOAD_MAX_MEMORY_SIZE
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < 3_000_000 < WEBHOOK_BODY_LIMIT
    body = json.dumps(shopify_cn_order(note="长" * 1_000_000), ensure_ascii=False).encode()
    # when
    response = post_hook(client, "shopify-demo", body, X_Shopify_Hmac_Sha256=sign(body),
                         X_Shopify_Topic="orders/create")
    # then
    assert response.status_code == 200 and response.json() == {"ok": True, "message": "ok"}
    assert RawPayload.objects.get().status == RawPayload.Status.PENDING


def test_a_body_over_the_limit_is_refused_413_even_when_signed(client, mapped, delay):
    body = json.dumps(shopify_cn_order(note="x" * WEBHOOK_BODY_LIMIT)).encode()
    response = post_hook(client, "shopify-demo", body, X_Shopify_Hmac_Sha256=sign(body),
                         X_Shopify_Topic="orders/create")
    assert response.status_code == 413 and response.json()["ok"] is False
    assert not RawPayload.objects.exists()


def test_a_chunked_body_without_a_length_is_read_and_taken_in(client, mapped, delay):
    body = json.dumps(shopify_cn_order()).encode()
    response = post_chunked(client, "shopify-demo", Chunked(body),
                            X_Shopify_Hmac_Sha256=sign(body), X_Shopify_Topic="orders/create")
    assert response.status_code == 200, response.content
    assert RawPayload.objects.get().external_id == "9001"


def test_a_chunked_body_over_the_limit_is_refused_once_it_passes_it(client, mapped, delay,
                                                                    caplog):
    stream = Chunked(b"x" * (3 * WEBHOOK_BODY_LIMIT))
    response = post_chunked(client, "shopify-demo", stream, X_Shopify_Topic="orders/create",
                            X_Shopify_Hmac_Sha256="whatever")
    assert response.status_code == 413 and response.json()["ok"] is False
    assert stream.tell() == WEBHOOK_BODY_LIMIT + 1  # no more read than needed to know
    assert not RawPayload.objects.exists()
    assert len(refusals(caplog)) == 1


@pytest.mark.parametrize(("body", "reason", "stored"), [
    (json.dumps([shopify_cn_order(1), shopify_cn_order(2)]), "an array", "JSON array"),
    (json.dumps("just a string"), "a string", "JSON string"),
    ("42", "a bare value", "bare JSON value"),
    ("null", "a bare value", "bare JSON value"),
    (json.dumps({"name": "#1001", "line_items": []}), "has no “id”", "has no “id”"),
    ("{not json", "not valid JSON", "not valid JSON"),
])
def test_a_signed_body_of_the_wrong_shape_is_refused_400_and_kept(client, mapped, delay, caplog,
                                                                  body, reason, stored):
    body = body.encode()
    response = post_hook(client, "shopify-demo", body, X_Shopify_Hmac_Sha256=sign(body),
                         X_Shopify_Topic="orders/create")

    assert response.status_code == 400
    assert response.json()["ok"] is False and reason in response.json()["message"]
    # Kept whole, with its reason, where ops look (sync problems); nothing half taken in.
    raw = RawPayload.objects.get()
    assert raw.body == body.decode() and raw.status == RawPayload.Status.QUARANTINED
    assert raw.source == RawPayload.Source.WEBHOOK and stored in raw.error
    assert f"payload {raw.pk}" in response.json()["message"]
    delay.assert_not_called()
    assert len(refusals(caplog)) == 1
    # The platform retries a refused delivery: refused again, stored once, logged once more.
    caplog.clear()
    again = post_hook(client, "shopify-demo", body, X_Shopify_Hmac_Sha256=sign(body),
                      X_Shopify_Topic="orders/create")
    assert again.status_code == 400 and RawPayload.objects.count() == 1
    assert len(refusals(caplog)) == 1


def test_wrong_shape_messages_are_translated_for_ops(client, mapped, delay):
    body = b"[]"
    post_hook(client, "shopify-demo", body, X_Shopify_Hmac_Sha256=sign(body),
              X_Shopify_Topic="orders/create", Accept_Language="zh-hans")
    error = RawPayload.objects.get().error
    assert "JSON" in error and "array" not in error and "数组" in error


def test_a_topic_without_orders_is_answered_200_and_stores_nothing(client, mapped, delay):
    body = json.dumps({"id": 5, "title": "A product"}).encode()
    response = post_hook(client, "shopify-demo", body, X_Shopify_Hmac_Sha256=sign(body),
                         X_Shopify_Topic="products/update")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "message": "nothing to take in"}
    assert not RawPayload.objects.exists()


def test_unknown_channel_is_a_404_json(client, mapped):
    response = client.post("/hooks/nope/", data=b"{}", content_type="application/json")
    assert response.status_code == 404 and response.json()["ok"] is False
