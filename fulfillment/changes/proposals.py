"""Change request proposals: what a request may touch, the diff it shows, and checking
what a person proposed. Pure reads and validation; the services file, decide and apply.

``fulfillment.changes.services`` re-exports these names for its importers.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from fulfillment.changes.models import ChangeRequest
from orderhub.models import Order, normalize_phone
from orderhub.services.orders import OrderServiceError
from warehouse.models import SKU

# The order fields a change request may change, in display order.
FIELDS = [
    "ship_name", "ship_phone", "ship_province", "ship_city", "ship_district",
    "ship_street", "ship_postcode", "carrier", "priority",
]


class ChangeRequestError(OrderServiceError):
    """A refused request; ``status`` is the HTTP status a view returns."""


class ChangeNotPermitted(ChangeRequestError):
    status = 403


class ChangeConflict(ChangeRequestError):
    status = 409


# --- reading values -------------------------------------------------------------------


def _field_value(order: Order, name: str):
    value = getattr(order, name)
    return int(value) if name == "priority" else (value or "")


def _line_json(line) -> dict:
    return {"sku_code": line.sku_code, "name": line.name, "quantity": line.quantity,
            "unit_price": str(line.unit_price), "is_gift": line.is_gift}


def order_snapshot(order: Order) -> dict:
    """The values a change request can touch, as JSON."""
    return {
        "status": order.status,
        "fields": {name: _field_value(order, name) for name in FIELDS},
        "lines": [_line_json(line) for line in order.lines.all()],
    }


def _key(line: dict) -> tuple[str, bool]:
    return line["sku_code"], bool(line.get("is_gift"))


def lines_diff(old: list[dict], new: list[dict]) -> list[dict]:
    """Row per (SKU, gift): old and new quantity/price and what happened to it."""
    old_by = {}
    for line in old:
        # Duplicate SKUs on an imported order: compare their sum.
        row = old_by.setdefault(_key(line), dict(line, quantity=0))
        row["quantity"] += int(line["quantity"])
    new_by = {_key(line): line for line in new}
    rows = []
    for key in [*old_by, *[k for k in new_by if k not in old_by]]:
        before, after = old_by.get(key), new_by.get(key)
        if before and after:
            same = (int(before["quantity"]) == int(after["quantity"])
                    and Decimal(before["unit_price"]) == Decimal(after["unit_price"]))
            change = "same" if same else "changed"
        else:
            change = "added" if after else "removed"
        rows.append({
            "sku_code": key[0], "is_gift": key[1],
            "name": (after or before).get("name", ""),
            "old_quantity": before["quantity"] if before else None,
            "new_quantity": after["quantity"] if after else None,
            "old_price": before["unit_price"] if before else None,
            "new_price": after["unit_price"] if after else None,
            "change": change,
        })
    return rows


def compute_diff(old: dict, proposed: dict) -> dict:
    """``{"fields": [{"field", "old", "new"}], "lines": [...] }``, only what changes."""
    fields = [
        {"field": name, "old": old["fields"].get(name), "new": value}
        for name, value in proposed.get("fields", {}).items()
        if old["fields"].get(name) != value
    ]
    diff: dict = {"fields": fields}
    if "lines" in proposed:
        rows = lines_diff(old["lines"], proposed["lines"])
        if any(r["change"] != "same" for r in rows):
            diff["lines"] = rows
    if proposed.get("note"):
        diff["note"] = proposed["note"]
    return diff


def diff_is_empty(diff: dict) -> bool:
    return not (diff.get("fields") or diff.get("lines") or diff.get("note"))


# --- validating the proposal ---------------------------------------------------------


def _clean_lines(lines, old_lines: list[dict]) -> list[dict]:
    out = []
    for raw in lines:
        code = (raw.get("sku_code") or "").strip()
        try:
            quantity = int(raw.get("quantity"))
            price = Decimal(str(raw.get("unit_price", "0")).strip() or "0")
        except (TypeError, ValueError, InvalidOperation) as exc:
            raise ChangeRequestError(
                _("Line %(sku)s: give a whole quantity and a price.") % {"sku": code or "?"}
            ) from exc
        if not code:
            raise ChangeRequestError(_("Every line needs a SKU."))
        if quantity < 1:
            raise ChangeRequestError(
                _("Line %(sku)s: the quantity must be at least 1 (remove the line instead).")
                % {"sku": code})
        if price < 0 or price != price.quantize(Decimal("0.01")):
            raise ChangeRequestError(
                _("Line %(sku)s: the price must be a positive amount with at most two "
                  "decimals.") % {"sku": code})
        out.append({"sku_code": code, "name": (raw.get("name") or "").strip(),
                    "quantity": quantity, "unit_price": str(price.quantize(Decimal("0.01"))),
                    "is_gift": bool(raw.get("is_gift"))})
    if not out:
        raise ChangeRequestError(_("An order needs at least one line."))
    keys = [_key(line) for line in out]
    if len(set(keys)) != len(keys):
        raise ChangeRequestError(_("Each SKU may appear only once (once more as a gift)."))
    # Lines the order already has keep their name; new SKUs must be in the
    # catalogue (the pick list cannot print a SKU it does not know).
    old_names = {_key(line): line["name"] for line in old_lines}
    codes = {line["sku_code"] for line in out if _key(line) not in old_names}
    known = dict(SKU.objects.filter(code__in=codes).values_list("code", "name"))
    unknown = sorted(codes - set(known))
    if unknown:
        raise ChangeRequestError(
            _("Not in the catalogue: %(codes)s") % {"codes": ", ".join(unknown)})
    for line in out:
        line["name"] = old_names.get(_key(line)) or line["name"] or known[line["sku_code"]]
    return out


def clean_proposal(order: Order, kind: str, proposed: dict, old: dict) -> dict:
    if kind == ChangeRequest.Kind.INTERCEPT:
        return {}
    clean: dict = {"fields": {}}
    for name, value in (proposed.get("fields") or {}).items():
        if name not in FIELDS:
            raise ChangeRequestError(_("“%(field)s” cannot be changed here.") % {"field": name})
        if name == "priority":
            try:
                value = int(value)
            except (TypeError, ValueError) as exc:
                raise ChangeRequestError(_("Choose a priority.")) from exc
            if value not in Order.Priority.values:
                raise ChangeRequestError(_("Choose a priority."))
        else:
            value = " ".join(str(value or "").split())
        if name in ("ship_name", "ship_phone", "ship_province", "ship_city", "ship_street") \
                and not value and old["fields"].get(name):
            raise ChangeRequestError(
                _("%(field)s cannot be emptied.")
                % {"field": Order._meta.get_field(name).verbose_name.capitalize()})
        if value != old["fields"].get(name):
            clean["fields"][name] = value
    if "ship_phone" in clean["fields"]:
        try:
            clean["fields"]["ship_phone"] = normalize_phone(
                clean["fields"]["ship_phone"], order.ship_country or "CN")
        except ValidationError as exc:
            raise ChangeRequestError(" ".join(exc.messages)) from exc
        if clean["fields"]["ship_phone"] == old["fields"]["ship_phone"]:
            del clean["fields"]["ship_phone"]
    if proposed.get("lines") is not None:
        clean["lines"] = _clean_lines(proposed["lines"], old["lines"])
    note = " ".join(str(proposed.get("note") or "").split())
    if note:
        clean["note"] = note
    return clean


