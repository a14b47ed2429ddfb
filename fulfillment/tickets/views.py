"""Ticket pages: the ops queue, a ticket's detail, creating one, and the HTMX actions.

Views parse input, call one service and render; the services hold the rules
(and check permissions again, so a partial requested directly is safe too).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from channels.models import Channel
from fulfillment.tickets import selectors, services
from fulfillment.tickets.models import Ticket
from orderhub.guard import staff_view
from orderhub.models import Order
from warehouse.models import Warehouse

PER_PAGE = 50


class TicketForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Ticket.Kind.choices)
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 4}))
    order_number = forms.CharField(label=gettext_lazy("Order number"), required=False,
                                   max_length=24)
    assignee = forms.ModelChoiceField(label=gettext_lazy("Assignee"), required=False,
                                      queryset=get_user_model().objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = services.assignable_users()

    def clean_order_number(self):
        number = self.cleaned_data.get("order_number", "").strip()
        if not number:
            return None
        order = Order.objects.filter(number=number).first()
        if order is None:
            raise forms.ValidationError(_("There is no order %(number)s.") % {"number": number})
        return order


class ScopeForm(forms.Form):
    """The complaint ratio's filters (reporting ``complaint_ratio``), so its card can link
    to exactly the tickets it counted: opened from/to (local days, TIME_ZONE), the order's
    channel/platform/warehouse (given by code, like the order list), linked to an order."""

    opened_from = forms.DateField(label=gettext_lazy("Opened from"), required=False,
                                  widget=forms.DateInput(attrs={"type": "date"}))
    opened_to = forms.DateField(label=gettext_lazy("Opened to"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    # The dashboard's complaint ratio counts complaints on the orders PLACED in its range
    # (one cohort for numerator and denominator), so its link filters on the order's date.
    placed_from = forms.DateField(label=gettext_lazy("Order placed from"), required=False,
                                  widget=forms.DateInput(attrs={"type": "date"}))
    placed_to = forms.DateField(label=gettext_lazy("Order placed to"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    channel = forms.ModelChoiceField(label=gettext_lazy("Channel"), required=False,
                                     queryset=None, to_field_name="code",
                                     empty_label=gettext_lazy("All channels"))
    platform = forms.ChoiceField(label=gettext_lazy("Platform"), required=False, choices=[])
    warehouse = forms.ModelChoiceField(label=gettext_lazy("Warehouse"), required=False,
                                       queryset=None, to_field_name="code",
                                       empty_label=gettext_lazy("All warehouses"))
    linked = forms.BooleanField(label=gettext_lazy("Linked to an order"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

        self.fields["channel"].queryset = Channel.objects.order_by("name")
        self.fields["warehouse"].queryset = Warehouse.objects.order_by("name")
        self.fields["platform"].choices = [("", gettext_lazy("Any platform")),
                                           *Channel.Platform.choices]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("opened_from"), cleaned.get("opened_to")
        if start and end and start > end:
            self.add_error("opened_to", _("The end date is before the start date."))
        start, end = cleaned.get("placed_from"), cleaned.get("placed_to")
        if start and end and start > end:
            self.add_error("placed_to", _("The end date is before the start date."))
        return cleaned

    def scope_q(self) -> Q:
        """The valid filters as a ticket condition; invalid ones are left out (and shown).

        Channel and platform are the order's when the ticket has one (that is what the
        complaint ratio scopes by), else the ticket's own channel (a sync problem).
        Warehouse exists only through the order.
        """
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        q = Q()
        if data.get("opened_from"):
            q &= Q(created_at__gte=_local_midnight(data["opened_from"]))
        if data.get("opened_to"):
            q &= Q(created_at__lt=_local_midnight(data["opened_to"] + dt.timedelta(days=1)))
        if data.get("placed_from"):
            q &= Q(order__placed_at__gte=_local_midnight(data["placed_from"]))
        if data.get("placed_to"):
            q &= Q(order__placed_at__lt=_local_midnight(data["placed_to"] + dt.timedelta(days=1)))
        if data.get("channel") is not None:
            q &= (Q(order__channel=data["channel"])
                  | Q(order__isnull=True, channel=data["channel"]))
        if data.get("platform"):
            q &= (Q(order__channel__platform=data["platform"])
                  | Q(order__isnull=True, channel__platform=data["platform"]))
        if data.get("warehouse") is not None:
            q &= Q(order__warehouse=data["warehouse"])
        if data.get("linked"):
            q &= Q(order__isnull=False)
        return q


def _local_midnight(day: dt.date) -> dt.datetime:
    """The first instant of ``day`` in TIME_ZONE, as the dashboard's date range counts it."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def _queue_filters(request) -> dict:
    get = request.GET
    return {"kind": get.get("kind", ""), "status": get.get("status", ""),
            "mine": get.get("mine") == "1", "overdue": get.get("overdue") == "1",
            "q": get.get("q", "").strip(), "sort": get.get("sort", "due")
            if get.get("sort") in selectors.SORTS else "due"}


