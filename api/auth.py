"""Who is calling: the bearer token, its scope, its rate and the body size, before any work.

Runs before the body is parsed: a revoked token is refused at once (the row is read
on every request), a body over ``API_MAX_BODY_BYTES`` is refused with 413 before it is
read, and a token over its rate gets 429. The rate counter lives in the cache and
fails open: a Redis outage must not shut out every integration (README "Open API").
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from api.errors import ApiError
from api.models import ApiToken
from api.tokens import token_lookup, token_touch

logger = logging.getLogger(__name__)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _check_body_size(request) -> None:
    limit = settings.API_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise ApiError(413, "body_too_large",
                       _("The body is larger than %(limit)s bytes.") % {"limit": limit})


def _check_rate(token: ApiToken) -> None:
    limit = token.rate_limit or settings.API_RATE_LIMIT_PER_MINUTE
    now = time.time()
    window = int(now // 60)
    key = f"api:rate:{token.pk}:{window}"
    try:
        cache.add(key, 0, 90)
        count = cache.incr(key)
    except Exception:  # the cache is down: fail open, an outage must not stop integrations
        logger.warning("API rate limit skipped: the cache is unavailable", exc_info=True)
        return
    if count > limit:
        retry = max(1, int(60 - now % 60))
        raise ApiError(429, "rate_limited",
                       _("Too many requests for this token: at most %(limit)s a minute.")
                       % {"limit": limit}, headers={"Retry-After": str(retry)})


class TokenAuth(HttpBearer):
    openapi_description = "An API token made in Admin → API tokens: `Bearer oh_…`."

    def authenticate(self, request, token: str):
        row = token_lookup(token or "")
        if row is None:
            raise ApiError(401, "unauthenticated", _("This API token is not valid."))
        if not row.is_active or not row.user.is_active:
            raise ApiError(401, "token_revoked", _("This API token was revoked."))
        _check_body_size(request)
        _check_rate(row)
        if request.method in WRITE_METHODS and not row.can_write:
            raise ApiError(403, "insufficient_scope",
                           _("This token may only read; writing needs a read-and-write token."))
        token_touch(row)
        request.user = row.user
        return row


def require_perm(request, *perms: str) -> None:
    """The token's user must hold one of ``perms`` (its role, orderhub/roles.py)."""
    user = request.auth.user
    if not any(user.has_perm(p) for p in perms):
        raise ApiError(403, "forbidden",
                       _("The integration's user is not allowed to do that."))
