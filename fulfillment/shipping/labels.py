"""Shipping labels: the 100×150 mm PDF a booked waybill prints, and storing it.

Part of the shipping services (``fulfillment.shipping.services`` re-exports the
public names).
"""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.recipient import real_recipient
from fulfillment.shipping.models import Waybill
from fulfillment.shipping.selectors import ACTOR
from orderhub.services.events import order_event_record
from warehouse.services.picklists import code128_svg, render_pdf


def _mask_phone(phone: str) -> str:
    digits = phone[3:] if phone.startswith("+86") else phone.lstrip("+")
    if len(digits) < 7:
        return digits
    return f"{digits[:3]}****{digits[-4:]}"


def _address(province: str, city: str, district: str, street: str, country: str = "CN") -> str:
    """Chinese addresses run together (上海市浦东新区…); others read with spaces."""
    parts = [province, "" if city == province else city, district, street]
    return ("" if country in ("", "CN") else " ").join(p for p in parts if p)


def label_pdf(waybill: Waybill) -> bytes:
    """The 100×150 mm label. Raises ``NeedsPlatformDecryption`` for encrypted recipients."""
    order = waybill.order
    recipient = real_recipient(order)
    lines = list(order.lines.all())
    return render_pdf("shipping/label_pdf.html", {
        "waybill": waybill,
        "account": waybill.account,
        "order": order,
        "recipient": recipient,
        "recipient_address": _address(recipient.province, recipient.city, recipient.district,
                                      recipient.street, recipient.country),
        # Privacy labels: the courier's scanner has the full number, the box does not.
        "recipient_phone": _mask_phone(recipient.phone),
        "sender_phone": _mask_phone(waybill.account.sender_phone),
        "barcode": code128_svg(waybill.tracking_number, height_mm=16),
        "order_barcode": code128_svg(order.number, height_mm=8),
        "units": sum(ln.quantity for ln in lines),
        "lines": lines[:6],
        "printed_at": timezone.localtime(),
    })


def label_store(*, waybill: Waybill) -> None:
    pdf = label_pdf(waybill)
    waybill.label.save(f"{waybill.tracking_number}.pdf", ContentFile(pdf), save=False)
    Waybill.objects.filter(pk=waybill.pk).update(label=waybill.label.name)
    order_event_record(order=waybill.order_id, kind="label_printed", actor=ACTOR,
                       message=_("Label rendered for %(number)s.") % {
                           "number": waybill.tracking_number},
                       data={"waybill_id": waybill.pk})

