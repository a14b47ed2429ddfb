"""Message templates, SMS and team alerts through the outbox (a part of fulfillment)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "fulfillment.notifications"
    label = "notifications"
    verbose_name = _("Notifications")

    def ready(self):
        from fulfillment.notifications import receivers

        receivers.connect()
