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
    AuthError,
    Connector,
    ConnectorError,
    PermanentError,
)


def request_once(connector: Connector, method: str, url: str, **kwargs):
    """Send one write; return ``(response, parsed JSON body)``.

    Raises ``ConnectorError`` (retryable) when the request certainly did not
    reach the platform or was refused for rate, ``AmbiguousReply`` when it may
    have taken effect (timeout after sending, dropped connection, 5xx, a 2xx
    whose body is cut off), ``AuthError``/``PermanentError`` for a refusal.
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
    status = response.status_code
    if status == 429:
        raise ConnectorError(f"{platform}: rate limited (HTTP 429)", status_code=status)
    if status >= 500:
        raise AmbiguousReply(f"{platform}: HTTP {status} after sending; the platform may have "
                             f"recorded it ({connector.error_text(response)})",
                             status_code=status)
    if status in (401, 403):
        raise AuthError(f"{platform}: access refused (HTTP {status}: "
                        f"{connector.error_text(response)})", status_code=status)
    if status >= 400:
        raise PermanentError(f"{platform}: HTTP {status}: {connector.error_text(response)}",
                             status_code=status)
    if not response.content:
        return response, None
    try:
        return response, response.json()
    except ValueError as exc:
        raise AmbiguousReply(f"{platform}: HTTP {status} with a cut-off body "
                             f"({response.text[:80]!r})", status_code=status) from exc
