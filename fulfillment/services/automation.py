"""The automation pipeline: what happens to an order once it is paid.

``orders_automate`` takes a batch of paid orders through

1. risk rules (``risk.RiskChecker``) and the credit check (a first look while
   planning; then ``credit.credit_accept_orders`` accepts the B2B orders that
   passed everything else under their customers' row locks, or holds them for
   finance),
2. routing rules (``rules.RuleSet``: warehouse, carrier, priority, tags, holds),
3. the warehouse choice (rule, else the region's warehouse with all the stock,
   else any active one with it, else out of stock),
4. stock reservation (``warehouse.services.stock.order_allocate``),

and leaves each order in ``ready_to_pick``, ``review`` (every reason listed in
its ``OrderDecision``) or ``out_of_stock``. Orders no longer ``paid`` are
skipped, so running twice changes nothing the second time.

Reads are done for the whole batch (rules compiled once, risk counts grouped,
stock levels in one query). A system actor's batch is written together
(``_apply_group``: a constant number of queries, whatever its size and however
many warehouses and results it has); if that fails, its orders are retried one
by one, each in its own transaction holding the order's row lock, so one bad
order never blocks the rest. A person's run goes one by one (permission checks).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment.db import upsert_rows
from fulfillment.models import OrderDecision, ShadowResult
from fulfillment.services import credit as credit_service
from fulfillment.services import risk as risk_service
from fulfillment.services.rules import (
    OrderFacts,
    RuleOutcome,
    choose_carriers,
    facts_for_orders,
    load_ruleset,
    order_lines,
)
from fulfillment.signals import UrgentOrder, order_needs_review, orders_urgent
from orderhub.db import in_values
from orderhub.models import Order, OrderStatus, Tag
from orderhub.services.bulk import orders_edit_and_transition
from orderhub.services.orders import (
    Actor,
    OrderServiceError,
    TransitionNotPermitted,
    TransitionRefused,
    actor_info,
    order_transition,
    order_update,
)
from warehouse.models import SKU, StockLevel, Warehouse
from warehouse.services import presale as presale_service
from warehouse.services import stock as stock_service
from warehouse.signals import stock_insufficient

logger = logging.getLogger(__name__)

ACTOR = "system:automation"
S = OrderStatus
REPROCESS_FROM = (S.READY_TO_PICK, S.OUT_OF_STOCK, S.REVIEW)
# An edit re-runs automation while the order is in one of these (picking not started).
REPROCESS_ON_EDIT = (S.PAID, S.READY_TO_PICK, S.OUT_OF_STOCK)
# order_transition stores "<name>: <reason>" as the history change reason (100 chars).
TRANSITION_REASON_MAX = 80
# The outcome of a presale order left waiting in the deferred queue.
DEFERRED = "deferred"
# Batches at least this big reserve stock per warehouse in one go.
GROUP_MIN = 2


@dataclass
class Plan:
    order: Order
    facts: OrderFacts
    reasons: list
    rules: RuleOutcome
    warehouse_id: int | None = None
    warehouse_source: str = ""
    # Finance approved this order's credit hold: accept it even over the limit.
    credit_approved: bool = False


@dataclass
class Outcome:
    order_id: int
    result: str  # ready_to_pick / review / out_of_stock / deferred / skipped / error
    reasons: list = field(default_factory=list)
    warehouse_id: int | None = None
    error: str = ""


def order_automate(*, order: Order | int, actor: Actor = ACTOR) -> Outcome:
    """Run the pipeline for one order; errors propagate (the task retries)."""
    order_id = order.pk if isinstance(order, Order) else int(order)
    return orders_automate(order_ids=[order_id], actor=actor, raise_errors=True)[order_id]


def orders_automate(*, order_ids, actor: Actor = ACTOR, raise_errors: bool = False,
                    now=None) -> dict[int, Outcome]:
    """Run the pipeline for every order in ``order_ids`` that is still ``paid``."""
    actor_info(actor)
    ids = list(dict.fromkeys(int(i) for i in order_ids))
    results = {i: Outcome(i, "skipped") for i in ids}
    orders = list(Order.objects.filter(pk__in=in_values(ids), status=S.PAID)
                  .select_related("customer", "channel").order_by("paid_at", "pk"))
    if not orders:
        return results
    # Presale orders whose promised ship date is still far off wait in the
    # deferred queue (``warehouse.services.presale``); they stay ``paid``.
    held = presale_service.orders_hold_presale(orders=orders, now=now)
    if held:
        for order_id in held:
            results[order_id] = Outcome(order_id, DEFERRED)
        orders = [o for o in orders if o.pk not in held]
        if not orders:
            return results
    plans = plan_orders(orders, now=now)
    _accept_credit(plans, actor)
    tags: dict = {}
    # The bulk writes skip per-user permission checks: a person's run goes one by one.
    bulk = len(plans) >= GROUP_MIN and actor_info(actor).user is None
    singles = [] if bulk else list(plans)
    if bulk:
        try:
            results.update(_apply_group(plans, actor, tags))
        except Exception:
            if raise_errors:
                raise
            # The batch rolled back as a whole: take its orders one by one, so
            # only the order at fault is left behind.
            logger.exception("batch automation failed; retrying %s orders one by one",
                             len(plans))
            tags.clear()  # tags created in the rolled-back transaction are gone
            singles = list(plans)
    for plan in singles:
        try:
            results[plan.order.pk] = _apply(plan, actor, tags)
        except Exception as exc:
            if raise_errors:
                raise
            # One order's failure must not stop the batch; it stays ``paid`` and
            # the straggler sweep tries it again.
            logger.exception("automation failed for order %s", plan.order.pk)
            results[plan.order.pk] = Outcome(plan.order.pk, "error", error=str(exc))
    return results


# --- deciding (reads only) ----------------------------------------------------------


def plan_orders(orders: list[Order], *, now=None, ruleset=None, record_shadow=True
                ) -> list[Plan]:
    """Decide for each order without changing it (shadow results aside)."""
    ruleset = ruleset if ruleset is not None else load_ruleset()
    checker = risk_service.RiskChecker.load()
    approved = dict(OrderDecision.objects.filter(order_id__in=in_values(o.pk for o in orders))
                    .values_list("order_id", "approved_checks"))
    lines = order_lines([o.pk for o in orders])
    facts = facts_for_orders(orders, lines=lines)
    risk_reasons = checker.check(orders, now=now)
    plans, shadow_rows = [], []
    for order in orders:
        skip = set(approved.get(order.pk) or [])
        reasons = [r for r in risk_reasons[order.pk] if r["code"] not in skip]
        outcome = ruleset.evaluate(facts[order.pk], shadow=record_shadow)
        holds = [risk_service.make_reason(f"rule:{rule_id}", "rule", text=text)
                 for rule_id, text in outcome.holds if f"rule:{rule_id}" not in skip]
        for rule_id, matched, actions in outcome.shadow:
            shadow_rows.append(ShadowResult(rule_id=rule_id, order=order, matched=matched,
                                            actions=actions))
        for rule_id, applied, actions in outcome.canary:
            shadow_rows.append(ShadowResult(rule_id=rule_id, order=order, matched=True,
                                            actions=actions, applied=applied))
        plans.append(Plan(order=order, facts=facts[order.pk], reasons=reasons + holds,
                          rules=outcome, credit_approved=risk_service.CREDIT in skip))
    choose_carriers([(p.facts, p.rules) for p in plans])
    _precheck_credit(plans)
    if shadow_rows:
        ShadowResult.objects.bulk_create(shadow_rows, batch_size=1000)
    choose_warehouses([p for p in plans if not p.reasons])
    return plans


def _precheck_credit(plans: list[Plan]) -> None:
    """The credit reason of orders going to review anyway, listed with their other reasons.

    So one visit to the review queue shows finance's part too. An order with
    no other reason is left to ``_accept_credit``, which decides under the
    customer's row lock: a balance read here may be stale by the time the
    order moves (another worker accepting an order of the same customer).
    """
    b2b = [p for p in plans if not p.credit_approved and risk_service._is_b2b(p.order)]
    if not b2b:
        return
    held = [p for p in b2b if p.reasons and p.order.customer_id]
    counted = credit_service.counted_amounts([p.order.pk for p in held]) if held else {}
    for plan in b2b:
        if plan.order.customer_id and not plan.reasons:
            continue
        credit = risk_service.credit_check(plan.order, counted=counted)
        if credit:
            # After the risk reasons, before the rules' holds, as reviewers read them.
            risk = [r for r in plan.reasons if r["code"].startswith("risk:")]
            rest = [r for r in plan.reasons if not r["code"].startswith("risk:")]
            plan.reasons[:] = [*risk, credit, *rest]


def _stock_needs(orders: list[Order]) -> dict[int, dict[int, int] | None]:
    """Units per SKU id each order still takes from the shelf; None when it cannot be known.

    The warehouse's one selector decides (kits, units the platform already
    shipped, unknown SKUs, empty kits); such an order gets no warehouse by
    stock here and its reservation says why.
    """
    return {order_id: None if isinstance(needs, stock_service.StockError) else needs
            for order_id, needs in stock_service.orders_stock_needs(
                [o.pk for o in orders]).items()}


def choose_warehouses(plans: list[Plan]) -> None:
    """Fill ``warehouse_id`` for each plan: the rule's, else by region and stock.

    Stock is read once for the batch and spent in memory as orders are placed,
    so a batch does not send every order to the same last units. The
    reservation itself is still the judge (it locks and re-checks).
    """
    fallback = [p for p in plans if not p.rules.warehouse_id]
    for plan in plans:
        if plan.rules.warehouse_id:
            plan.warehouse_id, plan.warehouse_source = plan.rules.warehouse_id, "rule"
    if not fallback:
        return
    warehouses = list(Warehouse.objects.filter(active=True).order_by("name", "pk"))
    if not warehouses:
        return
    needs = _stock_needs([p.order for p in fallback])
    sku_ids = {s for n in needs.values() if n for s in n}
    guarded = set(SKU.objects.filter(pk__in=sku_ids, stop_selling_at_safety=True)
                  .values_list("pk", flat=True))
    free: dict[tuple[int, int], int] = {}
    for wh_id, sku_id, on_hand, reserved, safety in StockLevel.objects.filter(
        warehouse__in=warehouses, sku_id__in=sku_ids
    ).values_list("warehouse_id", "sku_id", "on_hand", "reserved", "safety"):
        free[(wh_id, sku_id)] = on_hand - reserved - (safety if sku_id in guarded else 0)
    for plan in fallback:
        order, need = plan.order, needs.get(plan.order.pk)
        # Warehouses naming the buyer's region first, then those serving everywhere.
        named = [w for w in warehouses if w.service_regions
                 and w.serves(order.ship_province, order.ship_city)]
        everywhere = [w for w in warehouses if not w.service_regions]
        regional = named + everywhere
        others = [w for w in warehouses if w not in regional]
        chosen, source = None, ""
        if need is not None:
            for group, label in ((regional, "region"), (others, "stock")):
                for wh in group:
                    if all(free.get((wh.pk, s), 0) >= q for s, q in need.items()):
                        chosen, source = wh, label
                        break
                if chosen:
                    break
        if chosen is None:
            chosen, source = (regional or warehouses)[0], "shortage"
        elif need:
            for s, q in need.items():
                free[(chosen.pk, s)] = free.get((chosen.pk, s), 0) - q
        plan.warehouse_id, plan.warehouse_source = chosen.pk, source


# --- acting (writes) ------------------------------------------------------------------


def _accept_credit(plans: list[Plan], actor: Actor) -> None:
    """Accept on credit the B2B orders that passed every other check, or hold them.

    The planning look read balances without a lock; here, in one transaction,
    the orders still ``paid`` are locked (by pk), then their customers (by pk),
    and the credit service decides with the balances as they are, so two
    workers' runs for one customer cannot both pass. It commits before stock is
    reserved: a crash after it leaves paid orders already counted, and the next
    run (task retry, straggler sweep) finds them accepted and does not count
    them again. Refused orders get the ``credit`` reason and go to review.
    Costs nothing for a batch without B2B orders.
    """
    todo = {p.order.pk: p for p in plans
            if not p.reasons and p.order.customer_id and risk_service._is_b2b(p.order)}
    if not todo:
        return
    with transaction.atomic():
        locked = list(Order.objects.select_for_update()
                      .filter(pk__in=in_values(todo), status=S.PAID).order_by("pk"))
        by_id = {o.pk: o for o in locked}
        # Accept in the batch's own order (paid time), as planned.
        orders = [by_id[pk] for pk in todo if pk in by_id]
        approved = {pk for pk, plan in todo.items() if plan.credit_approved}
        approvers = {}
        for pk in approved:
            approvers[pk] = credit_service.credit_approver(pk) or actor
        refused = credit_service.credit_accept_orders(orders=orders, actor=actor,
                                                      approved=approved, approvers=approvers)
    for order_id, reason in refused.items():
        if reason:
            plan = todo[order_id]
            plan.reasons.append(reason)
            plan.warehouse_id, plan.warehouse_source = None, ""


def _field_changes(order: Order, plan: Plan, warehouse) -> tuple[dict, int]:
    """The rules' carrier/priority and the chosen warehouse, as ``order_update`` changes."""
    rules = plan.rules
    priority = order.priority
    if rules.priority is not None and rules.priority > priority:
        priority = rules.priority
    if order.kind == Order.Kind.ASN_DIRECT:
        priority = max(priority, Order.Priority.ASN)
    changes = {}
    if rules.carrier and order.carrier != rules.carrier:
        changes["carrier"] = rules.carrier
    elif rules.carrier_choice is not None and not rules.carrier and order.carrier:
        # A carrier choice that fell back to the default account: forget an earlier run's pick.
        changes["carrier"] = ""
    if priority != order.priority:
        changes["priority"] = priority
    if warehouse is not None and order.warehouse_id != warehouse.pk:
        changes["warehouse"] = warehouse
    return changes, priority


