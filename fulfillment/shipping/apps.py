from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShippingConfig(AppConfig):
    name = "fulfillment.shipping"
    label = "shipping"
    verbose_name = _("Shipping")

    def ready(self):
        from fulfillment.shipping import receivers

        receivers.connect()
