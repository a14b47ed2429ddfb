"""Staff order pages: the list, one order, its actions and notes.

Each view parses input, calls one selector or service, and renders. An HTMX
request gets only the fragment it swaps (``request.htmx``); a normal request
gets the full page built from the same fragment, so every URL works without
JavaScript and can be shared.
"""


from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from orderhub import guard, privacy, selectors
from orderhub.forms import (
    DRILL_DOWN_KEYS,
    SORT_FIELDS,
    NoteForm,
    OrderFilterForm,
    TransitionForm,
)
from orderhub.models import Order, OrderStatus
from orderhub.services.orders import (
    REASON_REQUIRED,
    OrderNotFound,
    OrderServiceError,
    available_transitions,
    order_add_note,
    order_transition,
)

TRANSITION_LABELS = {
    "pay": gettext_lazy("Mark paid"),
    "approve": gettext_lazy("Approve"),
    "hold_review": gettext_lazy("Send to review"),
    "restock": gettext_lazy("Restock"),
    "claim": gettext_lazy("Claim for picking"),
    "finish": gettext_lazy("Finish picking"),
    "ship": gettext_lazy("Ship"),
    "deliver": gettext_lazy("Mark delivered"),
    "complete": gettext_lazy("Complete"),
    "hold": gettext_lazy("Hold"),
    "release": gettext_lazy("Release"),
    "cancel": gettext_lazy("Cancel order"),
    "intercept": gettext_lazy("Intercept"),
    "mark_ready": gettext_lazy("Mark ready to pick"),
    "mark_out_of_stock": gettext_lazy("Mark out of stock"),
}
# Actions that undo work: drawn in red so nobody clicks them by habit.
DESTRUCTIVE = {"cancel", "intercept"}

# The element an HTMX error fragment replaces on each page.
ACTION_ALERT = "#action-alert"


def staff_view(*perms: str):
    """``orderhub.guard.staff_view`` refusing in this page's alert box; no perms: view orders.

    Also imported by ``fulfillment.changes.views`` under this name.
    """
    return guard.staff_view(*(perms or ("orderhub.view_order",)), on_refuse=_error_response)


def _error_response(request, message: str, status: int, order_id: int | None = None):
    """A refused request: a fragment HTMX swaps into the alert box, or a full page."""
    order = selectors.order_detail(order_id) if order_id is not None else None
    if request.htmx:
        reload_url = reverse("orders:detail", args=[order.pk]) if order is not None else ""
        response = render(request, "orders/_error.html",
                          {"message": message, "reload_url": reload_url}, status=status)
        response["HX-Retarget"] = ACTION_ALERT
        response["HX-Reswap"] = "innerHTML"
        return response
    if order is not None:
        context = _detail_context(request, order)
        context["error"] = message
        return render(request, "orders/detail.html", context, status=status)
    return render(request, "error.html", {"message": message, "status": status}, status=status)


# --- list ---------------------------------------------------------------------------


