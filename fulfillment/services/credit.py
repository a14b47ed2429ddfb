"""B2B credit: the one writer of a customer's open balance, and its ledger.

What a customer owes on credit is ``Customer.open_balance``; every change of it
is one ``CreditEntry`` written here, in the same transaction, under the
customer's row lock (``select_for_update``, customers locked by pk so two
callers always lock in the same order). Nothing else writes the balance.

When the balance moves:

- **accept**: automation lets a B2B order through (``credit_accept_orders``,
  called holding the orders' row locks). Balance + order total over the limit
  is refused with a ``credit`` review reason and the order waits in ``/review/``
  for finance. Two workers accepting orders of one customer queue on the
  customer's lock, so they cannot both pass. When finance approves a credit
  hold (``credit_accept`` from the review service), the order is accepted over
  the limit knowingly: the entry names the approver and is flagged.
- **change**: an order accepted earlier whose total changed (an edit re-runs
  automation) counts the difference, checked against the limit the same way.
- **settle**: finance marks an order paid (``credit_settle``). The ``pay``
  transition does not settle: a B2B order on credit enters automation through
  ``pay`` (confirmed for fulfilment), long before the invoice is paid, so
  settlement is finance's explicit action on the customer's ledger page.
- **release**: a cancelled order (plain cancel, intercept, rejected in review)
  gives back what is still open on it (``credit_release_orders``, from the
  order-status receiver after the cancel commits).
- **refund**: finance credits part or all of an order's open amount (a credit
  note for returned or missing goods) (``credit_refund``).
- **adjust**: finance records anything else with a note (a payment not tied to
  one order, a write-off) (``credit_adjust``).

Accept, settle and release happen at most once per order (a unique constraint),
so re-running automation, a repeated signal or a double click counts nothing
twice. An order's open amount is the sum of its entries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _

from fulfillment.models import CreditEntry, ReviewAction
from fulfillment.services.risk import CREDIT, make_reason
from orderhub.models import Customer, Order, OrderStatus
from orderhub.services.orders import (
    Actor,
    OrderNotFound,
    OrderServiceError,
    TransitionNotPermitted,
    actor_info,
)

K = CreditEntry.Kind
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
PERMISSION = "fulfillment.review_credit"
# The entries that make up what an order itself was counted at (not what was paid back).
COUNTED_KINDS = (K.ACCEPT, K.CHANGE)
MAX_AMOUNT = Decimal("999999999999.99")


class CreditError(OrderServiceError):
    """Bad input or nothing to do: the message says which; nothing was written."""


@dataclass(frozen=True)
class OpenOrder:
    order_id: int
    number: str
    status: str  # the status's label, in the reader's language
    total: Decimal
    open_amount: Decimal


def is_on_credit(order: Order, customer: Customer | None = None) -> bool:
    """A B2B order (or any order of a B2B customer) is sold on credit."""
    customer = customer if customer is not None else order.customer
    return order.kind == Order.Kind.B2B or (
        customer is not None and customer.tier == Customer.Tier.B2B)


def can_manage(user) -> bool:
    return user.has_perm(PERMISSION)


def _check_user(actor: Actor) -> None:
    who = actor_info(actor)
    if who.user is not None and not who.user.has_perm(PERMISSION):
        raise TransitionNotPermitted(_("Only finance can change a customer's credit."))


def _lock_customers(ids) -> dict[int, Customer]:
    ids = sorted({i for i in ids if i})
    if not ids:
        return {}
    return {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=ids)
            .order_by("pk")}


def _entries_by_order(order_ids) -> dict[int, list[tuple[str, Decimal, int]]]:
    out: dict[int, list] = defaultdict(list)
    for order_id, kind, amount, customer_id in (
            CreditEntry.objects.filter(order_id__in=list(order_ids))
            .values_list("order_id", "kind", "amount", "customer_id")):
        out[order_id].append((kind, amount, customer_id))
    return out


def counted_amounts(order_ids) -> dict[int, Decimal]:
    """What each order was counted at so far (accepted, plus total changes); no row: 0."""
    return {order_id: sum((a for k, a, _c in rows if k in COUNTED_KINDS), ZERO)
            for order_id, rows in _entries_by_order(order_ids).items()}


def _write(customer: Customer, *, kind: str, amount: Decimal, actor: Actor,
           order_id: int | None = None, note: str = "", over_limit: bool = False
           ) -> CreditEntry:
    """One entry and the new balance. Call holding ``customer``'s row lock."""
    who = actor_info(actor)
    customer.open_balance = customer.open_balance + amount
    Customer.objects.filter(pk=customer.pk).update(open_balance=customer.open_balance)
    return CreditEntry.objects.create(
        customer=customer, order_id=order_id, kind=kind, amount=amount,
        balance_after=customer.open_balance, credit_limit=customer.credit_limit,
        over_limit=over_limit, actor=who.label, actor_user=who.user, note=note[:255])


