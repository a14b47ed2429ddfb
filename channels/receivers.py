"""Reactions to order transitions."""

from django_fsm.signals import post_transition

from orderhub.models import Order


def _on_transition(sender, instance, name, source, target, **kwargs):
    # post_transition runs inside order_transition's transaction, before the
    # save: the outbox row commits (or rolls back) together with the shipment.
    if name == "ship":
        from channels.services import shipment_push_create

        shipment_push_create(order=instance)


def connect() -> None:
    post_transition.connect(_on_transition, sender=Order, dispatch_uid="channels.shipment_push")
