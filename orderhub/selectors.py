"""Read-side queries for the staff pages.

``filters`` is the dict from ``OrderFilterForm.filters()``: already validated,
only the keys that were given. Every lookup here hits an index: search is an
exact match on indexed columns (never ``LIKE '%..%'``), so the list stays fast
on millions of orders.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.functional import cached_property

from orderhub import counters
from orderhub.events import event_kind_label
from orderhub.models import Order, OrderEvent, OrderStatus, OrderTransitionLog, normalize_phone
from orderhub.stored_text import translate_stored

# URL sort key -> ORDER BY. The id tie-breaker keeps pages stable when values repeat.
SORTS = {
    "placed": [F("placed_at").asc(), F("id").asc()],
    "-placed": [F("placed_at").desc(), F("id").desc()],
    "paid": [F("paid_at").asc(nulls_last=True), F("id").asc()],
    "-paid": [F("paid_at").desc(nulls_last=True), F("id").desc()],
    "total": [F("total").asc(), F("id").asc()],
    "-total": [F("total").desc(), F("id").desc()],
    "priority": [F("priority").asc(), F("placed_at").asc(), F("id").asc()],
    "-priority": [F("priority").desc(), F("placed_at").desc(), F("id").desc()],
}


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _search_q(text: str) -> Q:
    """Exact match on each key a person might paste; each is an indexed column."""
    text = text.strip()
    q = (
        Q(number=text.upper())
        | Q(external_id=text)
        | Q(legacy_id=text)
        | Q(tracking_number=text)
    )
    try:
        phone = normalize_phone(text)
    except ValidationError:
        phone = ""
    if phone:
        q |= Q(buyer_phone=phone)
    return q


def _filtered(filters: dict, *, with_status: bool = True) -> QuerySet[Order]:
    qs = Order.objects.all()
    if with_status and filters.get("status"):
        qs = qs.filter(status__in=filters["status"])
    if filters.get("priority_min") is not None:
        qs = qs.filter(priority__gte=filters["priority_min"])
    if filters.get("platform"):
        qs = qs.filter(channel__platform=filters["platform"])
    for field in ("paid", "shipped"):
        if filters.get(f"{field}_from"):
            qs = qs.filter(**{f"{field}_at__gte": _local_midnight(filters[f"{field}_from"])})
        if filters.get(f"{field}_to"):
            end = _local_midnight(filters[f"{field}_to"] + dt.timedelta(days=1))
            qs = qs.filter(**{f"{field}_at__lt": end})
    if filters.get("channel"):
        qs = qs.filter(channel=filters["channel"])
    if filters.get("warehouse"):
        qs = qs.filter(warehouse=filters["warehouse"])
    if filters.get("priority") is not None:
        qs = qs.filter(priority=filters["priority"])
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    if filters.get("tag"):
        # One tag only, so the join cannot repeat an order.
        qs = qs.filter(tags=filters["tag"])
    if filters.get("date_from"):
        qs = qs.filter(placed_at__gte=_local_midnight(filters["date_from"]))
    if filters.get("date_to"):
        qs = qs.filter(placed_at__lt=_local_midnight(filters["date_to"] + dt.timedelta(days=1)))
    if filters.get("q"):
        qs = qs.filter(_search_q(filters["q"]))
    return qs


def order_list_queryset(filters: dict) -> QuerySet[Order]:
    """The orders matching ``filters``, sorted, with channel and warehouse joined."""
    order_by = SORTS.get(filters.get("sort") or "-placed", SORTS["-placed"])
    return _filtered(filters).select_related("channel", "warehouse").order_by(*order_by)


# Past this many orders a count that would read the orders stops and says "1,000+".
COUNT_BOUND = 1000


@dataclass(frozen=True)
class TabCount:
    """A status tab's count: exact, or (``more``) at least ``n`` ("1,000+", "312+")."""

    n: int
    more: bool = False


# Non-counter filters that an index answers together with a status (order no. and
# the like: a handful of rows; placed dates: the (status, placed_at) index), so one
# bounded count per status reads at most ~1,001 index entries each.
PER_STATUS_FILTERS = frozenset({"q", "date_from", "date_to"})


