import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from warehouse.models import SKU, Barcode, KitComponent, SkuLocation, Warehouse


def test_sku_has_many_barcodes(catalogue):
    assert set(catalogue["cup"].barcodes.values_list("code", flat=True)) == {
        "6901234567892", "012345678905"}


def test_barcode_is_unique_across_skus(catalogue):
    with pytest.raises(IntegrityError), transaction.atomic():
        Barcode.objects.create(sku=catalogue["lid"], code="6901234567892")


def test_barcode_cannot_be_another_skus_code(catalogue):
    with pytest.raises(ValidationError):
        Barcode(sku=catalogue["lid"], code="SKU-1").full_clean()


def test_kit_cannot_contain_a_kit_or_be_its_own_component(catalogue):
    other_kit = SKU.objects.create(code="KIT-2", name="k2", kind=SKU.Kind.KIT)
    with pytest.raises(ValidationError):
        KitComponent(kit=other_kit, component=catalogue["kit"], quantity=1).full_clean()
    with pytest.raises(ValidationError):
        KitComponent(kit=catalogue["cup"], component=catalogue["lid"], quantity=1).full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        KitComponent.objects.create(kit=other_kit, component=other_kit, quantity=1)


def test_location_bin_must_be_in_the_same_warehouse(catalogue, warehouse):
    bj = Warehouse.objects.create(code="bj", name="Beijing")
    loc = SkuLocation(warehouse=bj, sku=catalogue["cup"], bin=catalogue["bins"]["A-01-01"])
    with pytest.raises(ValidationError):
        loc.full_clean()


def test_warehouse_service_regions(warehouse):
    assert warehouse.serves("新疆维吾尔自治区")  # no regions: serves everywhere
    warehouse.service_regions = ["上海市", "江苏省/南京市"]
    warehouse.full_clean()
    assert warehouse.serves("上海市", "上海市")
    assert warehouse.serves("江苏省", "南京市")
    assert not warehouse.serves("江苏省", "苏州市")
    warehouse.service_regions = "上海市"
    with pytest.raises(ValidationError):
        warehouse.full_clean()


@pytest.mark.parametrize("model", [
    "warehouse", "sku", "barcode", "kitcomponent", "bin", "skulocation", "stocklevel",
    "stockmovement", "reservation", "picklist", "picktask", "pickproblem",
])
def test_admin_pages_load(admin_client, stocked, model):
    response = admin_client.get(f"/admin/warehouse/{model}/")
    assert response.status_code == 200


def test_admin_sku_and_warehouse_forms_load(admin_client, stocked, warehouse):
    assert admin_client.get(f"/admin/warehouse/sku/{stocked['kit'].pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/warehouse/warehouse/{warehouse.pk}/change/").status_code == 200
