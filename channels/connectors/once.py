"""Writes that must not be repeated blindly (Shopify and WooCommerce shipments).

``Connector.request`` retries timeouts and 5xx, which is right for reads but
not for a write that creates something (a fulfillment, a tracking item): a
timeout after the request went out may mean it took effect, and sending it
again would create a second one. ``request_once`` sends once and says which
outcome it got; the caller reads the order back (``confirm_shipment``) before
anything is sent again.
"""

from __future__ import annotations

import httpx

from channels.connectors.base import (
    AmbiguousReply,
    Connector,
    ConnectorError,
    status_error,
)


def send_once(connector: Connector, method: str, url: str, **kwargs) -> httpx.Response:
    """Send one write and return its response (any 2xx/3xx), never retried here.

    Raises ``ConnectorError`` (retryable) when the request certainly did not
    reach the platform or was refused for rate, ``AmbiguousReply`` when it may
    have taken effect (timeout after sending, dropped connection, 5xx),
    ``AuthError``/``PermanentError`` for a refusal (``base.status_error``, the
    same mapping every read uses).
    """
    platform = connector.platform
    connector.before_request(kwargs)
    try:
        response = connector.client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise ConnectorError(f"{platform}: cannot connect ({type(exc).__name__}); "
                             "nothing was sent") from exc
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        raise AmbiguousReply(f"{platform}: no reply after sending ({type(exc).__name__}); "
                             "the platform may have recorded it") from exc
    connector.after_response(response)
    detail = connector.error_text(response) if response.is_error else ""
    error = status_error(platform, response.status_code, detail, write=True)
    if error is not None:
        raise error
    return response


def request_once(connector: Connector, method: str, url: str, **kwargs):
    """Send one write (``send_once``); return ``(response, parsed JSON body)``.

    A 2xx whose body is cut off raises ``AmbiguousReply`` too.
    """
    response = send_once(connector, method, url, **kwargs)
    if not response.content:
        return response, None
    try:
        return response, response.json()
    except ValueError as exc:
        raise AmbiguousReply(f"{connector.platform}: HTTP {response.status_code} with a "
                             f"cut-off body ({response.text[:80]!r})",
                             status_code=response.status_code) from exc
