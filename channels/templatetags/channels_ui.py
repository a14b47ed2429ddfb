"""Template tags for channel data shown on other apps' pages.

The order page includes ``channels/order_panel.html`` by name (the order core
never imports this app); the panel asks ``channels_order_panel`` for its data.
"""

from __future__ import annotations

import html
import re

from django import template
from django.db.models import Count, Max, Q
from django.utils.html import strip_tags

from channels.connectors.cn import ENCRYPTED_PLATFORMS, decryption_configured
from channels.models import DecryptAudit, RawPayload, ShipmentPush
from channels.recipient import masked_any, shown_recipient

register = template.Library()

_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.I | re.S)
_TITLE = re.compile(r"<(title|h1)\b[^>]*>(.*?)</\1\s*>", re.I | re.S)
ERROR_TEXT_LIMIT = 200


@register.filter
def no_ciphertext(value):
    """A buyer field for lists, where the platform is not at hand: any platform's
    ciphertext format (``$…$1$``, ``~…~0~``, ``#…#1##``) shows as a mask, never as
    ciphertext; masked and plain values pass through."""
    return masked_any(value)


@register.filter
def error_text(value, limit: int = ERROR_TEXT_LIMIT) -> str:
    """A stored platform error as one short line of text.

    A vendor's proxy or error page (e.g. Shopify's "502 Bad Gateway" HTML) ends up
    whole in the error ("Shopify: HTTP 502: <!DOCTYPE html>..."): the page shows
    the part before the markup plus the page's title (or its text, tags stripped),
    never the HTML itself.
    """
    text = str(value or "")
    match = _TAG.search(text)
    if match:
        prefix, markup = text[:match.start()], text[match.start():]
        title = _TITLE.search(markup)
        body = title.group(2) if title else _HIDDEN.sub(" ", markup)
        text = prefix + html.unescape(strip_tags(body))
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    return text


@register.simple_tag(takes_context=True)
def recipient_shown(context, order, purpose: str = ""):
    """``{% recipient_shown order "order_page" as who %}``: the buyer and address as
    the page may show them (``channels.recipient.shown_recipient``), never ciphertext.

    Only the order page passes a purpose (and so may decrypt, audited, as the
    request's user); the pick screen shows the platform's masked values.
    """
    if purpose and purpose not in DecryptAudit.Purpose.values:
        raise template.TemplateSyntaxError(f"recipient_shown: unknown purpose {purpose!r}")
    request = context.get("request")
    return shown_recipient(order, actor=getattr(request, "user", None), purpose=purpose)


def decryption_state(order) -> str:
    """"" (recipient in clear), "configured" (decrypted when a label is printed) or
    "needed" (the platform encrypts it and the channel cannot decrypt: no labels)."""
    channel = order.channel  # loaded with the order on the order page
    if channel.platform not in ENCRYPTED_PLATFORMS:
        return ""
    return "configured" if decryption_configured(channel) else "needed"


def order_panel_data(*, order, user) -> dict | None:
    """What ``user`` may see of ``order``'s platform sync, or None when nothing.

    At most three queries whatever the number of pushes and attempts.
    """
    can_pushes = user.has_perm("channels.view_shipmentpush")
    can_attempts = can_pushes and user.has_perm("channels.view_shipmentpushattempt")
    can_payloads = user.has_perm("channels.view_rawpayload")
    if not (can_pushes or can_payloads):
        return None
    data: dict = {"can_pushes": can_pushes, "can_attempts": can_attempts,
                  "can_payloads": can_payloads, "decryption": decryption_state(order)}
    if can_pushes:
        pushes = ShipmentPush.objects.filter(order=order).select_related("channel")
        if can_attempts:
            pushes = pushes.prefetch_related("attempt_rows")
        data["pushes"] = list(pushes)
        data["any_failed"] = any(p.status == ShipmentPush.Status.FAILED for p in data["pushes"])
    if can_payloads:
        # A payload that never parsed has no order yet; it is still this order's
        # when it carries the order's platform id.
        mine = Q(order=order)
        if order.external_id:
            mine |= Q(channel_id=order.channel_id, external_id=order.external_id)
        data["payloads"] = RawPayload.objects.filter(mine).aggregate(
            count=Count("id"), last_received=Max("received_at"),
            quarantined=Count("id", filter=Q(status=RawPayload.Status.QUARANTINED)),
        )
    return data


@register.simple_tag(takes_context=True)
def channels_order_panel(context, order=None):
    """``{% channels_order_panel as panel %}``: the panel's data, or None to render nothing."""
    order = order or context.get("order")
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if order is None or user is None or not user.is_authenticated:
        return None
    return order_panel_data(order=order, user=user)