def order_status_counts(filters: dict) -> dict[str, TabCount]:
    """How many orders each status tab holds under the other filters, plus ``"all"``.

    Filters on counter dimensions (channel, platform, warehouse, kind, priority)
    are answered exactly from the status counters (``orderhub.counters``): a
    few hundred rows summed, never the orders, and exact the moment a change
    commits. Any other filter needs the orders, and no count reads more than
    ~``COUNT_BOUND`` of them per status:

    - a search and/or placed dates alone: one ``COUNT(*)`` over a ``LIMIT 1001``
      subquery per status, in one statement, each an index range; a status
      that reaches the bound shows "1,000+", and so does "all";
    - anything else (a tag, paid or shipped dates, or those with a counter
      filter, where a status with no match would make its count read every
      order of the status): the first 1,001 matching orders' statuses. Fewer
      than that: every count exact. Else "all" shows "1,000+" and each tab the
      lower bound the sample gives ("312+"; "?" for a status not in it).
    """
    if counters.answers(filters):
        exact = counters.status_counts(filters)
        counts = {status: TabCount(n) for status, n in exact.items()}
        counts["all"] = TabCount(sum(exact.values()))
        return counts
    narrowing = set(filters) - counters.NOT_FILTERS - {"status"}
    if narrowing <= PER_STATUS_FILTERS:
        counts = _bounded_status_counts(filters)
    else:
        counts = _sampled_status_counts(filters)
    if any(count.more for count in counts.values()):
        counts["all"] = TabCount(COUNT_BOUND, more=True)
    else:
        counts["all"] = TabCount(sum(count.n for count in counts.values()))
    return counts


def _bounded_status_counts(filters: dict) -> dict[str, TabCount]:
    base = _filtered(filters, with_status=False).order_by()
    parts, params = [], []
    for status in OrderStatus.values:
        inner, inner_params = (base.filter(status=status).values("pk")[:COUNT_BOUND + 1]
                               .query.sql_with_params())
        parts.append(f"SELECT %s, COUNT(*) FROM ({inner}) AS bounded_{len(parts)}")
        params += [status, *inner_params]
    with connections[base.db].cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    return {status: TabCount(min(n, COUNT_BOUND), more=n > COUNT_BOUND) for status, n in rows}


def _sampled_status_counts(filters: dict) -> dict[str, TabCount]:
    sample = list(_filtered(filters, with_status=False).order_by()
                  .values_list("status", flat=True)[:COUNT_BOUND + 1])
    more = len(sample) > COUNT_BOUND
    seen = Counter(sample[:COUNT_BOUND])
    return {status: TabCount(seen[status], more=more) for status in OrderStatus.values}


def bounded_count(queryset: QuerySet, bound: int) -> int:
    """``queryset``'s row count if it is at most ``bound``, else ``bound + 1``."""
    return queryset.order_by().values("pk")[:bound + 1].count()


