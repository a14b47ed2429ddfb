from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_counter_triggers(sender, using, **kwargs):
    # SQLite rebuilds a table to alter it, dropping its triggers (orderhub.counters).
    from orderhub import counters

    counters.ensure_triggers(using=using)


class OrderHubConfig(AppConfig):
    name = "orderhub"
    verbose_name = _("Orders")

    def ready(self):
        from orderhub import events

        events.autodiscover()
        post_migrate.connect(_ensure_counter_triggers, sender=self,
                             dispatch_uid="orderhub.counters.ensure_triggers")
