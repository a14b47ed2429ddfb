"""Deliveries are signed as README documents: checked with an independent implementation."""

import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest
import respx
from httpx import Response

from tests.webhooks.conftest import SECRET, URL
from webhooks import services, signing
from webhooks.services import NewDelivery, deliveries_record

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_signature(secret: str, header: str, raw_body: bytes) -> bool:
    """The receiver's side, written from README alone (not from webhooks.signing)."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    signed = fields["t"].encode() + b"." + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def readme_vector() -> tuple[str, str, str, str]:
    text = README.read_text()
    match = re.search(
        r"Test vector: secret `([^`]+)`, `t=(\d+)`, body\s+`([^`]+)` →\s+"
        r"`X-OrderHub-Signature: (t=\d+,v1=[0-9a-f]{64})`", text)
    assert match, "README lost its signing test vector"
    return match.groups()


def test_the_readme_vector_holds_for_both_implementations():
    secret, timestamp, body, header = readme_vector()
    assert header.startswith(f"t={timestamp},")
    assert documented_signature(secret, header, body.encode())
    assert signing.signature_header(secret, int(timestamp), body.encode()) == header
    assert signing.verify(secret, header, body.encode(), now=int(timestamp) + 10)


def test_verify_refuses_a_changed_body_a_wrong_secret_and_an_old_timestamp():
    secret, timestamp, body, header = readme_vector()
    t = int(timestamp)
    assert not signing.verify(secret, header, body.encode() + b" ", now=t)
    assert not signing.verify("another-secret", header, body.encode(), now=t)
    assert not signing.verify(secret, header, body.encode(), now=t + 301)
    assert not signing.verify(secret, "", body.encode(), now=t)
    assert not signing.verify(secret, f"t={timestamp}", body.encode(), now=t)


@pytest.mark.django_db
@respx.mock
def test_a_sent_delivery_verifies_with_the_documented_algorithm(make_subscription, queued):
    # given: a delivery with non-ASCII text (signed as the UTF-8 bytes sent)
    subscription = make_subscription()
    [delivery] = deliveries_record([NewDelivery(
        subscription=subscription, event="stock.low", occurred_at=subscription.created_at,
        data={"stock": {"sku": "保温杯-1", "available": 0}})])
    route = respx.post(URL).mock(return_value=Response(200, text="ok"))

    # when
    assert services.delivery_send(delivery_id=delivery.pk) == "succeeded"

    # then: the receiver can check what it got, byte for byte
    request = route.calls.last.request
    raw = request.content
    assert documented_signature(SECRET, request.headers["X-OrderHub-Signature"], raw)
    assert not documented_signature("wrong" + SECRET, request.headers["X-OrderHub-Signature"],
                                    raw)
    assert request.headers["X-OrderHub-Event"] == "stock.low"
    assert request.headers["X-OrderHub-Delivery"] == str(delivery.uuid)
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(raw.decode("utf-8"))
    assert body["id"] == str(delivery.uuid)
    assert body["event"] == "stock.low"
    assert body["data"]["stock"]["sku"] == "保温杯-1"


@pytest.mark.django_db
def test_the_secret_is_stored_encrypted(make_subscription):
    subscription = make_subscription()
    assert SECRET not in subscription.secret_encrypted
    from webhooks.models import Subscription

    assert Subscription.objects.get(pk=subscription.pk).secret == SECRET
    assert subscription.masked_secret == "••••" + SECRET[-4:]