class KnownCountPaginator(Paginator):
    """A paginator told its total, so listing a page costs no extra COUNT query."""

    def __init__(self, object_list, per_page, *, count: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = count

    @cached_property
    def count(self):
        return self._known_count

    def _get_page(self, object_list, number, paginator):
        return super()._get_page(_page_rows(self.object_list, object_list), number, paginator)


def _page_rows(queryset, sliced):
    # Deferred join: page 500 means skipping 12,475 rows. Skipping them in an
    # index-only scan of ids costs a few ms; skipping whole rows reads every
    # one of them from the table (~60 ms on a million orders).
    if isinstance(sliced, QuerySet) and sliced.query.low_mark:
        query = sliced.query
        ids = list(queryset.values_list("pk", flat=True)[query.low_mark:query.high_mark])
        return list(queryset.filter(pk__in=ids))
    return list(sliced)


class OpenEndedPaginator:
    """Pages of a list whose total was not counted (known: more than ``more_than`` rows).

    Each page reads one row past its end to know whether a next page exists; so
    paging costs what the page costs, never a count. ``page()`` returns None for
    a page past the end; the caller then counts that far (``bounded_count``) and
    shows the last page instead.
    """

    ELLIPSIS = Paginator.ELLIPSIS

    def __init__(self, object_list: QuerySet, per_page: int, *, more_than: int):
        self.object_list = object_list
        self.per_page = per_page
        self.more_than = more_than

    def page(self, number: int) -> OpenEndedPage | None:
        offset = (number - 1) * self.per_page
        rows = _page_rows(self.object_list,
                          self.object_list[offset:offset + self.per_page + 1])
        if not rows and number > 1:
            return None
        return OpenEndedPage(rows[:self.per_page], number, self,
                             has_next=len(rows) > self.per_page)


class OpenEndedPage:
    """What the list template reads of a Django ``Page``, for ``OpenEndedPaginator``."""

    def __init__(self, object_list: list, number: int, paginator: OpenEndedPaginator, *,
                 has_next: bool):
        self.object_list = object_list
        self.number = number
        self.paginator = paginator
        self._has_next = has_next
        end = (number - 1) * paginator.per_page + len(object_list)
        # With no next page the total is known after all: it ends here. Else
        # ``total`` is what the total is known to exceed.
        self.open_ended = has_next
        self.total = max(end, paginator.more_than) if has_next else end
        self.num_pages = max(-(-(self.total + has_next) // paginator.per_page),
                             number + has_next)

    def __len__(self):
        return len(self.object_list)

    def has_next(self) -> bool:
        return self._has_next

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_next() or self.has_previous()

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1

    def start_index(self) -> int:
        if not self.object_list:
            return 0
        return (self.number - 1) * self.paginator.per_page + 1

    def end_index(self) -> int:
        return (self.number - 1) * self.paginator.per_page + len(self.object_list)

    def page_range(self, *, on_each_side: int = 2, on_ends: int = 1) -> list:
        """Like ``Paginator.get_elided_page_range``, with an open end while there is one."""
        last = self.num_pages
        pages = [n for n in range(1, last + 1)
                 if n <= on_ends or abs(n - self.number) <= on_each_side
                 or (not self.open_ended and n > last - on_ends)]
        shown: list = []
        for n in pages:
            if shown and n - shown[-1] > 1:
                shown.append(self.paginator.ELLIPSIS)
            shown.append(n)
        if self.open_ended:
            shown.append(self.paginator.ELLIPSIS)
        return shown


# --- order detail -----------------------------------------------------------------


def order_detail(order_id: int) -> Order | None:
    return (
        Order.objects.select_related("channel", "warehouse", "customer")
        .prefetch_related("lines", "tags")
        .filter(pk=order_id)
        .first()
    )


def order_timeline(order: Order) -> list[dict]:
    """Transition log rows and events of ``order`` merged in time order (oldest first)."""
    items = []
    for log in OrderTransitionLog.objects.filter(order=order):
        items.append({
            "type": "transition",
            "time": log.created_at,
            "actor": log.actor,
            "transition": log.transition,
            "from_status": log.from_status,
            "from_label": OrderStatus(log.from_status).label if log.from_status else "",
            "to_status": log.to_status,
            "to_label": OrderStatus(log.to_status).label if log.to_status else "",
            "message": translate_stored(log.reason),
            "sort": (log.created_at, 1, log.pk),
        })
    names: dict = {}
    for event in OrderEvent.objects.filter(order=order):
        items.append({
            "type": "event",
            "time": event.created_at,
            "actor": event.actor,
            "kind": event.kind,
            "kind_label": _event_kind_label(event.kind),
            "message": translate_stored(event.message),
            "changes": _event_changes(event, names),
            "sort": (event.created_at, 0, event.pk),
        })
    items.sort(key=lambda item: item["sort"])
    return items


def _event_changes(event: OrderEvent, names: dict | None = None) -> list[tuple]:
    """An edit event's ``{"field": [old, new]}`` as (verbose name, old, new) rows.

    Foreign keys are stored as ids (``warehouse: [null, 2]``); a person reads the
    warehouse's, customer's or channel's name, and a choice field its label.
    ``names`` caches the looked-up objects across the events of one timeline.
    """
    changes = (event.data or {}).get("changes")
    if not isinstance(changes, dict):
        return []
    names = {} if names is None else names
    rows = []
    for name, pair in changes.items():
        try:
            field = Order._meta.get_field(name)
        except FieldDoesNotExist:
            field, label = None, name
        else:
            # "lines" is the reverse relation to OrderLine, which has no verbose_name.
            label = getattr(field, "verbose_name", None) or (
                field.related_model._meta.verbose_name_plural)
        old, new = (list(pair) + [None, None])[:2] if isinstance(pair, list | tuple) else (None,
                                                                                          pair)
        if field is not None and field.concrete and (field.is_relation or field.choices):
            old, new = _display(field, old, names), _display(field, new, names)
        rows.append((label, old, new))
    return rows


def _event_kind_label(kind: str) -> str:
    # Apps declare their kinds' labels in their ``order_events`` modules.
    return event_kind_label(kind)


def order_versions(order: Order) -> list:
    """The recorded versions of ``order``, newest first."""
    return list(order.history.select_related("history_user").order_by("-history_date", "-pk"))


def order_version_diff(order: Order, older_id: int, newer_id: int) -> tuple | None:
    """The two versions and the fields that differ, or None if either is not this order's.

    Returns ``(older, newer, [(verbose name, old value, new value), ...])``;
    the older of the two (by time) always comes first.
    """
    versions = {v.history_id: v for v in order.history.filter(history_id__in=[older_id,
                                                                             newer_id])}
    if older_id not in versions or newer_id not in versions:
        return None
    older, newer = versions[older_id], versions[newer_id]
    if (older.history_date, older.history_id) > (newer.history_date, newer.history_id):
        older, newer = newer, older
    delta = newer.diff_against(older)
    rows = []
    for change in delta.changes:
        field = Order._meta.get_field(change.field)
        rows.append((field.verbose_name, _display(field, change.old), _display(field,
                                                                              change.new)))
    return older, newer, rows


def _display(field, value, names: dict | None = None):
    """``value`` of ``field`` as a person reads it: a choice's label, a related row's name."""
    if value in (None, ""):
        return ""
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    if field.is_relation:
        key = (field.related_model, value)
        if names is None or key not in names:
            target = field.related_model.objects.filter(pk=value).first()
            # A deleted row keeps its id on screen, marked, rather than nothing.
            shown = str(target) if target else f"#{value}"
            if names is None:
                return shown
            names[key] = shown
        return names[key]
    return value
