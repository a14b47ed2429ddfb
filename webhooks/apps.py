"""Outbound webhooks: order and stock events POSTed, signed, to subscribers' URLs."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Outbound webhooks")

    def ready(self):
        from webhooks import receivers

        receivers.connect()
