"""The adapter kit every outside system shares: one error base, one HTTP error mapping.

Connectors, carriers, SMS/robot gateways and stock sources raise subclasses of
``AdapterError``; ``retryable`` says whether trying again later may help, and
tasks retry only those (``retry_for_adapter_errors``). A vendor's own error
codes are mapped inside its adapter; plain HTTP statuses are mapped here once.
"""

from __future__ import annotations


class AdapterError(Exception):
    """A call to an outside system failed; ``retryable`` says whether later may help."""

    retryable = True

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class AdapterAuthError(AdapterError):
    """Credentials missing, wrong, expired or without a scope: a person must act."""

    retryable = False


class AdapterPermanentError(AdapterError):
    """The outside system refused the request itself: retrying sends the same refusal."""

    retryable = False


def http_status_error(status: int, detail: str, *, vendor: str) -> AdapterError | None:
    """The error for an HTTP status (None for 2xx/3xx): 429/5xx retryable, 401/403 auth,
    other 4xx permanent."""
    if status < 400:
        return None
    message = f"{vendor}: HTTP {status}: {detail}"[:2000]
    if status == 429 or status >= 500:
        return AdapterError(message, status_code=status)
    if status in (401, 403):
        return AdapterAuthError(message, status_code=status)
    return AdapterPermanentError(message, status_code=status)


def is_retryable(exc: BaseException) -> bool:
    """Whether a task should try again after ``exc`` (unknown exceptions: yes, e.g. a
    database or broker blip; adapter errors: as they say)."""
    if isinstance(exc, AdapterError):
        return exc.retryable
    return True
