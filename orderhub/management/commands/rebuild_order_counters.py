"""Recount the order status counters from the orders (orderhub.counters.rebuild)."""

from django.core.management.base import BaseCommand

from orderhub import counters


class Command(BaseCommand):
    help = ("Recount the order list's status counters from the orders (and put back "
            "missing counter triggers). Locks orders against writes for about a second "
            "per million orders.")

    def handle(self, *args, **options):
        if counters.ensure_triggers():
            self.stdout.write("Put back missing counter triggers.")
        total = counters.rebuild()
        self.stdout.write(f"Counted {total} orders.")
