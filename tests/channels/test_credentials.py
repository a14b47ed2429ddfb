import logging

import pytest
from cryptography.fernet import Fernet
from django.test import override_settings
from django.urls import reverse

from channels.crypto import CredentialsUnreadable, mask_secret
from channels.models import Channel


def test_credentials_are_encrypted_at_rest(shopify_channel):
    stored = Channel.objects.values_list("credentials_encrypted", flat=True).get(
        pk=shopify_channel.pk)
    assert "shpat_test_token_123456" not in stored
    assert Channel.objects.get(pk=shopify_channel.pk).credentials["access_token"] == \
        "shpat_test_token_123456"


def test_key_rotation_reads_old_and_a_wrong_key_fails_clearly(db):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(CHANNEL_CREDENTIALS_KEY=old):
        channel = Channel(code="c", name="c", platform="shopify")
        channel.credentials = {"access_token": "secret-value-1234"}
        channel.save()
    with override_settings(CHANNEL_CREDENTIALS_KEY=f"{new},{old}"):
        assert Channel.objects.get(pk=channel.pk).credentials["access_token"] == \
            "secret-value-1234"
    with override_settings(CHANNEL_CREDENTIALS_KEY=new):
        with pytest.raises(CredentialsUnreadable) as exc:
            Channel.objects.get(pk=channel.pk).credentials  # noqa: B018
        assert "secret" not in str(exc.value)


def test_masking_never_shows_a_secret_in_full():
    assert mask_secret("shpat_test_token_123456") == "••••3456"
    assert mask_secret("short") == "••••"
    assert mask_secret("") == ""


def test_repr_does_not_leak(shopify_channel, caplog):
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("x").info("channel %r", shopify_channel)
    assert "shpat" not in caplog.text


def test_admin_shows_masked_credentials_and_keeps_them_when_left_empty(
        shopify_channel, admin_client):
    url = reverse("admin:channels_channel_change", args=[shopify_channel.pk])
    page = admin_client.get(url).content.decode()
    assert "shpat_test_token_123456" not in page
    assert "••••3456" in page

    data = {"code": "shopify-demo", "name": "Renamed", "platform": "shopify",
            "enabled": "on", "config": '{"shop_url": "https://demo-shop.myshopify.com"}',
            "poll_interval": 300, "overlap_seconds": 600, "backfill_days": 90,
            "paused_reason": "", "new_credentials": "",
            "sku_mappings-TOTAL_FORMS": 0, "sku_mappings-INITIAL_FORMS": 0}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    shopify_channel.refresh_from_db()
    assert shopify_channel.name == "Renamed"
    assert shopify_channel.credentials["access_token"] == "shpat_test_token_123456"

    data["new_credentials"] = '{"access_token": "shpat_rotated_99999999"}'
    assert admin_client.post(url, data).status_code == 302
    shopify_channel.refresh_from_db()
    assert shopify_channel.credentials == {"access_token": "shpat_rotated_99999999"}

    data["new_credentials"] = "not json"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "not valid JSON" in response.content.decode()
