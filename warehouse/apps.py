from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WarehouseConfig(AppConfig):
    name = "warehouse"
    verbose_name = _("Warehouse")

    def ready(self):
        from orderhub.signals import order_status_changed, orders_status_changed
        from warehouse import receivers
        from warehouse.signals import stock_insufficient

        order_status_changed.connect(
            receivers.on_order_status_changed, dispatch_uid="warehouse.stock_on_status"
        )
        orders_status_changed.connect(
            receivers.on_orders_status_changed, dispatch_uid="warehouse.picklists_on_status"
        )
        stock_insufficient.connect(
            receivers.on_stock_insufficient, dispatch_uid="warehouse.transfer_on_shortage"
        )
