"""Where ``/`` and a login without ``next`` land (each role on the page of its daily job),
and the favicon browsers ask for at the root."""

from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import reverse

from orderhub.guard import staff_view


def landing_url_name(user) -> str:
    """Pickers work on the phone scanning screen, everyone else from the order list.

    A picker is who may scan but not change orders (managers may do both and keep the list).
    """
    if user.has_perm("warehouse.scan_pick") and not user.has_perm("orderhub.change_order"):
        return "scan"
    return "orders:list"


@staff_view()
def home(request):
    return redirect(landing_url_name(request.user))


class LoginView(auth_views.LoginView):
    """The login page; without ``next`` each role lands on its own page, not all on
    ``LOGIN_REDIRECT_URL`` (a picker on the desktop order list had to find /scan/)."""

    def get_default_redirect_url(self):
        return reverse(landing_url_name(self.request.user))


def favicon(request):
    """``/favicon.ico``: browsers ask for it whatever the page links (a 404 in every log).

    A temporary redirect: the static file's hashed name changes with each deploy.
    """
    response = redirect(static("favicon.ico"))
    response["Cache-Control"] = "max-age=86400"
    return response