def credit_accept_orders(*, orders: list[Order], actor: Actor,
                         approved: set[int] | frozenset = frozenset(),
                         approvers: dict[int, Actor] | None = None, note: str = ""
                         ) -> dict[int, dict | None]:
    """Accept ``orders`` on credit, in the given order; a ``credit`` reason for each refused.

    Call inside a transaction holding the orders' row locks, with each order
    as it is now (``paid``, about to go on). Locks the orders' customers. An
    order not on credit, without a customer, already settled or already counted
    at its total is passed (``None``) without writing. ``approved``: ids whose
    credit hold finance approved; they are accepted even over the limit, as
    ``approvers[id]`` (default ``actor``), flagged ``over_limit``.
    """
    approvers = approvers or {}
    customers = _lock_customers(o.customer_id for o in orders)
    entries = _entries_by_order(o.pk for o in orders if o.customer_id in customers)
    out: dict[int, dict | None] = {}
    for order in orders:
        out[order.pk] = None
        customer = customers.get(order.customer_id)
        if customer is None or not is_on_credit(order, customer):
            continue
        rows = entries.get(order.pk, [])
        kinds = {k for k, _a, _c in rows}
        if K.SETTLE in kinds or K.RELEASE in kinds:
            continue  # paid for already (or cancelled): nothing more is owed on it
        counted = sum((a for k, a, _c in rows if k in COUNTED_KINDS), ZERO)
        delta = order.total - counted
        if K.ACCEPT in kinds and delta == 0:
            continue
        balance = customer.open_balance - counted  # without this order
        over = delta > 0 and customer.open_balance + delta > customer.credit_limit
        if over and order.pk not in approved:
            out[order.pk] = make_reason(CREDIT, "credit", balance=balance, total=order.total,
                                        limit=customer.credit_limit)
            continue
        kind = K.CHANGE if K.ACCEPT in kinds else K.ACCEPT
        text = note
        if over:
            text = _("approved over the credit limit in review")
            text = f"{text}: {note}" if note else text
        _write(customer, kind=kind, amount=delta, actor=approvers.get(order.pk, actor),
               order_id=order.pk, note=text, over_limit=over)
    return out


def credit_approver(order_id: int):
    """The person who last approved the order's credit hold in review, if any."""
    for codes, user in (ReviewAction.objects.filter(
            order_id=order_id, action=ReviewAction.Action.APPROVE, user__isnull=False)
            .order_by("-created_at", "-id").values_list("codes", "user")):
        if CREDIT in (codes or []):
            return get_user_model().objects.filter(pk=user).first()
    return None


def credit_accept(*, order: Order, actor: Actor, approved: bool = False, note: str = ""
                  ) -> dict | None:
    """One order (see ``credit_accept_orders``); call holding the order's row lock."""
    return credit_accept_orders(orders=[order], actor=actor,
                                approved={order.pk} if approved else frozenset(),
                                note=note)[order.pk]


def credit_release_orders(*, order_ids, actor: Actor, cancelled_by: str = "") -> int:
    """Give back what is still open on cancelled orders; returns how many entries were written.

    Idempotent: an order released before, or with nothing open, writes nothing.
    """
    order_ids = list(dict.fromkeys(int(i) for i in order_ids))
    if not order_ids:
        return 0
    note = (_("order cancelled by %(actor)s") % {"actor": cancelled_by} if cancelled_by
            else _("order cancelled"))
    written = 0
    with transaction.atomic():
        customer_ids = set(CreditEntry.objects.filter(order_id__in=order_ids)
                           .values_list("customer_id", flat=True))
        if not customer_ids:
            return 0
        customers = _lock_customers(customer_ids)
        for order_id, rows in sorted(_entries_by_order(order_ids).items()):
            if any(k == K.RELEASE for k, _a, _c in rows):
                continue
            by_customer: dict[int, Decimal] = defaultdict(Decimal)
            for _k, amount, customer_id in rows:
                by_customer[customer_id] += amount
            # The one customer it was accepted for (an order's entries share one).
            customer_id, open_amount = max(by_customer.items(), key=lambda kv: kv[1])
            if open_amount == 0:
                continue
            _write(customers[customer_id], kind=K.RELEASE, amount=-open_amount, actor=actor,
                   order_id=order_id, note=note)
            written += 1
    return written


def credit_release_stragglers(*, limit: int = 500) -> int:
    """Safety net: cancelled orders still counted in a balance give it back.

    The cancel's receiver releases right after the cancel commits; this finds
    what a failed receiver (or a crash in between) left: one grouped query
    over the ledger rows of cancelled orders. Returns the entries written.
    """
    ids = list(CreditEntry.objects.filter(order__status=OrderStatus.CANCELLED)
               .values_list("order_id")
               .annotate(open=Sum("amount"), released=Count("pk", filter=Q(kind=K.RELEASE)))
               .filter(released=0).exclude(open=0).order_by("order_id")
               .values_list("order_id", flat=True)[:limit])
    return credit_release_orders(order_ids=ids, actor="system:credit-sweep") if ids else 0


