"""Labels of the order events the channels write, for the order timeline."""

from django.utils.translation import gettext_lazy as _

from orderhub.events import register_event_kinds

register_event_kinds({
    "address_missing": _("No shipping address from the platform"),
    "address_received": _("Shipping address received from the platform"),
    "platform_shipped": _("Shipped on the platform"),
    "platform_shipped_while_picking": _("Shipped on the platform while being picked"),
    "intercept_requested": _("Intercept requested by the platform"),
    "platform_change_pending": _("Platform change waiting"),
    "shipment_pushed": _("Shipment sent to the platform"),
    "shipment_push_failed": _("Shipment not accepted by the platform"),
})