@require_GET
@staff_view()
def order_list(request):
    form = OrderFilterForm(request.GET)
    status = 200 if form.is_valid() else 400
    filters = form.filters()
    counts = selectors.order_status_counts(filters)
    statuses = filters.get("status") or []
    chosen = [counts[s] for s in statuses] if statuses else [counts["all"]]
    queryset = selectors.order_list_queryset(filters)
    per_page = settings.ORDERS_PER_PAGE
    number = form.cleaned_data.get("page") or 1
    notice = ""
    page = None
    if any(count.more for count in chosen):
        # Too many to count: page without a total (one row past the page tells if
        # there is a next one); only a page past the end costs a count that far.
        page = selectors.OpenEndedPaginator(
            queryset, per_page, more_than=selectors.COUNT_BOUND).page(number)
        total = None if page else selectors.bounded_count(queryset, (number - 1) * per_page)
    else:
        total = sum(count.n for count in chosen)
    if page is None:
        paginator = selectors.KnownCountPaginator(queryset, per_page, count=total)
        if number > paginator.num_pages:
            notice = _("Page %(asked)s does not exist; this is the last page, %(last)s.") % {
                "asked": number, "last": paginator.num_pages,
            }
            number = paginator.num_pages
        page = paginator.page(number)
        page_range = paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)
    else:
        page_range = page.page_range(on_each_side=2, on_ends=1)
    # An open-ended page's total is a lower bound ("of more than 1,250").
    open_ended = isinstance(page, selectors.OpenEndedPage)
    page_total = page.total if open_ended else page.paginator.count

    sort = filters["sort"]
    sort_key = sort.lstrip("-")
    # (status, label, count, more): "more" means the count stopped at the bound.
    tabs = [("", _("All"), counts["all"].n, counts["all"].more)] + [
        (value, label, counts[value].n, counts[value].more)
        for value, label in OrderStatus.choices
    ]
    context = {
        "form": form,
        "filters": filters,
        "page": page,
        "orders": page.object_list,
        "tabs": tabs,
        # A tab is active only when exactly one status is chosen.
        "current_status": statuses[0] if len(statuses) == 1 else "",
        "statuses": statuses,
        "drill_down": [(key, request.GET.get(key)) for key in DRILL_DOWN_KEYS
                       if request.GET.get(key)],
        "notice": notice,
        "sort": sort,
        "sort_columns": {
            key: {"label": label, "active": key == sort_key,
                  "desc": sort.startswith("-") if key == sort_key else True,
                  "next": key if sort == f"-{key}" else f"-{key}"}
            for key, label in SORT_FIELDS.items()
        },
        "page_range": page_range,
        "page_total": page_total,
        "has_filters": any(k != "sort" for k in filters),
    }
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(
        request, "orders/_list.html" if partial else "orders/list.html", context, status=status
    )
    if partial and status != 200:
        # Tells the page's error hook this 400 is a fragment meant to be swapped in.
        response["HX-Reswap"] = "innerHTML"
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- detail -------------------------------------------------------------------------


def _transition_buttons(order: Order, user) -> list[dict]:
    return [
        {
            "name": name,
            "label": TRANSITION_LABELS.get(name, name),
            "needs_reason": name in REASON_REQUIRED,
            "destructive": name in DESTRUCTIVE,
        }
        for name in available_transitions(order, user)
    ]


def _parse_compare(request) -> tuple[list[int] | None, str]:
    """Two history ids from ``?compare=a,b`` (or the picker's ``va``/``vb``)."""
    raw = request.GET.get("compare")
    if raw is None and ("va" in request.GET or "vb" in request.GET):
        raw = f"{request.GET.get('va', '')},{request.GET.get('vb', '')}"
    if raw is None:
        return None, ""
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None, _("Pick two versions to compare.")
    return [int(p) for p in parts], ""


def _rows_shown(rows, full: bool) -> list[tuple]:
    """(label, old, new) diff rows with the buyer's contact data masked unless ``full``.

    The selectors label rows with the field's verbose name; that is mapped back
    to the field here, so the version diff and the timeline's edits mask the
    same fields as the buyer card (in the active language: labels are translated)."""
    if full:
        return rows
    by_label = {str(Order._meta.get_field(name).verbose_name): name
                for name in privacy.CONTACT_FIELDS}
    return [(label, *(privacy.field_shown(by_label.get(str(label), ""), value, full=False)
                      for value in (old, new)))
            for label, old, new in rows]


def _timeline_shown(order: Order, full: bool) -> list[dict]:
    timeline = selectors.order_timeline(order)
    if not full:
        for item in timeline:
            if item.get("changes"):
                item["changes"] = _rows_shown(item["changes"], full)
    return timeline


def _detail_context(request, order: Order, compare_ids=None) -> dict:
    versions = selectors.order_versions(order)
    buyer_contact = privacy.sees_buyer_contact(request.user)
    if compare_ids is None and len(versions) >= 2:
        default_pick = [versions[1].history_id, versions[0].history_id]
    else:
        default_pick = compare_ids or []
    return {
        "order": order,
        "lines": list(order.lines.all()),
        "tags": list(order.tags.all()),
        "timeline": _timeline_shown(order, buyer_contact),
        "buyer_contact": buyer_contact,
        "order_panels": settings.ORDER_PAGE_PANELS,
        "transition_labels": TRANSITION_LABELS,
        "buttons": _transition_buttons(order, request.user),
        "can_note": request.user.has_perm("orderhub.add_orderevent"),
        "note_form": NoteForm(),
        "versions": versions,
        "pick": default_pick,
        "gift_count": sum(1 for line in order.lines.all() if line.is_gift),
    }


