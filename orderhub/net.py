"""Who is on the other end of a request: the real client address behind proxies.

Production runs behind TLS-terminating proxies (README "Production"), so the socket
address (``REMOTE_ADDR``) is the nearest proxy's, the same for every buyer. Each proxy
appends the address it received the request from to ``X-Forwarded-For``; with
``TRUSTED_PROXY_COUNT`` = N proxies of our own in front of the hub, the N-th address
from the right was written by the outermost of them and is the client's. Everything to
its left came from the client and may be forged, so it is never used.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _address(value: str) -> str | None:
    """``value`` as a normalised IP address, or None when it is not one."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The address of the client that sent ``request``, for rate limits, risk checks and logs.

    With ``TRUSTED_PROXY_COUNT`` 0 (the default, no proxy) this is the socket address. A
    request whose ``X-Forwarded-For`` is missing, shorter than the proxy chain (it did
    not pass all our proxies) or malformed at the client's position falls back to the
    socket address too: a wrong header never lets a client choose its own address.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    hops = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if hops <= 0:
        return remote
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not header:
        return remote
    # Our own proxies wrote the rightmost ``hops`` entries; each must be an address.
    written_by_us = [_address(part) for part in header.split(",")[-hops:]]
    if len(written_by_us) < hops or None in written_by_us:
        return remote
    return written_by_us[0]