def _tags_for(names, tags: dict) -> list[Tag]:
    for name in names:
        if name not in tags:
            tags[name] = Tag.objects.get_or_create(name=name)[0]
    return [tags[name] for name in names]


def _set_fields(order: Order, plan: Plan, actor: Actor, warehouse, tags: dict):
    """Write the rules' carrier/priority and the chosen warehouse (one versioned edit)."""
    changes, priority = _field_changes(order, plan, warehouse)
    if changes:
        order = order_update(order=order, actor=actor, changes=changes, reason="automation")
    if plan.rules.tags:
        order.tags.add(*_tags_for(plan.rules.tags, tags))
    return order, priority


DECISION_FIELDS = ["result", "warehouse", "warehouse_source", "carrier", "carrier_service",
                   "carrier_reason", "priority", "tags_added", "matched_rules",
                   "review_reasons", "credit_hold", "runs", "decided_at"]


def _finish(order: Order, plan: Plan, *, result: str, reasons: list, priority: int,
            actor: Actor, batch: dict | None = None) -> Outcome:
    """Send to review if there are reasons; record the decision; signal on commit.

    ``batch``: ``{"runs": {order_id: runs so far}, "rows": [], "urgent": []}``;
    the decision row and the urgent news are collected there, for the caller to
    write in one upsert and announce in one ``orders_urgent`` on commit.
    """
    if reasons:
        order = order_transition(order=order, name="hold_review", actor=actor,
                                 reason=_review_text(reasons))
        result = S.REVIEW
    return _record(order.pk, plan, result=result, reasons=reasons, priority=priority,
                   actor=actor, batch=batch)


