"""Labels of the order events the warehouse writes, for the order timeline."""

from django.utils.translation import gettext_lazy as _

from orderhub.events import register_event_kinds

register_event_kinds({
    "pick_problem": _("Picking problem"),
    "pack_verified": _("Verified at packing"),
    "erp_unreachable": _("ERP unreachable at allocation"),
    "presale_deferred": _("Presale: deferred"),
    "presale_released": _("Presale: released to picking"),
    "transfer_requested": _("Transfer requested"),
})
