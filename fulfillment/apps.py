from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = _("Fulfillment")

    def ready(self):
        # Models and the modules that import them load once the app registry is ready.
        from fulfillment import receivers
        from fulfillment.models import Condition, Rule
        from fulfillment.services.rules import rules_changed
        from orderhub.signals import order_edited, orders_status_changed

        orders_status_changed.connect(receivers.on_orders_status_changed,
                                      dispatch_uid="fulfillment.automate_on_paid")
        order_edited.connect(receivers.on_order_edited,
                             dispatch_uid="fulfillment.reprocess_on_edit")
        for model in (Rule, Condition):
            post_save.connect(rules_changed, sender=model,
                              dispatch_uid=f"rules-save-{model.__name__}")
            post_delete.connect(rules_changed, sender=model,
                                dispatch_uid=f"rules-delete-{model.__name__}")
