"""Demo tickets: a few complaints and an open question, so the queue and the
dashboard's complaint ratio have something to show. Idempotent (keyed tickets)."""

from __future__ import annotations

from fulfillment.tickets.models import Ticket
from fulfillment.tickets.services import ticket_open
from orderhub.models import Order

ACTOR = "system:seed_demo"


def seed(stdout) -> None:
    shipped = list(Order.objects.filter(status__in=["shipped", "delivered", "completed"])
                   .order_by("id")[:40:8])
    made = 0
    for order in shipped:
        _ticket, created = ticket_open(
            kind=Ticket.Kind.COMPLAINT, title=f"买家投诉：订单{order.number}包装破损",
            description="买家来电称外包装破损，要求补发。", order=order, actor=ACTOR,
            dedupe_key=f"demo:complaint:{order.pk}")
        made += created
    _ticket, created = ticket_open(
        kind=Ticket.Kind.OTHER, title="核对本周退货入库数量", actor=ACTOR,
        dedupe_key="demo:other:returns")
    made += created
    stdout.write(f"Tickets: {made} demo ticket(s) created.")
