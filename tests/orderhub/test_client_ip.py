"""The real client address behind proxies (TRUSTED_PROXY_COUNT), and the rate limit using it."""

import importlib
import os
import sys
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from orderhub.net import client_ip

PROXY = "10.0.0.5"


def ip(settings, hops, forwarded=None, remote=PROXY):
    settings.TRUSTED_PROXY_COUNT = hops
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


def test_without_proxies_the_socket_address_is_the_client_and_the_header_is_ignored(settings):
    assert ip(settings, 0, "198.51.100.7") == PROXY


def test_one_proxy_takes_the_address_it_appended(settings):
    assert ip(settings, 1, "198.51.100.7") == "198.51.100.7"


def test_a_forged_leftmost_entry_is_never_used(settings):
    # The client sent "X-Forwarded-For: 1.2.3.4"; our proxy appended the real address.
    assert ip(settings, 1, "1.2.3.4, 198.51.100.7") == "198.51.100.7"
    # Two proxies of ours: the outer one appended the client, the inner one the outer.
    assert ip(settings, 2, "1.2.3.4, 198.51.100.7, 10.0.0.9") == "198.51.100.7"


def test_ipv6_is_normalised(settings):
    assert ip(settings, 1, "2001:DB8:0:0::1") == "2001:db8::1"


@pytest.mark.parametrize("forwarded", [
    None,                         # no header: the request did not come through the proxy
    "",
    "198.51.100.7",               # one entry, but two proxies should have written two
    "not-an-ip, 10.0.0.9",        # the client's position holds garbage
    "198.51.100.7, 10.0.0.9:443",  # an entry of ours with a port: malformed
    "198.51.100.7,,",
])
def test_a_malformed_or_short_header_falls_back_to_the_socket_address(settings, forwarded):
    assert ip(settings, 2, forwarded) == PROXY


@pytest.fixture
def parcel_lookup(db, settings):
    settings.TRACK_RATE_LIMIT = "2/m"
    settings.TRUSTED_PROXY_COUNT = 1

    def post(client, forwarded):
        return client.post("/track/", {"number": "OH-NOPE", "phone": "0000"},
                           REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded).status_code
    return post


def test_tracking_rate_limit_counts_each_buyer_behind_the_proxy(parcel_lookup, client):
    # Two buyers behind the same proxy have a budget each; before, they shared one.
    assert [parcel_lookup(client, "203.0.113.10") for _ in range(3)] == [200, 200, 429]
    assert parcel_lookup(client, "203.0.113.11") == 200


def test_a_buyer_cannot_dodge_the_rate_limit_by_forging_the_header(parcel_lookup, client):
    codes = [parcel_lookup(client, f"192.0.2.{n}, 203.0.113.20") for n in range(3)]
    assert codes == [200, 200, 429]


def test_the_ratelimit_library_asks_the_hub_for_the_address(settings):
    from django_ratelimit.core import _get_ip

    settings.TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.30")
    assert _get_ip(request) == "203.0.113.30"


def _settings_with(env):
    """``orderhub.settings`` read again under ``env`` (a module copy; the real one stays)."""
    with mock.patch.dict(os.environ, {**env, "DEBUG": "1"}):
        saved = sys.modules.pop("orderhub.settings")
        try:
            return importlib.import_module("orderhub.settings")
        finally:
            sys.modules["orderhub.settings"] = saved


def test_the_proxy_count_comes_from_the_environment():
    assert _settings_with({"TRUSTED_PROXY_COUNT": "2"}).TRUSTED_PROXY_COUNT == 2
    assert _settings_with({}).TRUSTED_PROXY_COUNT == 0


@pytest.mark.parametrize("value", ["-1", "one"])
def test_a_bad_proxy_count_stops_the_hub_with_a_clear_error(value):
    message = f"TRUSTED_PROXY_COUNT must be a whole number, 0 or more, not '{value}'"
    with pytest.raises(ImproperlyConfigured, match=message):
        _settings_with({"TRUSTED_PROXY_COUNT": value})
