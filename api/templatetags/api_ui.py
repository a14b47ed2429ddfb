from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def wms_callbacks_panel(context):
    """The order's WMS callbacks (source system, operator, time) for its page, or None."""
    order = context.get("order")
    if order is None:
        return None
    callbacks = list(order.wms_callbacks.order_by("received_at", "pk"))
    return {"callbacks": callbacks} if callbacks else None
