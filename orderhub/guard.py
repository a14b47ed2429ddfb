"""The one view guard: a login (HTMX-aware) and a permission check, for every staff view.

A partial can be requested directly, so the check belongs to each view, not to
the page that links to it. An expired session on an HTMX request redirects the
whole page to the login (``HX-Redirect``) instead of swapping the login form into
the target; a refused user gets a 403 page, or a fragment for HTMX.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render, resolve_url
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect


def refuse(request, message: str | None = None, status: int = 403):
    """The refusal page (or, for HTMX, the same template as a fragment)."""
    return render(request, "error.html", {
        "message": message or _("You do not have permission to see this page."),
        "status": status,
    }, status=status)


def login_response(request):
    path = request.get_full_path()
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?next={path}")
    return redirect_to_login(path)


def staff_view(*perms: str, check: Callable | None = None, on_refuse: Callable | None = None):
    """Require a login and any one of ``perms`` (and ``check(user)`` when given).

    ``on_refuse(request, message, status)`` renders the refusal where a page has
    its own alert box; the default is ``refuse``.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return login_response(request)
            allowed = (not perms or any(user.has_perm(p) for p in perms)) and (
                check is None or check(user))
            if not allowed:
                return (on_refuse or refuse)(
                    request, _("You do not have permission to see this page."), 403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