def _compare_context(order: Order, ids: list[int] | None, error: str, *,
                     buyer_contact: bool) -> tuple[dict, int]:
    if error:
        return {"compare_error": error}, 400
    if ids is None:
        return {}, 200
    result = selectors.order_version_diff(order, ids[0], ids[1])
    if result is None:
        return {"compare_error": _("Those versions do not belong to this order.")}, 400
    older, newer, rows = result
    return {"compare": {"older": older, "newer": newer,
                        "rows": _rows_shown(rows, buyer_contact)}}, 200


@require_GET
@staff_view()
def order_detail(request, order_id: int):
    order = selectors.order_detail(order_id)
    if order is None:
        raise Http404(_("There is no order %(id)s.") % {"id": order_id})
    ids, error = _parse_compare(request)
    compare, status = _compare_context(
        order, ids, error, buyer_contact=privacy.sees_buyer_contact(request.user))
    if request.htmx and request.htmx.target == "version-compare":
        response = render(request, "orders/_compare.html", {"order": order, **compare},
                          status=status)
        if compare.get("compare"):
            older, newer = compare["compare"]["older"], compare["compare"]["newer"]
            response["HX-Push-Url"] = (
                f"{reverse('orders:detail', args=[order.pk])}"
                f"?compare={older.history_id},{newer.history_id}"
            )
        if status != 200:
            response["HX-Reswap"] = "innerHTML"
        return response
    context = _detail_context(request, order, compare_ids=ids)
    context.update(compare)
    return render(request, "orders/detail.html", context, status=status)


def _after_action(request, order_id: int):
    """After a successful POST: the refreshed order fragment (HTMX) or a redirect (PRG)."""
    if not request.htmx:
        return redirect("orders:detail", order_id=order_id)
    order = selectors.order_detail(order_id)
    html = render_to_string("orders/_detail.html", _detail_context(request, order), request)
    html += render_to_string("_toasts.html", {"oob": True}, request)
    return HttpResponse(html)


@require_POST
@staff_view()
def order_transition_view(request, order_id: int):
    form = TransitionForm(request.POST)
    if not form.is_valid():
        return _error_response(
            request, _("The action could not be read. Reload the page and try again."), 400,
            order_id=order_id,
        )
    name = form.cleaned_data["name"]
    try:
        order_transition(
            order=order_id,
            name=name,
            actor=request.user,
            reason=form.cleaned_data["reason"],
            expected_status=form.cleaned_data["expected_status"],
        )
    except OrderNotFound as exc:
        if not request.htmx:
            raise Http404(exc.message) from exc
        return _error_response(request, exc.message, exc.status)
    except OrderServiceError as exc:
        return _error_response(request, exc.message, exc.status, order_id=order_id)
    messages.success(request, _("%(action)s: done.") % {
        "action": TRANSITION_LABELS.get(name, name)
    })
    return _after_action(request, order_id)


@require_POST
@staff_view("orderhub.add_orderevent")
def order_note_view(request, order_id: int):
    order = selectors.order_detail(order_id)
    if order is None:
        if not request.htmx:
            raise Http404(_("There is no order %(id)s.") % {"id": order_id})
        return _error_response(request, _("There is no order %(id)s.") % {"id": order_id}, 404)
    form = NoteForm(request.POST)
    if not form.is_valid():
        message = " ".join(e for errors in form.errors.values() for e in errors)
        return _error_response(request, message, 400, order_id=order.pk)
    try:
        order_add_note(order=order, actor=request.user, text=form.cleaned_data["text"])
    except OrderServiceError as exc:
        return _error_response(request, exc.message, exc.status, order_id=order.pk)
    messages.success(request, _("Note added."))
    return _after_action(request, order_id)
