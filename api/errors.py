"""One JSON error shape for every endpoint of the open API.

``{"code": "not_found", "message": "…", "fields": [{"field": "lines.0.sku", "message": "…"}]}``
``code`` is stable (clients branch on it), ``message`` is for people (English or Chinese
by ``Accept-Language``), ``fields`` names the inputs that were refused (may be empty).
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from orderhub.services.orders import OrderServiceError

logger = logging.getLogger(__name__)

# Every error status an endpoint may answer with (documented on each operation).
ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 422, 429)
CODE_FOR_STATUS = {400: "bad_request", 401: "unauthenticated", 403: "forbidden",
                   404: "not_found", 409: "conflict", 413: "body_too_large",
                   422: "invalid", 429: "rate_limited"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, fields=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields or [])
        self.headers = dict(headers or {})


def field_error(field: str, message: str) -> dict:
    return {"field": field, "message": str(message)}


def error_body(code: str, message: str, fields=()) -> dict:
    return {"code": code, "message": str(message), "fields": list(fields)}


def _loc(loc) -> str:
    # ("body", "payload", "lines", 0, "sku") -> "lines.0.sku"; query/path keep the name.
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
        if parts and parts[0] == "payload":
            parts = parts[1:]
    return ".".join(parts) or "body"


def install(api) -> None:
    """Register the handlers that give every failure the one shape."""

    def respond(request, status, code, message, fields=(), headers=None):
        response = api.create_response(request, error_body(code, message, fields),
                                       status=status)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    @api.exception_handler(ApiError)
    def _api_error(request, exc: ApiError):
        return respond(request, exc.status, exc.code, exc.message, exc.fields, exc.headers)

    @api.exception_handler(NinjaValidationError)
    def _validation(request, exc: NinjaValidationError):
        fields = [field_error(_loc(e.get("loc", ())), e.get("msg", "")) for e in exc.errors]
        return respond(request, 422, "invalid", _("The request has invalid fields."), fields)

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request, exc):
        return respond(request, 401, "unauthenticated",
                       _("Send a valid API token: “Authorization: Bearer <token>”."))

    @api.exception_handler(HttpError)
    def _http_error(request, exc: HttpError):
        status = exc.status_code
        if status == 400:
            return respond(request, 400, "bad_request", _("The body is not valid JSON."))
        return respond(request, status, CODE_FOR_STATUS.get(status, "error"), str(exc))

    @api.exception_handler(Http404)
    def _not_found(request, exc):
        return respond(request, 404, "not_found", _("Not found."))

    @api.exception_handler(PermissionDenied)
    def _forbidden(request, exc):
        return respond(request, 403, "forbidden", _("This token may not do that."))

    @api.exception_handler(OrderServiceError)
    def _service_error(request, exc: OrderServiceError):
        status = exc.status if exc.status in ERROR_STATUSES else 400
        if status == 400:
            # A refused value of an otherwise well-formed request.
            status = 422
        return respond(request, status, CODE_FOR_STATUS[status], exc.message)

    @api.exception_handler(DjangoValidationError)
    def _django_validation(request, exc: DjangoValidationError):
        if hasattr(exc, "error_dict"):
            fields = [field_error(name, m) for name, errors in exc.message_dict.items()
                      for m in errors]
        else:
            fields = []
        return respond(request, 422, "invalid", " ".join(exc.messages), fields)

    @api.exception_handler(Exception)
    def _crash(request, exc):
        logger.exception("API request failed: %s %s", request.method, request.path)
        return respond(request, 500, "server_error", _("Something went wrong on our side."))
