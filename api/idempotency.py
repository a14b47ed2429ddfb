"""Idempotency-Key: a write sent again with the same key answers the first result.

The record is written in the write's own transaction: a write that failed (or rolled
back) left none, so a retry does the work then; a write that succeeded is never done
twice. The same key with a different request is refused (422). Two requests racing
with one key: the second waits on the key's unique index before doing anything and
answers the first one's result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from api.errors import ApiError
from api.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class _KeyTaken(Exception):
    pass


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\n")
    digest.update(request.path.encode())
    digest.update(b"\n")
    digest.update(request.body or b"")
    return digest.hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str, response) -> tuple[int, dict]:
    if record.request_hash != fingerprint:
        raise ApiError(422, "idempotency_key_reused",
                       _("This Idempotency-Key was used for a different request."))
    response[REPLAYED_HEADER] = "true"
    return record.status_code, record.response


def run_idempotent(request, response, work: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
    """Run ``work`` (returns status and JSON body) once per token and Idempotency-Key."""
    key = request.headers.get(HEADER)
    if key is None:
        with transaction.atomic():
            return work()
    key = key.strip()
    if not key or len(key) > 255 or not key.isprintable():
        raise ApiError(400, "bad_request",
                       _("An Idempotency-Key is 1 to 255 printable characters."))
    token = request.auth
    fingerprint = _fingerprint(request)
    existing = IdempotencyRecord.objects.filter(token=token, key=key).first()
    if existing is not None:
        return _replay(existing, fingerprint, response)
    try:
        with transaction.atomic():
            # The key is taken first: a second request with it waits here on the unique
            # index until this one commits (then answers its result) or rolls back
            # (then does the work itself). The work never runs twice.
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        token=token, key=key, method=request.method,
                        path=request.path[:255], request_hash=fingerprint, status_code=0)
            except IntegrityError as exc:
                raise _KeyTaken from exc
            status, body = work()
            record.status_code, record.response = status, body
            record.save(update_fields=["status_code", "response"])
    except _KeyTaken:
        return _replay(IdempotencyRecord.objects.get(token=token, key=key), fingerprint,
                       response)
    return status, body
