"""Change requests and their approval chain (a part of fulfillment)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChangeRequestsConfig(AppConfig):
    name = "fulfillment.changes"
    label = "changes"
    verbose_name = _("Change requests")
