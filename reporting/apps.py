from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = _("Reporting")

    def ready(self):
        from orderhub.signals import order_status_changed
        from reporting import rollup

        order_status_changed.connect(rollup.on_order_status_changed,
                                     dispatch_uid="reporting.rollup_on_status")
