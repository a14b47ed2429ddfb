"""Security glue: for django-axes, whose address a login came from and the page a locked-out
login gets (settings ``AXES_CLIENT_IP_CALLABLE``, ``AXES_LOCKOUT_CALLABLE``); for django-csp,
which responses get the Content-Security-Policy."""

import logging

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.shortcuts import render

from orderhub import net

logger = logging.getLogger(__name__)


def client_ip(request) -> str:
    """The address axes counts failures against: the client's own behind the proxies the
    deployment declares (``TRUSTED_PROXY_COUNT``, ``orderhub.net.client_ip``), never an
    unchecked X-Forwarded-For entry (anyone can send one and would get fresh tries with
    each made-up address)."""
    return net.client_ip(request)


def lockout_response(request, original_response=None, credentials=None):
    """The login page of a refused, locked-out login (``/login/`` and ``/admin/login/``): 429,
    saying why and for how long, in the visitor's language. Logged once per refused try."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    logger.warning(
        "Login refused: %r from %s is locked out after %s failed logins (path %s)",
        username, client_ip(request), settings.AXES_FAILURE_LIMIT, request.path,
    )
    return render(
        request,
        "registration/locked_out.html",
        {"cooloff_minutes": settings.AXES_COOLOFF_MINUTES, "username": username},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, leaving PDFs (waybill labels, pick lists, seal labels) alone.

    Chrome shows a PDF in a viewer page of its own, with inline styles and an ``<embed>``
    that our policy refuses: the label opened blank (crbug.com/271452). A PDF runs none of
    our scripts, so the policy protects nothing there; nosniff and the other headers stay.
    """

    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("application/pdf"):
            response._csp_exempt = True
            response._csp_exempt_ro = True
        return super().process_response(request, response)
