"""Warehouse fixtures: a small catalogue with bins, stock and a kit."""

import pytest

from warehouse.models import SKU, Barcode, Bin, KitComponent, SkuLocation
from warehouse.services.stock import stock_adjust


@pytest.fixture
def catalogue(db, warehouse):
    """SKU-1 (cup), GIFT-1 (gift sleeve), KIT-1 = 2×SKU-1 + 1×LID-1, each in a bin."""
    bins = {
        code: Bin.objects.create(warehouse=warehouse, code=code, pick_order=order)
        for code, order in [("A-01-01", 10), ("B-02-03", 20), ("C-09-01", 30)]
    }
    cup = SKU.objects.create(code="SKU-1", name="保温杯 Thermos cup", category="drinkware",
                             weight_g=350, fragile=True)
    sleeve = SKU.objects.create(code="GIFT-1", name="杯套 Cup sleeve", is_gift=True)
    lid = SKU.objects.create(code="LID-1", name="杯盖 Lid")
    kit = SKU.objects.create(code="KIT-1", name="双杯礼盒 Twin gift box", kind=SKU.Kind.KIT)
    KitComponent.objects.create(kit=kit, component=cup, quantity=2)
    KitComponent.objects.create(kit=kit, component=lid, quantity=1)
    Barcode.objects.create(sku=cup, code="6901234567892")
    Barcode.objects.create(sku=cup, code="012345678905", kind=Barcode.Kind.UPC)
    Barcode.objects.create(sku=sleeve, code="6909876543210")
    Barcode.objects.create(sku=lid, code="INT-LID-1", kind=Barcode.Kind.INTERNAL)
    SkuLocation.objects.create(warehouse=warehouse, sku=cup, bin=bins["B-02-03"])
    SkuLocation.objects.create(warehouse=warehouse, sku=sleeve, bin=bins["C-09-01"])
    SkuLocation.objects.create(warehouse=warehouse, sku=lid, bin=bins["A-01-01"])
    return {"cup": cup, "sleeve": sleeve, "lid": lid, "kit": kit, "bins": bins}


@pytest.fixture
def receive():
    def receive(warehouse, sku, qty):
        return stock_adjust(warehouse=warehouse, sku=sku, delta=qty, actor="system:test",
                            reason="test receipt", kind="receipt")

    return receive


@pytest.fixture
def stocked(catalogue, warehouse, receive):
    receive(warehouse, catalogue["cup"], 10)
    receive(warehouse, catalogue["sleeve"], 10)
    receive(warehouse, catalogue["lid"], 10)
    return catalogue