def _review_text(reasons: list) -> str:
    # Short: the history row keeps "<transition>: <reason>" in 100 characters.
    # Every reason in full is on the decision.
    return _short(", ".join(dict.fromkeys(r["code"] for r in reasons)))


def _record(order_id: int, plan: Plan, *, result: str, reasons: list, priority: int,
            actor: Actor, batch: dict | None = None) -> Outcome:
    """Record the decision of an order already moved to ``result``; signal on commit."""
    who = actor_info(actor)
    rules = plan.rules
    if batch is not None:
        decision = OrderDecision(order_id=order_id, runs=batch["runs"].get(order_id, 0))
        batch["rows"].append(decision)
    else:
        decision, _created = OrderDecision.objects.get_or_create(
            order_id=order_id, defaults={"result": result})
    decision.result = result
    decision.warehouse_id = plan.warehouse_id
    decision.warehouse_source = plan.warehouse_source
    decision.carrier = rules.carrier
    decision.carrier_service = rules.carrier_service
    decision.carrier_reason = rules.carrier_reason
    decision.priority = priority
    decision.tags_added = list(rules.tags)
    decision.matched_rules = list(rules.matched)
    decision.review_reasons = reasons
    decision.credit_hold = any(r["code"] == risk_service.CREDIT for r in reasons)
    decision.runs += 1
    decision.decided_at = timezone.now()
    if batch is None:
        decision.save()
    wh_id = plan.warehouse_id
    if result == S.REVIEW:
        texts = [risk_service.reason_text(r) for r in reasons]
        transaction.on_commit(lambda: order_needs_review.send(
            sender=Order, order_id=order_id, reasons=texts, actor=who.label))
    elif result == S.READY_TO_PICK and priority >= Order.Priority.H4:
        urgent = UrgentOrder(order_id, int(priority), wh_id)
        if batch is not None:
            batch["urgent"].append(urgent)
        else:
            transaction.on_commit(lambda: orders_urgent.send(sender=Order, orders=[urgent]))
    return Outcome(order_id, result, reasons=reasons, warehouse_id=plan.warehouse_id)


