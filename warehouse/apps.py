from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WarehouseConfig(AppConfig):
    name = "warehouse"
    verbose_name = _("Warehouse")

    def ready(self):
        from orderhub.signals import order_status_changed, orders_status_changed
        from warehouse import receivers

        order_status_changed.connect(
            receivers.on_order_status_changed, dispatch_uid="warehouse.stock_on_status"
        )
        orders_status_changed.connect(
            receivers.on_orders_status_changed, dispatch_uid="warehouse.picklists_on_status"
        )
        from celery.signals import worker_process_init

        from warehouse.pdf import prewarm_in_background

        # Worker processes print labels and pick lists: WeasyPrint warm before the first
        # task (web processes: orderhub/wsgi.py). bench/picklist.py measures it.
        worker_process_init.connect(lambda **kwargs: prewarm_in_background(), weak=False,
                                    dispatch_uid="warehouse.pdf_prewarm")
