"""Shipping labels: the carrier's own label or our 100×150 mm PDF, and storing it.

Kuaidi100 e-waybills come with the carrier's label image (``data.label``, see
``carriers.kuaidi100``); every other booked waybill prints the hub's PDF.
A wave's labels print as ONE PDF in the pick list's pick order (``wave_labels``):
each label's own pages (the stored file, else what ``label_content`` gives), with a
cover page naming the orders whose label could not be had.

Part of the shipping services (``fulfillment.shipping.services`` re-exports the
public names).
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.recipient import NeedsPlatformDecryption, real_recipient
from fulfillment.shipping.carriers import CarrierError, get_adapter
from fulfillment.shipping.carriers.kuaidi100 import IMAGE_KEY, IMAGE_TYPE_KEY, LABEL_TYPES
from fulfillment.shipping.models import Waybill
from fulfillment.shipping.selectors import ACTOR
from orderhub.services.events import order_event_record
from warehouse.models import PickList
from warehouse.services.picklists import code128_svg, render_pdf

LABEL_WIDTH_MM = 100


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



# --- a wave's labels in one PDF ------------------------------------------------------------

@dataclass(frozen=True)
class SkippedLabel:
    slot: int
    order_number: str
    reason: str


@dataclass
class WaveLabels:
    """A pick list's labels: ``pdf`` is None when not one label could be had."""

    pick_list: PickList
    printed: list[str] = field(default_factory=list)  # tracking numbers, in pick order
    skipped: list[SkippedLabel] = field(default_factory=list)
    pdf: bytes | None = None


def _stored_label(waybill: Waybill) -> tuple[bytes, str] | None:
    if not waybill.label:
        return None
    extension = waybill.label.name.rsplit(".", 1)[-1].lower()
    content_type = {ext: ctype for ctype, ext in LABEL_TYPES.items()}.get(extension)
    if content_type is None:
        return None
    with waybill.label.open("rb") as stored:
        return stored.read(), content_type


def _label_pages(content: bytes, content_type: str):
    """The pages of one label: a PDF's own pages; an image as one 100 mm wide page."""
    from pypdf import PdfReader

    if content_type != "application/pdf":
        from PIL import Image

        image = Image.open(io.BytesIO(content))
        if image.mode not in ("1", "L", "RGB"):
            image = image.convert("RGB")
        page = io.BytesIO()
        # The carrier's image fills the label's width, as its own printout would.
        image.save(page, "PDF", resolution=image.width / (LABEL_WIDTH_MM / 25.4))
        content = page.getvalue()
    return PdfReader(io.BytesIO(content)).pages


def _booked_waybills(order_ids) -> dict[int, Waybill]:
    """Each order's newest booked waybill (one with a tracking number and a carrier)."""
    newest: dict[int, Waybill] = {}
    for waybill in (Waybill.objects.valid().select_related("order", "account")
                    .filter(order_id__in=order_ids, status=Waybill.Status.BOOKED)
                    .exclude(tracking_number="").exclude(account=None)
                    .order_by("order_id", "-created_at", "-id")):
        newest.setdefault(waybill.order_id, waybill)
    return newest


def _not_booked_reason(order_id: int) -> str:
    latest = Waybill.objects.filter(order_id=order_id).order_by("-created_at", "-id").first()
    if latest is None:
        return _("No waybill yet.")
    return _("Waybill not booked: %(status)s.") % {"status": latest.get_status_display()}


def wave_labels(pick_list: PickList) -> WaveLabels:
    """All labels of a pick list's orders in one PDF, in pick (tote slot) order.

    Orders without a booked waybill, or whose label cannot be had now (encrypted
    recipient, carrier down), are listed on a cover page and in ``skipped``; never
    silently left out. Reads only: the carrier's label is fetched, not stored.
    """
    from pypdf import PdfWriter

    slots = list(pick_list.slots.select_related("order").order_by("slot"))
    booked = _booked_waybills([s.order_id for s in slots])
    result = WaveLabels(pick_list=pick_list)
    label_pages = []
    for slot in slots:
        waybill = booked.get(slot.order_id)
        if waybill is None:
            reason = _not_booked_reason(slot.order_id)
        else:
            try:
                content = _stored_label(waybill) or label_content(waybill)
                label_pages.append(_label_pages(*content))
                result.printed.append(waybill.tracking_number)
                continue
            except NeedsPlatformDecryption as exc:
                reason = str(exc)
            except CarrierError as exc:
                reason = _("%(carrier)s could not provide the label: %(error)s") % {
                    "carrier": waybill.account.display_name, "error": exc.message}
        result.skipped.append(SkippedLabel(slot.slot, slot.order.number, reason))
    if not label_pages:
        return result
    writer = PdfWriter()
    if result.skipped:
        cover = render_pdf("shipping/wave_labels_cover_pdf.html", {
            "pick_list": pick_list, "skipped": result.skipped, "printed": len(result.printed),
            "printed_at": timezone.localtime()})
        writer.append(io.BytesIO(cover))
    for pages in label_pages:
        for page in pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    result.pdf = out.getvalue()
    return result
