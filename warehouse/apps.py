from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WarehouseConfig(AppConfig):
    name = "warehouse"
    verbose_name = _("Warehouse")

    def ready(self):
        from celery.signals import worker_process_init
        from django.db.models.signals import post_delete, post_save

        from orderhub.signals import order_status_changed, orders_status_changed
        from warehouse import receivers
        from warehouse.models import StockSource
        from warehouse.pdf import prewarm_in_background
        from warehouse.services.stock import erp_check_cache_clear
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
        # The single-order allocation caches which warehouses confirm each order with the ERP.
        for signal in (post_save, post_delete):
            signal.connect(erp_check_cache_clear, sender=StockSource,
                           dispatch_uid=f"warehouse.erp_check_cache_{signal is post_save}")

        # Worker processes print labels and pick lists: WeasyPrint warm before the first
        # task (web processes: orderhub/wsgi.py). bench/picklist.py measures it.
        worker_process_init.connect(lambda **kwargs: prewarm_in_background(), weak=False,
                                    dispatch_uid="warehouse.pdf_prewarm")
