from django.core.management.base import BaseCommand, CommandError

from warehouse.models import Warehouse
from warehouse.services.stock import stock_drift


class Command(BaseCommand):
    help = (
        "Verify that every stock level equals the sum of its ledger and its open "
        "reservations. Prints each drift; exits 1 if there is any."
    )

    def add_arguments(self, parser):
        parser.add_argument("--warehouse", help="only this warehouse code")

    def handle(self, *args, warehouse=None, **options):
        wh = None
        if warehouse:
            wh = Warehouse.objects.filter(code=warehouse).first()
            if wh is None:
                raise CommandError(f"There is no warehouse {warehouse!r}.")
        drifts = stock_drift(wh)
        for d in drifts:
            self.stdout.write(
                f"DRIFT {d.warehouse_code} {d.sku_code}: on hand level {d.on_hand_level} "
                f"ledger {d.on_hand_ledger}; reserved level {d.reserved_level} "
                f"ledger {d.reserved_ledger} open reservations {d.reserved_active}"
            )
        if drifts:
            self.stderr.write(self.style.ERROR(f"{len(drifts)} stock level(s) drifted."))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Stock levels match the ledger."))
