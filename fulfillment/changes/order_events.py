"""Labels of the order events change requests write, for the order timeline."""

from django.utils.translation import gettext_lazy as _

from orderhub.events import register_event_kinds

register_event_kinds({
    "change_requested": _("Change requested"),
    "change_approved_step": _("Change step approved"),
    "change_rejected": _("Change rejected"),
    "change_applied": _("Change applied"),
    "change_apply_failed": _("Change could not be applied"),
    "change_withdrawn": _("Change withdrawn"),
})
