from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save, pre_save
from django.utils.translation import gettext_lazy as _


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = _("Reporting")

    def ready(self):
        # Importing ``tasks`` registers them in every process, not only in workers: the
        # exports enqueue theirs by name, and an eager setup (tests,
        # CELERY_TASK_ALWAYS_EAGER) must find it there.
        from orderhub.signals import order_edited, orders_status_changed
        from reporting import buyer_tracking, rollup, tasks  # noqa: F401

        orders_status_changed.connect(rollup.on_orders_status_changed,
                                      dispatch_uid="reporting.rollup_on_status")
        order_edited.connect(rollup.on_order_edited, dispatch_uid="reporting.rollup_on_edit")
        # A SKU's category decides which category rows an order's numbers are in.
        pre_save.connect(rollup.on_sku_pre_save, sender="warehouse.SKU",
                         dispatch_uid="reporting.rollup_on_sku_pre_save")
        post_save.connect(rollup.on_sku_saved, sender="warehouse.SKU",
                          dispatch_uid="reporting.rollup_on_sku_saved")
        # A waybill's first scan and status decide the SLA and the tracking return rate.
        pre_save.connect(rollup.on_waybill_pre_save, sender="shipping.Waybill",
                         dispatch_uid="reporting.rollup_on_waybill_pre_save")
        post_save.connect(rollup.on_waybill_saved, sender="shipping.Waybill",
                          dispatch_uid="reporting.rollup_on_waybill_saved")
        # When the buyer was first given valid tracking info (the buyer SLA).
        post_save.connect(buyer_tracking.on_message_saved, sender="notifications.Message",
                          dispatch_uid="reporting.buyer_tracking_on_message")
        post_save.connect(buyer_tracking.on_shipment_push_saved, sender="channels.ShipmentPush",
                          dispatch_uid="reporting.buyer_tracking_on_push")
        post_save.connect(buyer_tracking.on_waybill_saved, sender="shipping.Waybill",
                          dispatch_uid="reporting.buyer_tracking_on_waybill")
        post_delete.connect(rollup.on_sku_deleted, sender="warehouse.SKU",
                            dispatch_uid="reporting.rollup_on_sku_deleted")
