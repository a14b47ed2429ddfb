"""The warehouse's part of ``seed_demo``: the catalogue with opening stock, and allocation.

The core's ``seed_demo`` command imports no app; it finds this module by name
and calls ``seed_catalogue`` before it creates the demo orders and
``allocate`` for each order it routes.
"""

from __future__ import annotations

from orderhub.management.commands.seed_demo import ACTOR, CATALOGUE, GIFTS, _ean13
from warehouse.models import SKU, Barcode, Bin, SkuLocation, StockLevel
from warehouse.services.stock import order_allocate, stock_adjust


def seed_catalogue(warehouses: dict) -> None:
    """SKUs with barcodes, a bin each, and opening stock in every warehouse (idempotent)."""
    items = [(code, name, False) for code, name, *_ in CATALOGUE]
    items += [(code, name, True) for code, name in GIFTS]
    for n, (code, name, is_gift) in enumerate(items):
        sku, _ = SKU.objects.get_or_create(
            code=code, defaults={"name": name, "is_gift": is_gift,
                                 "category": code.split("-")[0]},
        )
        Barcode.objects.get_or_create(code=_ean13(690000000000 + n), defaults={"sku": sku})
        Barcode.objects.get_or_create(code=code, defaults={"sku": sku})
        for w, warehouse in enumerate(warehouses.values()):
            bin_, _ = Bin.objects.get_or_create(
                warehouse=warehouse, code=f"A-{n // 8 + 1:02d}-{n % 8 + 1:02d}",
                defaults={"zone": "A", "pick_order": n},
            )
            SkuLocation.objects.get_or_create(warehouse=warehouse, sku=sku,
                                              defaults={"bin": bin_})
            if not StockLevel.objects.filter(warehouse=warehouse, sku=sku).exists():
                stock_adjust(warehouse=warehouse, sku=sku, delta=300 + 50 * ((n + w) % 5),
                             actor=ACTOR, reason="opening stock (demo)", kind="receipt")


def allocate(*, order, warehouse, actor):
    """Reserve a demo order's stock in ``warehouse`` and move it on, as routing would."""
    return order_allocate(order=order, warehouse=warehouse, actor=actor)
