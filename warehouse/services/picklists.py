"""Pick lists: one order or a wave, rendered as PDF with barcodes.

A wave merges the lines of N orders of one warehouse per SKU (kits as their
components), sorted along the bins' pick path; each order gets a tote slot.
An order is on at most one active pick list, so it is never in two queues.
"""

from __future__ import annotations

import base64
import functools
import io
import re
import struct
import zlib
from dataclasses import dataclass, field

import barcode
import qrcode
import qrcode.image.svg
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from orderhub.models import Order, OrderStatus, OrderTransitionLog
from orderhub.services.orders import Actor, actor_info
from warehouse.models import SKU, PickList, PickListOrder, PickTask, SkuLocation, Warehouse
from warehouse.services.stock import StockError, units_to_ship

PICKABLE = (OrderStatus.READY_TO_PICK, OrderStatus.PICKING)
# An order in one of these has left the pick queue: no list may send a picker to it.
OFF_QUEUE = (OrderStatus.REVIEW, OrderStatus.OUT_OF_STOCK, OrderStatus.CANCELLED)
# So has an order the platform shipped before the hub picked it. Its status
# (shipped, later delivered) is shared with orders the hub shipped, which stay
# on their lists as printed; the transition that shipped it tells them apart.
SHIPPED_ON_PLATFORM = "ship_on_platform"
MAX_WAVE = 200
FORMATS = ("a4", "label")


class PickListError(StockError):
    pass


def shipped_on_platform(order_ref: str = "order_id") -> Exists:
    """True for an order (the outer query's ``order_ref``) the platform shipped itself.

    Such an order never comes back to the queue: shipped only moves on to delivered.
    """
    return Exists(OrderTransitionLog.objects.filter(order_id=OuterRef(order_ref),
                                                    transition=SHIPPED_ON_PLATFORM))


# --- barcodes --------------------------------------------------------------------


class SvgImage(str):
    """A data: URI that also knows its printed size, for ``<img style="width:…">``."""

    width_mm: float = 0
    height_mm: float = 0

    @property
    def style(self) -> str:
        return f"width:{self.width_mm}mm;height:{self.height_mm}mm"


MODULE_MM = 0.25
QUIET_MM = 2.0


