"""Reactions to order transitions and to payloads that could not be read."""

import logging

from django.db import transaction
from django.db.models.signals import post_save
from django_fsm.signals import post_transition

from channels.health import check_format_drift
from channels.models import RawPayload
from channels.services.writeback import shipment_push_create
from orderhub.models import Order

logger = logging.getLogger(__name__)


def _on_transition(sender, instance, name, source, target, **kwargs):
    # post_transition runs inside order_transition's transaction, before the
    # save: the outbox row commits (or rolls back) together with the shipment.
    if name == "ship":
        shipment_push_create(order=instance)


def _on_payload_saved(sender, instance, created, update_fields=None, **kwargs):
    # Every quarantine (webhook, poll, import, replay) saves the row's status: count
    # it for format drift once the quarantine is committed. The pipeline is not
    # touched, and a payload stored but never quarantined costs nothing here.
    if instance.status != RawPayload.Status.QUARANTINED:
        return
    if not created and update_fields is not None and "status" not in update_fields:
        return
    channel_id = instance.channel_id

    def check():
        try:
            check_format_drift(channel=channel_id)
        except Exception:  # noqa: BLE001 - the payload is safely quarantined; a failed check
            # must not break the webhook, poll or import that stored it.
            logger.exception("format drift check failed for channel %s", channel_id)

    transaction.on_commit(check)


def connect() -> None:
    post_transition.connect(_on_transition, sender=Order, dispatch_uid="channels.shipment_push")
    post_save.connect(_on_payload_saved, sender=RawPayload,
                      dispatch_uid="channels.format_drift")
