"""Labels of the order events shipping writes, for the order timeline."""

from django.utils.translation import gettext_lazy as _

from orderhub.events import register_event_kinds

register_event_kinds({
    "waybill_booked": _("Waybill booked"),
    "waybill_failed": _("Waybill booking failed"),
    "waybill_retry": _("Waybill booking retried"),
    "waybill_cancelled": _("Waybill cancelled"),
    "waybill_cancel_failed": _("Waybill cancellation failed"),
    "label_printed": _("Label printed"),
})
