"""Buyer contact data as a staff role may see it: in full, or masked (issue 15).

Roles that call or write to buyers or fix their addresses (customer service,
the ops lead, admins) hold ``orderhub.view_buyer_contact`` and see the phone,
e-mail and street in full. Every other role that reaches an order (approvers
and reviewers: finance, sales and warehouse managers) sees enough to recognise
the order, not to contact the buyer: the name partly (``张*丰``), the phone as
``138****1234``, the e-mail as ``a***@x.com``, the street and postcode hidden.
Province and city stay: deciding a change or a credit hold needs where the
parcel goes, not the door. Pickers never reach an order page (``/scan/`` shows
name, city and lines).

Pages mask with ``contact_shown`` (template tag ``{% contact %}`` in
``orderhub_ui``) so one rule covers the order page, the review queue and the
change-request pages.
"""

from __future__ import annotations

VIEW_BUYER_CONTACT = "orderhub.view_buyer_contact"

# What a hidden street (or postcode) shows instead: it is there, but not for this role.
HIDDEN = "••••"

# Order fields that carry the buyer's contact data, and how each is masked.
CONTACT_FIELDS = {
    "buyer_name": "name",
    "ship_name": "name",
    "buyer_phone": "phone",
    "ship_phone": "phone",
    "buyer_email": "email",
    "ship_street": "street",
    "ship_postcode": "street",
}


def sees_buyer_contact(user) -> bool:
    """Whether ``user``'s role needs the buyer's full phone, e-mail and street."""
    return bool(user is not None and user.is_authenticated and user.has_perm(VIEW_BUYER_CONTACT))


def mask_phone(phone: str) -> str:
    """``+8613800138000`` -> ``138****8000``: enough to tell buyers apart, not to call them."""
    if not phone:
        return ""
    digits = phone[3:] if phone.startswith("+86") else phone.lstrip("+")
    if "*" in digits:
        return digits  # already masked by the platform (``138****5678``)
    if len(digits) <= 4:
        return "*" * len(digits)
    keep_head = 3 if len(digits) >= 10 else 0
    return f"{digits[:keep_head]}****{digits[-4:]}"


def mask_name(name: str) -> str:
    """``张三丰`` -> ``张*丰``, ``张三`` -> ``张*``, ``Emily Clark`` -> ``E**** C****``."""
    name = (name or "").strip()
    if not name:
        return ""
    if " " in name:
        return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())
    if len(name) <= 2:
        return name[0] + "*" * (len(name) - 1 or 1)
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_email(email: str) -> str:
    """``alice@example.com`` -> ``a***@example.com``."""
    email = (email or "").strip()
    if not email:
        return ""
    local, at, domain = email.partition("@")
    return f"{local[:1]}***{at}{domain}"


def mask_street(street: str) -> str:
    return HIDDEN if (street or "").strip() else ""


MASKS = {"name": mask_name, "phone": mask_phone, "email": mask_email, "street": mask_street}


def contact_shown(value, kind: str, *, full: bool) -> str:
    """``value`` (a buyer's ``kind``: name, phone, email or street) as a role may see it."""
    if kind not in MASKS:
        raise ValueError(f"unknown contact kind {kind!r}")
    if full or value in (None, ""):
        return "" if value is None else value
    return MASKS[kind](str(value))


def field_shown(field: str, value, *, full: bool):
    """An order field's value for display: masked when it is contact data and not ``full``."""
    kind = CONTACT_FIELDS.get(field)
    if kind is None:
        return value
    return contact_shown(value, kind, full=full)