def _apply(plan: Plan, actor: Actor, tags: dict | None = None) -> Outcome:
    """One order: fields, then review, out of stock, or ``order_allocate``."""
    tags = {} if tags is None else tags
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=plan.order.pk)
        if order.status != S.PAID:
            return Outcome(order.pk, "skipped")
        warehouse = (Warehouse.objects.get(pk=plan.warehouse_id) if plan.warehouse_id
                     and not plan.reasons else None)
        order, priority = _set_fields(order, plan, actor, warehouse, tags)
        reasons, result = list(plan.reasons), ""
        if not reasons:
            if warehouse is None:
                order = order_transition(order=order, name="mark_out_of_stock", actor=actor,
                                         reason=_("No active warehouse."))
                result = S.OUT_OF_STOCK
            else:
                try:
                    allocation = stock_service.order_allocate(order=order, warehouse=warehouse,
                                                              actor=actor)
                except stock_service.StockError as exc:
                    reasons.append(risk_service.make_reason("stock", "rule", text=exc.message))
                else:
                    order = allocation.order
                    result = S.READY_TO_PICK if allocation.ok else S.OUT_OF_STOCK
        return _finish(order, plan, result=result, reasons=reasons, priority=priority,
                       actor=actor)


def _apply_group(plans: list[Plan], actor: str, tags: dict) -> dict[int, Outcome]:
    """Many orders, whatever their warehouses and results: the same rows as ``_apply``.

    A constant number of queries whatever the batch's size: stock with the
    warehouse's bulk path (``stock_reserve_batch``, every warehouse at once),
    the edits and the moves with one ``orders_edit_and_transition`` (the rows
    of ``order_update`` + ``order_transition``, in bulk; system actors only),
    tags with one insert, decisions with one upsert.

    Two transactions, so the stock rows (shared by every worker) stay locked
    only while reserving, not while the orders are written:

    1. lock the orders still ``paid`` (by pk) and reserve the stock of those
       bound for a warehouse;
    2. lock again those still ``paid``, write each one's fields and move it
       (``mark_ready`` / ``mark_out_of_stock`` / review), record the decisions.

    A crash between the two leaves paid orders holding their reservation; the
    next run (task retry or straggler sweep) finds the reservation already
    there (reserving is idempotent) and finishes the move.
    """
    out: dict[int, Outcome] = {}
    ids = [p.order.pk for p in plans]
    warehouses = Warehouse.objects.in_bulk(
        list({p.warehouse_id for p in plans if p.warehouse_id and not p.reasons}))
    target = {p.order.pk: warehouses[p.warehouse_id] for p in plans
              if p.warehouse_id and not p.reasons}
    reserved: dict = {}
    if target:
        with transaction.atomic():
            paid = set(Order.objects.select_for_update()
                       .filter(pk__in=in_values(target), status=S.PAID).order_by("pk")
                       .values_list("pk", flat=True))
            to_reserve = [order_id for order_id in ids if order_id in paid]
            if to_reserve:
                reserved = stock_service.stock_reserve_batch(
                    orders=to_reserve, actor=actor,
                    warehouse_for={order_id: target[order_id] for order_id in to_reserve})
    with transaction.atomic():
        locked = _lock_paid(plans)
        changes, priorities, tagged = {}, {}, []
        moves, decided, shortages = {}, [], []
        for plan in plans:
            order_id = plan.order.pk
            order = locked.get(order_id)
            warehouse = target.get(order_id)
            if order is None or (warehouse is not None and order_id not in reserved):
                out[order_id] = Outcome(order_id, "skipped")
                locked.pop(order_id, None)
                continue
            changes[order_id], priorities[order_id] = _field_changes(order, plan, warehouse)
            tagged += [(order_id, tag.pk) for tag in _tags_for(plan.rules.tags, tags)]
            reasons = list(plan.reasons)
            got = reserved.get(order_id)
            if reasons:
                moves[order_id], result = ("hold_review", _review_text(reasons)), S.REVIEW
            elif warehouse is None:
                moves[order_id] = ("mark_out_of_stock", _("No active warehouse."))
                result = S.OUT_OF_STOCK
            elif isinstance(got, list):
                moves[order_id], result = ("mark_ready", ""), S.READY_TO_PICK
            elif isinstance(got, stock_service.InsufficientStock):
                moves[order_id] = ("mark_out_of_stock", _short(got.message))
                result = S.OUT_OF_STOCK
                shortages.append({"order_id": order_id, "warehouse_id": warehouse.pk,
                                  "shortages": [s.as_dict() for s in got.shortages],
                                  "purchasing_contact": got.purchasing_contact})
            else:
                reasons.append(risk_service.make_reason("stock", "rule", text=got.message))
                moves[order_id], result = ("hold_review", _review_text(reasons)), S.REVIEW
            decided.append((plan, result, reasons))
        if not decided:
            return out
        orders_edit_and_transition(orders=[locked[p.order.pk] for p, _r, _rs in decided],
                                   actor=actor, changes_by_id=changes, edit_reason="automation",
                                   transition_by_id=moves)
        if tagged:
            through = Order.tags.through
            through.objects.bulk_create(
                [through(order_id=order_id, tag_id=tag_id) for order_id, tag_id in tagged],
                ignore_conflicts=True)
        for payload in shortages:
            transaction.on_commit(lambda p=payload: stock_insufficient.send(sender=Order, **p))
        batch = {"rows": [], "urgent": [], "runs": dict(OrderDecision.objects.filter(
            order_id__in=in_values(locked)).values_list("order_id", "runs"))}
        for plan, result, reasons in decided:
            out[plan.order.pk] = _record(plan.order.pk, plan, result=result, reasons=reasons,
                                         priority=priorities[plan.order.pk], actor=actor,
                                         batch=batch)
        _upsert_decisions(batch["rows"])
        if batch["urgent"]:
            urgent = batch["urgent"]
            transaction.on_commit(lambda: orders_urgent.send(sender=Order, orders=urgent))
    return out


