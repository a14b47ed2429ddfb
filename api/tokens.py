"""API tokens: making, checking and revoking them. The secret itself is never stored.

A token reads ``oh_<prefix>_<secret>``: the prefix (visible in the admin) finds the
row, the SHA-256 of the whole token is compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from api.models import ApiToken

TOKEN_START = "oh_"
# last_used_at is written at most this often per token (not one UPDATE per request).
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def token_create(*, name: str, user, scope: str = ApiToken.Scope.READ,
                 system: str = ApiToken.System.OTHER, rate_limit: int = 0,
                 created_by=None, token: ApiToken | None = None) -> tuple[ApiToken, str]:
    """Make a token (or give ``token``, an unsaved admin form's instance, its secret).

    Returns the saved row and the full secret; the caller shows the secret once.
    """
    prefix = secrets.token_hex(4)
    while ApiToken.objects.filter(prefix=prefix).exists():
        prefix = secrets.token_hex(4)
    raw = f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(32)}"
    token = token or ApiToken(name=name, user=user, scope=scope, system=system,
                              rate_limit=rate_limit)
    token.prefix = prefix
    token.key_hash = _hash(raw)
    token.created_by = created_by
    token.save()
    return token, raw


def token_revoke(*, token: ApiToken) -> None:
    """Refuse the token from the next request on (each request reads the row)."""
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now())


def token_lookup(raw: str) -> ApiToken | None:
    """The token row ``raw`` names, revoked or not; None when no token matches."""
    if not raw.startswith(TOKEN_START) or len(raw) > 200 or "\x00" in raw:
        return None
    prefix = raw[len(TOKEN_START):].split("_", 1)[0]
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.key_hash, _hash(raw)):
        return None
    return token


def token_touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
