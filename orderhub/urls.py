from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from orderhub.views.health import healthz
from orderhub.views.home import LoginView, favicon, home

urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", healthz, name="healthz"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("orders/", include("orderhub.urls_orders")),
    path("admin/", admin.site.urls),
    path("", include("warehouse.urls")),
    path("hooks/", include("channels.urls_hooks")),
    path("channels/", include("channels.urls")),
    path("", include("reporting.urls")),
    path("", include("fulfillment.urls")),
    path("", include("fulfillment.shipping.urls")),
    path("", include("fulfillment.notifications.urls")),
    path("", include("fulfillment.tickets.urls")),
    path("", include("fulfillment.changes.urls")),
    path("", include("webhooks.urls")),
    path("sandbox/", include("channels.urls_sandbox")),
    path("api/", include("api.urls")),
]
