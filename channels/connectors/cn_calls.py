"""How the Chinese platform connectors call their gateways (see ``channels.connectors.cn``):
one-attempt writes, TOP-style routers, token calls, the shipment write-back, cached tokens.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from django.core.cache import cache

from channels.connectors.base import (
    CARRIER_COMPANIES,
    AmbiguousReply,
    AuthError,
    ConnectorError,
    NormalizationError,
    PermanentError,
    ShipmentResult,
    text,
)
from channels.connectors.cn_values import check_json_response, holds_tracking, platform_error
from channels.connectors.once import send_once
from channels.crypto import CredentialsUnreadable, decrypt_text, encrypt_text


class WriteMixin:
    """One attempt for a call that changes the platform (a shipment), never retried here.

    A write retried blindly after a timeout may ship twice, and one marked failed
    after a lost reply may have gone through: a reply that does not say what
    happened raises ``AmbiguousReply`` and the outbox reads the order back
    (``confirm_shipment``) before it tries again.
    """

    # The channel setting that mapped carriers before ``carrier_map`` (still honoured).
    legacy_carrier_setting = ""

    def platform_carrier(self, carrier: str) -> str:
        """The platform's code for ``carrier``: a hub carrier company (``SF``) is
        translated (``carrier_map``, the old per-platform setting, ``CARRIER_NAMES``);
        anything else is taken to be the platform's own code already."""
        key = text(carrier).strip()
        legacy = self.config.get(self.legacy_carrier_setting) if self.legacy_carrier_setting \
            else None
        if isinstance(legacy, dict) and legacy.get(key) not in (None, ""):
            return text(legacy[key])
        if key.upper() in CARRIER_COMPANIES:
            return self.carrier_name(key.upper(), fallback=key)
        return key

    def write_request(self, method: str, url: str, **kwargs) -> httpx.Response:
        # The same one-attempt send and status mapping as Shopify's and WooCommerce's.
        return send_once(self, method, url, **kwargs)

    def write_json(self, response: httpx.Response) -> dict:
        """The reply of a write, or AmbiguousReply when it is cut off or not JSON."""
        try:
            data = response.json()
        except ValueError as exc:
            raise AmbiguousReply(f"{self.platform}: the answer to the shipment is cut off "
                                 f"or unreadable ({response.text[:80]!r})") from exc
        if not isinstance(data, dict):
            raise AmbiguousReply(f"{self.platform}: the answer to the shipment is not an "
                                 f"object")
        return data

    def post_json(self, url: str, *, write: bool, **kwargs) -> dict:
        """POST and return the JSON object: a read through ``request`` (retried), a
        write through ``write_request`` (once, unclear answers are AmbiguousReply)."""
        if write:
            return self.write_json(self.write_request("POST", url, **kwargs))
        return check_json_response(self.platform, self.request("POST", url, **kwargs))

    def router_call(self, method: str, response_key: str, business: dict, *,
                    write: bool = False) -> dict:
        """One call to a TOP-style router (Taobao, Pinduoduo): signed form parameters
        (``signed_params``) posted to ``gateway``; the answer is either
        ``{"error_response": {...}}`` (``router_error``) or ``{response_key: {...}}``.

        A read is retried (``call_with_retries``); a write is sent once and an answer
        without its body raises AmbiguousReply.
        """

        def attempt() -> dict:
            data = self.post_json(self.gateway, write=write,
                                  data=self.signed_params(method, business))
            if isinstance(data.get("error_response"), dict):
                raise self.router_error(data["error_response"])
            body = data.get(response_key)
            if isinstance(body, dict):
                return body
            if write:
                raise AmbiguousReply(f"{self.platform}: the answer to {method} has no "
                                     f"“{response_key}”; it may have been recorded")
            raise PermanentError(f"{self.platform}: the answer to {method} has no "
                                 f"“{response_key}”")

        return attempt() if write else self.call_with_retries(attempt)

    def token_call(self, send: Callable[[str], dict], *, answer: Callable[[dict], dict | None],
                   error: Callable[[dict], ConnectorError], expired: type[AuthError],
                   write: bool = False, hint: str = "") -> dict:
        """One call with the shop's access token (Douyin, Youzan): ``send(token)``
        returns the platform's JSON, ``answer`` its result (None: an error, read by
        ``error``). A token the platform calls ``expired`` is renewed once
        (``access_token(renew=True)``): that refusal is definite, so even a write is
        sent again; still refused, it is an AuthError (``hint`` says what to do).
        A read is retried with backoff, a write sent once.
        """
        renewed = False

        def attempt() -> dict:
            nonlocal renewed
            data = send(self.access_token())
            result = answer(data)
            if result is not None:
                return result
            exc = error(data)
            if isinstance(exc, expired) and not renewed:
                renewed = True
                data = send(self.access_token(renew=True))
                result = answer(data)
                if result is not None:
                    return result
                exc = error(data)
            if isinstance(exc, expired) and hint:
                raise AuthError(exc.message + hint)
            raise exc

        return attempt() if write else self.call_with_retries(attempt)

    def access_token(self, *, renew: bool = False) -> str:
        raise NotImplementedError

    def signed_params(self, method: str, business: dict) -> dict:
        raise NotImplementedError

    def router_error(self, error: dict) -> ConnectorError:
        raise NotImplementedError

    # --- shipments -----------------------------------------------------------------

    def push_shipment(self, *, external_id: str, carrier: str, tracking_number: str,
                      tracking_url: str = "", lines: list[dict] | None = None,
                      platform_data: dict | None = None) -> ShipmentResult:
        """Check the parcel, translate the carrier (``platform_carrier``), send it once
        (``send_shipment``)."""
        code = self.platform_carrier(carrier)
        problem = self.carrier_problem(code, carrier)
        if problem:
            raise PermanentError(f"{self.platform}: {problem}")
        if not tracking_number:
            raise PermanentError(f"{self.platform}: a tracking number is needed")
        detail = self.send_shipment(external_id=external_id, carrier=code,
                                    tracking_number=tracking_number)
        return ShipmentResult(ok=True, detail=detail, status_code=200)

    def carrier_problem(self, code: str, carrier: str) -> str:
        """Why ``code`` cannot be sent as the platform's carrier ("" if it can)."""
        return "" if code else "a carrier is needed"

    def send_shipment(self, *, external_id: str, carrier: str, tracking_number: str) -> str:
        """Send the shipment (``carrier`` is the platform's code); return a detail text."""
        raise NotImplementedError

    def require_success(self, body: dict, what: str, external_id: str) -> None:
        """A write's ``is_success``: missing is unclear (AmbiguousReply), not true a refusal."""
        if not isinstance(body, dict) or "is_success" not in body:
            raise AmbiguousReply(f"{self.platform}: {what} for {external_id} did not say "
                                 f"whether it succeeded")
        if body.get("is_success") is not True:
            raise PermanentError(f"{self.platform}: {what} refused the shipment of "
                                 f"{external_id}")

    def confirm_shipment(self, *, external_id: str, tracking_number: str,
                         platform_data: dict | None = None) -> bool | None:
        """Read the order back (``read_order``): does it carry the parcel?"""
        try:
            order = self.read_order(external_id)
            if not isinstance(order, dict):
                return None
            return holds_tracking(self.normalize(order), tracking_number)
        except (ConnectorError, NormalizationError):
            return None

    def read_order(self, external_id: str) -> dict | None:
        """The platform order as ``normalize`` takes it (None if the answer has none)."""
        raise NotImplementedError

def cached_secret(key: str) -> str | None:
    """A token cached (encrypted) under ``key``; None when absent or unreadable."""
    cached = cache.get(key)
    if not cached:
        return None
    try:
        return decrypt_text(cached)
    except CredentialsUnreadable:
        return None


def cache_secret(key: str, value: str, seconds: int) -> None:
    cache.set(key, encrypt_text(value), seconds)


def token_error(error: ConnectorError, *, refused: str, failed: str) -> ConnectorError:
    """A failed token request: only a definite refusal of the credentials is an
    AuthError (the channel pauses); throttling and platform faults keep their kind,
    so a platform hiccup is retried and never pauses the channel."""
    if isinstance(error, AuthError):
        return AuthError(f"{refused} ({error.message})")
    return platform_error(type(error), f"{failed} ({error.message})")
