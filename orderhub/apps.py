from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrderHubConfig(AppConfig):
    name = "orderhub"
    verbose_name = _("Orders")

    def ready(self):
        from orderhub import events

        events.autodiscover()
