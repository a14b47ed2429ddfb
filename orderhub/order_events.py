"""The core's own order event kinds, for the timeline."""

from orderhub.events import register_event_kinds
from orderhub.models import OrderEvent

register_event_kinds(dict(OrderEvent.Kind.choices))
