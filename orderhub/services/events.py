"""Typed order events: the one way any app writes a timeline row.

Every kind is declared with its label in an app's ``order_events`` module
(``orderhub.events.register_event_kinds``); writing an undeclared kind is a bug
(a typo would otherwise show as a raw string on the timeline), so it raises.
"""

from __future__ import annotations

from orderhub.events import declared_event_kinds
from orderhub.models import Order, OrderEvent
from orderhub.services.orders import Actor, actor_info


def order_event_record(*, order: Order | int, kind: str, actor: Actor, message: str = "",
                       data: dict | None = None) -> OrderEvent:
    """Write one timeline event of a declared ``kind`` for ``order`` by ``actor``.

    Call inside the transaction of the change it records, so the event and the
    change commit together.
    """
    if kind not in declared_event_kinds() and kind not in OrderEvent.Kind.values:
        raise ValueError(f"undeclared order event kind {kind!r}: declare it in an "
                         f"app's order_events module")
    who = actor_info(actor)
    order_id = order.pk if isinstance(order, Order) else int(order)
    return OrderEvent.objects.create(order_id=order_id, kind=kind, actor_user=who.user,
                                     actor=who.label, message=message or "", data=data or {})
