"""Shipping labels: the carrier's own label or our 100×150 mm PDF, and storing it.

Kuaidi100 e-waybills come with the carrier's label image (``data.label``, see
``carriers.kuaidi100``); every other booked waybill prints the hub's PDF.
Part of the shipping services (``fulfillment.shipping.services`` re-exports the
public names).
"""

from __future__ import annotations

import base64
import binascii

from django.core.files.base import ContentFile
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.recipient import real_recipient
from fulfillment.shipping.carriers import get_adapter
from fulfillment.shipping.carriers.kuaidi100 import IMAGE_KEY, IMAGE_TYPE_KEY, LABEL_TYPES
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


def carrier_label(waybill: Waybill, *, adapter=None) -> tuple[bytes, str] | None:
    """(bytes, content type) of the label the carrier made, or None when it made none.

    Raises ``CarrierError`` when the carrier made one and it cannot be had now.
    """
    data = waybill.label_data or {}
    if data.get(IMAGE_KEY) and data.get(IMAGE_TYPE_KEY) in LABEL_TYPES:
        try:
            return base64.b64decode(data[IMAGE_KEY], validate=True), data[IMAGE_TYPE_KEY]
        except (binascii.Error, ValueError):
            pass  # damaged copy: fetch it again below
    if not data.get("label") or waybill.account is None or waybill.account.kind != "kuaidi100":
        return None
    adapter = adapter or get_adapter(waybill.account)
    return adapter.label_image(str(data["label"]))


def label_content(waybill: Waybill, *, adapter=None) -> tuple[bytes, str]:
    """The label to print: the carrier's own, else the hub's PDF."""
    return carrier_label(waybill, adapter=adapter) or (label_pdf(waybill), "application/pdf")


def label_store(*, waybill: Waybill, adapter=None) -> None:
    content, content_type = label_content(waybill, adapter=adapter)
    name = f"{waybill.tracking_number}.{LABEL_TYPES[content_type]}"
    waybill.label.save(name, ContentFile(content), save=False)
    # The image now lives in the file; the JSON keeps only the carrier's small fields.
    label_data = {k: v for k, v in (waybill.label_data or {}).items()
                  if k not in (IMAGE_KEY, IMAGE_TYPE_KEY)}
    Waybill.objects.filter(pk=waybill.pk).update(label=waybill.label.name,
                                                 label_data=label_data)
    waybill.label_data = label_data
    order_event_record(order=waybill.order_id, kind="label_printed", actor=ACTOR,
                       message=_("Label rendered for %(number)s.") % {
                           "number": waybill.tracking_number},
                       data={"waybill_id": waybill.pk})

