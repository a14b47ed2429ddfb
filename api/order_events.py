"""Labels of the order events the open API writes, for the order timeline."""

from django.utils.translation import gettext_lazy as _

from orderhub.events import register_event_kinds

register_event_kinds({
    "wms_outbound": _("WMS outbound callback"),
})