def _upsert_decisions(rows: list[OrderDecision]) -> None:
    """Write decisions in one upsert; a row's approved_checks (reviewers' approvals) is kept."""
    upsert_rows(OrderDecision, rows, unique_field="order",
                insert_fields=[*DECISION_FIELDS, "approved_checks"],
                update_fields=DECISION_FIELDS)


def _lock_paid(plans: list[Plan]) -> dict[int, Order]:
    """Lock the plans' orders still ``paid`` (by pk); return them by id, as they are now.

    The lock reads only ids and ``updated_at``: an order whose row is unchanged
    since it was planned (every save moves ``updated_at``) is the plan's own
    instance; only the others are read again, whole.
    """
    by_id = {p.order.pk: p.order for p in plans}
    current = dict(Order.objects.select_for_update()
                   .filter(pk__in=in_values(by_id), status=S.PAID).order_by("pk")
                   .values_list("pk", "updated_at"))
    locked = {pk: by_id[pk] for pk, at in current.items()
              if by_id[pk].updated_at == at and by_id[pk].status == S.PAID}
    changed = [pk for pk in current if pk not in locked]
    if changed:
        locked.update(Order.objects.in_bulk(changed))
    return locked


def _short(text: str, limit: int = TRANSITION_REASON_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- re-processing ------------------------------------------------------------------------


def order_reprocess(*, order: Order | int, actor: Actor, reason: str = "",
                    expected_status: str | None = None, reset_approvals: bool = False
                    ) -> Outcome:
    """Ask automation to decide again: give back the stock, back to ``paid``, run.

    Allowed from ``ready_to_pick``, ``out_of_stock`` and ``review`` (and a
    ``paid`` order simply runs). ``reset_approvals``: forget what reviewers
    approved (after an edit the facts they approved may be gone).
    """
    who = actor_info(actor)
    if who.user is not None and not who.user.has_perm("orderhub.allocate_order"):
        raise TransitionNotPermitted(_("You are not allowed to do that."))
    order_id = order.pk if isinstance(order, Order) else int(order)
    reason = _short((reason or "").strip() or _("re-process"))
    with transaction.atomic():
        locked = Order.objects.select_for_update().filter(pk=order_id).first()
        if locked is None:
            raise OrderServiceError(_("There is no order %(id)s.") % {"id": order_id})
        if expected_status is not None and locked.status != expected_status:
            raise TransitionRefused(
                _("Someone else changed this order meanwhile. Reload the page and try again."))
        if locked.status in REPROCESS_FROM:
            stock_service.stock_release(order=locked, actor=actor, reason=reason)
            order_transition(order=locked, name="reprocess", actor=actor, reason=reason)
        elif locked.status != S.PAID:
            raise TransitionRefused(
                _("This order is %(status)s; automation can no longer decide for it.")
                % {"status": locked.get_status_display()})
        if reset_approvals:
            OrderDecision.objects.filter(order_id=order_id).update(approved_checks=[])
    outcome = order_automate(order=order_id)
    if outcome.result == "skipped":
        # The paid signal's task (eager, or a fast worker) already decided.
        status = Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
        outcome = Outcome(order_id, status or "skipped")
    return outcome


def order_reprocess_after_edit(*, order_id: int, reset_approvals: bool = True) -> str:
    """Re-run automation after an edit, only while picking has not started.

    Returns the outcome's result, or "skipped" for an order no longer in
    ``REPROCESS_ON_EDIT``.
    """
    status = Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
    if status not in REPROCESS_ON_EDIT:
        return "skipped"
    return order_reprocess(order=order_id, actor=ACTOR, reason="order edited",
                           reset_approvals=reset_approvals).result
