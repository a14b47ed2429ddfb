"""Ticket reads: the ops queue, and the complaint count the dashboard divides by orders.

Complaint ratio (for reporting): ``complaint_count(orders=…)`` or
``complaint_count(start=…, end=…)`` counts **orders** that have at least one
complaint ticket (kind ``complaint``, linked to an order, any status). An order
with two complaint tickets counts once, so the ratio
``complaint_count(orders=qs) / qs.count()`` stays between 0 and 1. Complaint
tickets without an order are not counted: they cannot be put against orders.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from fulfillment.tickets.models import Ticket

SORTS = {"due": ["due_at", "id"], "-due": ["-due_at", "-id"],
         "created": ["created_at", "id"], "-created": ["-created_at", "-id"]}


def complaint_count(*, orders: QuerySet | None = None, start: dt.datetime | None = None,
                    end: dt.datetime | None = None) -> int:
    """Orders with a complaint ticket, among ``orders`` and/or opened in [start, end).

    ``orders``: an Order queryset (e.g. the dashboard's filtered orders).
    ``start``/``end``: aware datetimes bounding the ticket's creation time.
    """
    tickets = Ticket.objects.filter(kind=Ticket.Kind.COMPLAINT, order__isnull=False)
    if orders is not None:
        tickets = tickets.filter(order__in=orders.values("pk"))
    if start is not None:
        tickets = tickets.filter(created_at__gte=start)
    if end is not None:
        tickets = tickets.filter(created_at__lt=end)
    return tickets.values("order_id").distinct().count()


def ticket_queue(*, user, kind: str = "", status: str = "", mine: bool = False,
                 overdue: bool = False, order_id: int | None = None, q: str = "",
                 sort: str = "due") -> QuerySet:
    """The queue's tickets for ``user`` with its filters; open tickets unless a status is set."""
    qs = Ticket.objects.select_related("assignee", "order", "channel")
    if status == "all":
        pass
    elif status in Ticket.Status.values:
        qs = qs.filter(status=status)
    else:
        qs = qs.filter(status__in=Ticket.OPEN_STATUSES)
    if kind in Ticket.Kind.values:
        qs = qs.filter(kind=kind)
    if mine:
        qs = qs.filter(assignee=user)
    if overdue:
        qs = qs.filter(status__in=Ticket.OPEN_STATUSES, due_at__lt=timezone.now())
    if order_id:
        qs = qs.filter(order_id=order_id)
    q = (q or "").strip()
    if q:
        match = Q(title__icontains=q) | Q(order__number__icontains=q)
        if q.isdigit():
            match |= Q(pk=int(q))
        qs = qs.filter(match)
    return qs.order_by(*SORTS.get(sort, SORTS["due"]))