def _row_context(request, ticket, **extra) -> dict:
    return {"t": ticket, "can_change": request.user.has_perm("tickets.change_ticket"),
            "statuses": Ticket.Status.choices, **extra}


@staff_view("tickets.view_ticket")
def queue(request):
    filters = _queue_filters(request)
    scope = ScopeForm(request.GET)
    qs = selectors.ticket_queue(user=request.user, **filters).filter(scope.scope_q())
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    context = {"page": page, "filters": filters, "kinds": Ticket.Kind.choices,
               "statuses": Ticket.Status.choices, "querystring": params.urlencode(),
               "scope": scope,
               "can_change": request.user.has_perm("tickets.change_ticket"),
               "can_add": request.user.has_perm("tickets.add_ticket")}
    template = "tickets/_queue.html" if request.htmx else "tickets/queue.html"
    # A filter we could not read is reported on the page, and in its status.
    return render(request, template, context, status=400 if scope.errors else 200)


@staff_view("tickets.view_ticket")
def detail(request, ticket_id: int):
    ticket = get_object_or_404(Ticket.objects.select_related("assignee", "order", "channel"),
                               pk=ticket_id)
    events = ticket.events.select_related("assignee")
    return render(request, "tickets/detail.html", {
        "ticket": ticket, "events": events, "statuses": Ticket.Status.choices,
        "can_change": request.user.has_perm("tickets.change_ticket"),
        "users": services.assignable_users()
        if request.user.has_perm("tickets.change_ticket") else [],
    })


@staff_view("tickets.add_ticket")
def create(request):
    # The general kind unless the link names one: "Picking problem" (the first
    # choice) was wrong for most tickets opened from an order page.
    kind = request.GET.get("kind", "")
    initial = {"kind": kind if kind in Ticket.Kind.values else Ticket.Kind.OTHER}
    order_id = request.GET.get("order")
    if order_id and order_id.isdigit():
        order = Order.objects.filter(pk=int(order_id)).first()
        if order is not None:
            initial["order_number"] = order.number
            initial["title"] = _("Order %(number)s: ") % {"number": order.number}
    form = TicketForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket, _created = services.ticket_open(
                kind=data["kind"], title=data["title"], description=data["description"],
                order=data["order_number"], assignee=data["assignee"], actor=request.user)
        except services.TicketError as exc:
            form.add_error(None, exc.message)
        else:
            flash.success(request, _("Ticket #%(id)s opened.") % {"id": ticket.pk})
            return redirect("tickets:detail", ticket.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "tickets/create.html", {"form": form}, status=status)


def _action_response(request, ticket_id: int, error: str = "", status: int = 200):
    ticket = Ticket.objects.select_related("assignee", "order", "channel").get(pk=ticket_id)
    if request.htmx:
        return render(request, "tickets/_row.html", _row_context(request, ticket, error=error),
                      status=status)
    if error:
        flash.error(request, error)
    back = request.POST.get("next", "")
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect(reverse("tickets:detail", args=[ticket_id]))


@staff_view("tickets.change_ticket")
@require_POST
def assign_me(request, ticket_id: int):
    get_object_or_404(Ticket, pk=ticket_id)
    try:
        services.ticket_assign(ticket=ticket_id, assignee=request.user, actor=request.user)
    except services.TicketError as exc:
        return _action_response(request, ticket_id, exc.message, exc.status)
    return _action_response(request, ticket_id)


@staff_view("tickets.change_ticket")
@require_POST
def assign(request, ticket_id: int):
    get_object_or_404(Ticket, pk=ticket_id)
    raw = request.POST.get("assignee", "")
    assignee = None
    if raw:
        assignee = services.assignable_users().filter(pk=raw).first() if raw.isdigit() else None
        if assignee is None:
            return _action_response(request, ticket_id, _("Choose someone who works tickets."),
                                    400)
    try:
        services.ticket_assign(ticket=ticket_id, assignee=assignee, actor=request.user)
    except services.TicketError as exc:
        return _action_response(request, ticket_id, exc.message, exc.status)
    return _action_response(request, ticket_id)


@staff_view("tickets.change_ticket")
@require_POST
def set_status(request, ticket_id: int):
    get_object_or_404(Ticket, pk=ticket_id)
    try:
        services.ticket_set_status(ticket=ticket_id, status=request.POST.get("status", ""),
                                   comment=request.POST.get("comment", ""),
                                   expected_status=request.POST.get("expected_status") or None,
                                   actor=request.user)
    except services.TicketError as exc:
        return _action_response(request, ticket_id, exc.message, exc.status)
    return _action_response(request, ticket_id)


@staff_view("tickets.change_ticket")
@require_POST
def comment(request, ticket_id: int):
    get_object_or_404(Ticket, pk=ticket_id)
    try:
        services.ticket_comment(ticket=ticket_id, text=request.POST.get("text", ""),
                                actor=request.user)
    except services.TicketError as exc:
        return _action_response(request, ticket_id, exc.message, exc.status)
    return _action_response(request, ticket_id)
