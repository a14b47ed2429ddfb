"""Reactions to order transitions."""

from __future__ import annotations

import logging

from django_fsm.signals import post_transition

from fulfillment.shipping.booking import waybill_cancel_request, waybill_create
from orderhub.models import Order
from orderhub.signals import order_status_changed

logger = logging.getLogger(__name__)


def _on_transition(sender, instance, name, source, target, **kwargs):
    # post_transition runs inside order_transition's transaction, before the
    # save: the waybill outbox row commits (or rolls back) with the "picked" state.
    if name == "finish":
        waybill_create(order=instance)


def _on_status_changed(sender, order_id, transition, **kwargs):
    # Sent after commit: a failure here must not reach the caller. The sweeper
    # also finds booked waybills of cancelled orders, so nothing is lost.
    if transition != "intercept":
        return
    try:
        waybill_cancel_request(order_id=order_id)
    except Exception:  # noqa: BLE001 - see above: the sweeper retries
        logger.exception("could not queue cancelling the waybills of order %s", order_id)


def connect() -> None:
    post_transition.connect(_on_transition, sender=Order, dispatch_uid="shipping.waybill")
    order_status_changed.connect(_on_status_changed, dispatch_uid="shipping.intercept")