def _open_on_order(order: Order, customer_id: int | None
                   ) -> tuple[Customer, Decimal, set[str]]:
    """The customer (locked) an order is owed by, what is open on it, and its entry kinds.

    ``customer_id``: the customer the caller means; another one is refused.
    """
    rows = _entries_by_order([order.pk]).get(order.pk)
    if not rows:
        raise CreditError(_("Order %(number)s was never accepted on credit.") % {
            "number": order.number})
    accepted = [c for k, _a, c in rows if k == K.ACCEPT]
    owner = accepted[0] if accepted else rows[0][2]
    if customer_id is not None and owner != int(customer_id):
        raise CreditError(_("Order %(number)s is not on this customer's credit.") % {
            "number": order.number})
    customer_id = owner
    customer = _lock_customers([customer_id])[customer_id]
    # Read again under the lock: another settle or refund may have just committed.
    rows = _entries_by_order([order.pk]).get(order.pk, [])
    return customer, sum((a for _k, a, _c in rows), ZERO), {k for k, _a, _c in rows}


def _order_or_404(order_id: int) -> Order:
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound(_("There is no order %(id)s.") % {"id": order_id})
    return order


def credit_settle(*, order_id: int, actor: Actor, note: str = "",
                  customer_id: int | None = None) -> CreditEntry:
    """Finance received payment for an order: its open amount leaves the balance."""
    _check_user(actor)
    with transaction.atomic():
        order = _order_or_404(order_id)
        customer, open_amount, kinds = _open_on_order(order, customer_id)
        if K.SETTLE in kinds:
            raise CreditError(_("Order %(number)s is settled already.") % {
                "number": order.number})
        if open_amount <= 0:
            raise CreditError(_("Nothing is open on order %(number)s.") % {
                "number": order.number})
        return _write(customer, kind=K.SETTLE, amount=-open_amount, actor=actor,
                      order_id=order.pk, note=(note or "").strip())


def parse_amount(raw) -> Decimal:
    """A money amount typed by a person, or a ``CreditError`` saying what is wrong."""
    text = str(raw or "").strip().replace(",", "").replace("，", "")
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise CreditError(_("“%(value)s” is not an amount.") % {"value": text}) from exc
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise CreditError(_("“%(value)s” is not an amount.") % {"value": text})
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise CreditError(_("Use at most two decimal places."))
    return amount.quantize(CENT)


def credit_refund(*, order_id: int, amount, actor: Actor, note: str,
                  customer_id: int | None = None) -> CreditEntry:
    """Credit part or all of what is open on an order (a credit note), with a reason."""
    _check_user(actor)
    amount = parse_amount(amount)
    note = (note or "").strip()
    if amount <= 0:
        raise CreditError(_("A refund is a positive amount."))
    if not note:
        raise CreditError(_("Please give a reason."))
    with transaction.atomic():
        order = _order_or_404(order_id)
        customer, open_amount, _kinds = _open_on_order(order, customer_id)
        if amount > open_amount:
            raise CreditError(_("Only %(open)s is open on order %(number)s.") % {
                "open": open_amount, "number": order.number})
        return _write(customer, kind=K.REFUND, amount=-amount, actor=actor,
                      order_id=order.pk, note=note)


def credit_adjust(*, customer_id: int, amount, actor: Actor, note: str) -> CreditEntry:
    """Finance changes a balance by hand (a payment on account, a write-off), with a note.

    A negative amount lowers what the customer owes.
    """
    _check_user(actor)
    amount = parse_amount(amount)
    note = (note or "").strip()
    if amount == 0:
        raise CreditError(_("An adjustment needs an amount other than zero."))
    if not note:
        raise CreditError(_("Please give a reason."))
    with transaction.atomic():
        customer = _lock_customers([customer_id]).get(int(customer_id))
        if customer is None:
            raise OrderNotFound(_("There is no customer %(id)s.") % {"id": customer_id})
        return _write(customer, kind=K.ADJUST, amount=amount, actor=actor, note=note)


# --- reading ---------------------------------------------------------------------------


def credit_ledger(customer: Customer, *, limit: int = 200) -> list[CreditEntry]:
    """The customer's latest entries, newest first."""
    return list(customer.credit_entries.select_related("order", "actor_user")[:limit])


def credit_open_orders(customer: Customer) -> list[OpenOrder]:
    """Orders with something still open for this customer, oldest first."""
    sums = dict(CreditEntry.objects.filter(customer=customer, order__isnull=False)
                .values_list("order_id").annotate(open=Sum("amount")).order_by())
    ids = [order_id for order_id, amount in sums.items() if amount > 0]
    orders = Order.objects.filter(pk__in=ids).order_by("placed_at", "pk").only(
        "pk", "number", "status", "total")
    return [OpenOrder(o.pk, o.number, o.get_status_display(), o.total,
                      sums[o.pk].quantize(CENT))
            for o in orders]