def code128_svg(value: str, *, height_mm: float = 10.0) -> SvgImage:
    """A Code128 barcode of ``value`` as a data: URI (SVG), without human text.

    python-barcode encodes the value; the bars are drawn here as ONE ``<path>``
    (python-barcode's own writer emits one ``<rect>`` per bar, which makes a
    100-order wave take WeasyPrint several seconds longer). The value is also
    printed as page text, so it reads in ``pdftotext`` and survives a poor
    print. Show it at ``.style`` (0.25 mm modules): scaled down, cheap label
    printers blur the bars.
    """
    modules = barcode.get("code128", value).build()[0]
    width = len(modules) * MODULE_MM + 2 * QUIET_MM
    # One stroked path per bar width (Code128 has four): each bar is a short
    # "M x 0v h" line, half the path data WeasyPrint must parse per barcode
    # compared with one filled rectangle per bar.
    by_width: dict[int, list[str]] = {}
    for m in re.finditer("1+", modules):
        n = len(m.group())
        x = QUIET_MM + (m.start() + n / 2) * MODULE_MM
        by_width.setdefault(n, []).append(f"M{x:g} 0v{height_mm:g}")
    paths = "".join(
        f'<path stroke="#000" stroke-width="{n * MODULE_MM:g}" d="{"".join(d)}"/>'
        for n, d in sorted(by_width.items())
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:g}mm" height="{height_mm:g}mm" '
        f'viewBox="0 0 {width:g} {height_mm:g}"><rect width="100%" height="100%" fill="#fff"/>'
        f'{paths}</svg>'
    )
    image = SvgImage("data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode())
    image.width_mm, image.height_mm = width, height_mm
    return image


# A raster module of MODULE_MM at this resolution (CSS ``image-resolution``): the PNG
# barcodes below print at their exact size with no width/height of their own.
PNG_DPI = 25.4 / MODULE_MM


@functools.lru_cache(maxsize=4096)
def code128_png(value: str, *, height_mm: float = 10.0) -> SvgImage:
    """A Code128 barcode of ``value`` as a data: URI (1-bit PNG), one pixel per module.

    For the pick lists, where a 100-order wave carries ~160 barcodes: WeasyPrint
    parses and draws an SVG's paths on every render (~40 % of a wave's time),
    whereas this PNG is a few hundred bytes it embeds as one image (identical
    barcodes once). Shown with ``image-resolution: 101.6dpi`` (one pixel = 0.25 mm)
    and ``image-rendering: pixelated`` (no smoothing: printers get sharp bars).
    Cached per value: a SKU's barcode is built once per process.
    """
    modules = barcode.get("code128", value).build()[0]
    quiet = "0" * round(QUIET_MM / MODULE_MM)
    bars = quiet + modules + quiet
    # Grey 1-bit: 0 is black. A row, padded to whole bytes, repeated (filter 0 each).
    bits = "".join("0" if b == "1" else "1" for b in bars)
    bits += "1" * (-len(bits) % 8)
    row = b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")
    height_px = max(1, round(height_mm / MODULE_MM))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", len(bars), height_px, 1, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(row * height_px, 9)) + chunk(b"IEND", b""))
    image = SvgImage("data:image/png;base64," + base64.b64encode(png).decode())
    image.width_mm, image.height_mm = len(bars) * MODULE_MM, height_px * MODULE_MM
    return image


def qr_svg(value: str) -> str:
    img = qrcode.make(value, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buf = io.BytesIO()
    img.save(buf)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


# --- creating -------------------------------------------------------------------------


def _next_number() -> str:
    today = timezone.localdate()
    prefix = f"PL{today:%y%m%d}"
    last = (PickList.objects.filter(number__startswith=prefix, original__isnull=True)
            .order_by("-number").values_list("number", flat=True).first())
    seq = int(last[len(prefix):]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


def picklist_create(*, orders, actor: Actor, warehouse: Warehouse | None = None) -> PickList:
    """Make a pick list for one order or a wave of orders of one warehouse.

    Orders must be ready to pick (or being picked) and on no other active list.
    """
    who = actor_info(actor)
    ids = [o.pk if isinstance(o, Order) else int(o) for o in orders]
    if not ids:
        raise PickListError(_("Choose at least one order."))
    if len(ids) > MAX_WAVE:
        raise PickListError(_("A wave holds at most %(n)s orders.") % {"n": MAX_WAVE})
    with transaction.atomic():
        locked = list(Order.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        if len(locked) != len(set(ids)):
            raise PickListError(_("Some of these orders do not exist."))
        by_id = {o.pk: o for o in locked}
        ordered = [by_id[i] for i in dict.fromkeys(ids)]
        warehouses = {o.warehouse_id for o in ordered}
        if None in warehouses:
            raise PickListError(_("Every order needs a warehouse first."))
        if len(warehouses) > 1:
            raise PickListError(_("A wave holds orders of one warehouse only."))
        if warehouse is not None and warehouse.pk not in warehouses:
            raise PickListError(_("These orders belong to another warehouse."))
        not_ready = [o.number for o in ordered if o.status not in PICKABLE]
        if not_ready:
            raise PickListError(
                _("Not ready to pick: %(numbers)s") % {"numbers": ", ".join(not_ready)}
            )
        busy = sorted(set(PickListOrder.objects.filter(
            order_id__in=ids, pick_list__status=PickList.Status.ACTIVE
        ).values_list("order__number", flat=True)))
        if busy:
            raise PickListError(
                _("Already on an active pick list: %(numbers)s") % {"numbers": ", ".join(busy)}
            )
        pick_list = PickList.objects.create(
            number=_next_number(), warehouse_id=warehouses.pop(),
            kind=PickList.Kind.WAVE if len(ordered) > 1 else PickList.Kind.SINGLE,
            created_by=who.label,
        )
        PickListOrder.objects.bulk_create(
            PickListOrder(pick_list=pick_list, order=o, slot=n)
            for n, o in enumerate(ordered, start=1)
        )
    return pick_list


def picklist_reprint(*, pick_list: PickList, actor: Actor, without=()) -> PickList | None:
    """A new copy marked "REPRINT n"; every earlier copy is voided.

    ``without``: order ids left off the copy; orders that may no longer be
    picked here (``OFF_QUEUE``, or routed elsewhere) are always left off. The
    others keep their tote slots. When no order is left, the list is only
    voided and None returned.
    """
    who = actor_info(actor)
    without = set(without)
    with transaction.atomic():
        root = pick_list.original or pick_list
        root = PickList.objects.select_for_update().get(pk=root.pk)
        chain = PickList.objects.filter(pk=root.pk) | root.reprints.all()
        n = root.reprints.count() + 1
        # The newest copy's slots: an order dropped from an earlier copy stays dropped.
        newest = chain.order_by("-reprint", "-pk").first()
        slots = [
            (oid, slot) for oid, slot, status, warehouse_id, elsewhere in newest.slots
            .annotate(elsewhere=shipped_on_platform()).values_list(
                "order_id", "slot", "order__status", "order__warehouse_id", "elsewhere")
            if oid not in without and status not in OFF_QUEUE and not elsewhere
            and warehouse_id == root.warehouse_id
        ]
        if not slots and not without:
            raise PickListError(
                _("Every order of this pick list was taken off it: nothing to reprint."))
        chain.filter(status=PickList.Status.ACTIVE).update(
            status=PickList.Status.VOID, voided_at=timezone.now()
        )
        if not slots:
            return None
        copy = PickList.objects.create(
            number=f"{root.number}R{n}", warehouse_id=root.warehouse_id, kind=root.kind,
            reprint=n, original=root, created_by=who.label,
        )
        PickListOrder.objects.bulk_create(
            PickListOrder(pick_list=copy, order_id=oid, slot=slot) for oid, slot in slots
        )
    return copy


def picklists_drop_stale(*, order_ids, actor: Actor) -> list[dict]:
    """Take orders that may no longer be picked off their active pick lists.

    An order is stale on a list when it left the pick queue (``OFF_QUEUE``:
    review, out of stock, cancelled; or shipped by the platform itself) or is
    now routed to another warehouse than the list's. Each list holding one is
    voided and reprinted without it (only voided if nothing is left), and the
    open pick task of a cancelled or platform-shipped order is abandoned, so no
    picker is sent to it. Decided from the orders' current
    rows, so calling it again, or for orders that are fine, changes nothing.
    Returns ``[{"voided", "printed", "printed_id"}]`` per list replaced.
    """
    ids = list(dict.fromkeys(int(i) for i in order_ids))
    if not ids:
        return []
    # The webhook path runs this for every order it allocates, and almost none is
    # on a list yet: one cheap probe by order id (pick list and task by primary key)
    # decides whether there is anything to look at. Planning the full check's
    # joins cost 100x its execution, for nothing, on every order.
    on_list = (PickListOrder.objects.filter(order_id__in=ids,
                                            pick_list__status=PickList.Status.ACTIVE)
               .order_by().values_list("order_id", flat=True))
    picking = (PickTask.objects.filter(order_id__in=ids, status=PickTask.Status.OPEN)
               .order_by().values_list("order_id", flat=True))
    ids = sorted(set(on_list.union(picking, all=True)))
    if not ids:
        return []
    report = []
    with transaction.atomic():
        stale = (PickListOrder.objects
                 .filter(order_id__in=ids, pick_list__status=PickList.Status.ACTIVE)
                 .filter(Q(order__status__in=OFF_QUEUE) | Q(order__warehouse__isnull=True)
                         | ~Q(order__warehouse_id=F("pick_list__warehouse_id"))
                         | shipped_on_platform())
                 .order_by("pick_list_id").values_list("pick_list_id", "order_id"))
        by_list: dict[int, set[int]] = {}
        for list_id, order_id in stale:
            by_list.setdefault(list_id, set()).add(order_id)
        for pick_list in PickList.objects.filter(pk__in=by_list).order_by("pk"):
            copy = picklist_reprint(pick_list=pick_list, actor=actor,
                                    without=by_list[pick_list.pk])
            report.append({"voided": pick_list.number,
                           "printed": copy.number if copy else None,
                           "printed_id": copy.pk if copy else None})
        PickTask.objects.filter(order_id__in=ids, status=PickTask.Status.OPEN).filter(
            Q(order__status=OrderStatus.CANCELLED) | shipped_on_platform()
        ).update(
            status=PickTask.Status.ABANDONED, finished_at=timezone.now())
    return report


# --- reading --------------------------------------------------------------------------


@dataclass
class PickRow:
    sku: SKU
    bin_code: str
    pick_order: int
    quantity: int = 0
    is_gift: bool = False
    # slot number → units for that slot's tote
    per_slot: dict[int, int] = field(default_factory=dict)
    barcode_svg: str = ""

    @property
    def slots_text(self) -> str:
        return "  ".join(f"#{s}×{q}" for s, q in sorted(self.per_slot.items()))


@dataclass
class SlotView:
    slot: int
    order: Order
    barcode_svg: str
    lines: list[dict]


def expand_lines(order: Order, skus: dict[str, SKU]) -> list[tuple[SKU, int, bool, str]]:
    """(sku, units, is_gift, sold as) for each physical item still to ship; kits as components.

    Only what the platform has not shipped yet: a line shipped in full is left
    out, a partly shipped one (and its kit's components) counts the rest.
    """
    items = []
    for line in order.lines.all():
        units = units_to_ship(line.quantity, line.shipped_quantity)
        if not units:
            continue
        sku = skus.get(line.sku_code)
        if sku is None:
            raise PickListError(_("%(code)s is not in the catalogue.") % {"code": line.sku_code})
        gift = line.is_gift or sku.is_gift
        if sku.is_kit:
            for comp in sku.components.all():
                items.append((comp.component, comp.quantity * units, gift, sku.code))
        else:
            items.append((sku, units, gift, ""))
    return items


def catalogue_for(orders) -> dict[str, SKU]:
    codes = {line.sku_code for o in orders for line in o.lines.all()
             if units_to_ship(line.quantity, line.shipped_quantity)}
    return {
        s.code: s
        for s in SKU.objects.filter(code__in=codes).prefetch_related("components__component")
    }


def bin_lookup(warehouse_id: int, skus) -> dict[int, tuple[str, int]]:
    return {
        loc.sku_id: (loc.bin.code, loc.bin.pick_order)
        for loc in SkuLocation.objects.filter(warehouse_id=warehouse_id, sku__in=skus)
        .select_related("bin")
    }


def picklist_context(pick_list: PickList, *, order_url=None) -> dict:
    slots = list(pick_list.slots.select_related("order__channel").prefetch_related("order__lines"))
    orders = [s.order for s in slots]
    skus = catalogue_for(orders)
    expanded = {s.slot: expand_lines(s.order, skus) for s in slots}
    all_skus = {item[0] for items in expanded.values() for item in items}
    bins = bin_lookup(pick_list.warehouse_id, all_skus)
    rows: dict[tuple[int, bool], PickRow] = {}
    slot_views = []
    for s in slots:
        lines = []
        for sku, qty, gift, sold_as in expanded[s.slot]:
            bin_code, order_no = bins.get(sku.pk, ("", 10**9))
            row = rows.setdefault((sku.pk, gift), PickRow(sku, bin_code, order_no, is_gift=gift))
            row.quantity += qty
            row.per_slot[s.slot] = row.per_slot.get(s.slot, 0) + qty
            lines.append({"sku": sku, "quantity": qty, "is_gift": gift, "bin": bin_code,
                          "sold_as": sold_as})
        lines.sort(key=lambda x: (x["is_gift"], bins.get(x["sku"].pk, ("", 10**9))[1]))
        slot_views.append(
            SlotView(s.slot, s.order, code128_png(s.order.number, height_mm=6), lines)
        )
    for row in rows.values():
        row.barcode_svg = code128_png(row.sku.code, height_mm=6)
    ordered = sorted(rows.values(), key=lambda r: (r.pick_order, r.bin_code, r.sku.code))
    return {
        "pick_list": pick_list,
        "list_barcode": code128_png(pick_list.number),
        "purchased": [r for r in ordered if not r.is_gift],
        "gifts": [r for r in ordered if r.is_gift],
        "slots": slot_views,
        "total_units": sum(r.quantity for r in ordered),
        "printed_at": timezone.localtime(),
    }


def render_pdf(template: str, context: dict, *, base_url: str = "") -> bytes:
    return render_pdf_string(render_to_string(template, context), base_url=base_url)


def render_pdf_string(html: str, *, base_url: str = "") -> bytes:
    # Imported on first use (or by warehouse.pdf.prewarm at process start): WeasyPrint
    # loads Pango/Cairo, which only printing needs.
    from weasyprint import HTML

    return HTML(string=html, base_url=base_url or None).write_pdf()


def picklist_pdf(pick_list: PickList, *, page: str = "a4") -> bytes:
    if page not in FORMATS:
        raise PickListError(_("Unknown paper format %(f)s.") % {"f": page})
    context = picklist_context(pick_list)
    context["page"] = page
    return render_pdf("warehouse/picklist_pdf.html", context)


def seal_label_pdf(order: Order, *, order_url: str) -> bytes:
    """The "one order, one seal" label: order number barcode and a QR code to the order."""
    if order.warehouse_id is None:
        raise PickListError(_("The order has no warehouse yet."))
    skus = catalogue_for([order])
    items = expand_lines(order, skus)
    return render_pdf("warehouse/seal_label_pdf.html", {
        "order": order,
        "order_barcode": code128_svg(order.number, height_mm=14),
        "qr": qr_svg(order_url),
        "order_url": order_url,
        "units": sum(q for _s, q, _g, _a in items),
        "gifts": sum(q for _s, q, g, _a in items if g),
        "printed_at": timezone.localtime(),
    })


def find_pick_list(number: str) -> PickList | None:
    return PickList.objects.filter(number=number.strip()).first()
