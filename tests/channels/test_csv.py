import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import Workbook

from channels.csv_import import csv_import, csv_preview
from channels.models import Channel, RawPayload, SkuMapping
from orderhub.models import Order

HEADER = "订单号,买家,手机号,省,市,区,详细地址,商家编码,商品名称,数量,单价,下单时间,订单状态\n"
GOOD = ("A1,张三,13800138000,上海市,上海市,浦东新区,世纪大道100号,CUP-1,保温杯,2,59.00,"
        "2026-11-20 10:00:00,已付款\n"
        "A1,张三,13800138000,上海市,上海市,浦东新区,世纪大道100号,SLEEVE-1,杯套,1,0,"
        "2026-11-20 10:00:00,已付款\n"
        "A2,李四,13900139000,北京市,北京市,朝阳区,建国路1号,CUP-1,保温杯,1,59.00,"
        "2026-11-20 11:00:00,待付款\n")
BROKEN = ("A3,王五,13700137000,广东省,深圳市,南山区,科技园1号,CUP-1,保温杯,两个,59.00,"
          "2026-11-20 12:00:00,已付款\n")


@pytest.fixture
def csv_channel(db):
    channel = Channel.objects.create(code="taobao-csv", name="淘宝导出", platform="csv", config={
        "csv": {"columns": {
            "order_id": "订单号", "buyer_name": "买家", "phone": "手机号", "province": "省",
            "city": "市", "district": "区", "address": "详细地址", "sku": "商家编码",
            "name": "商品名称", "quantity": "数量", "price": "单价", "placed_at": "下单时间",
            "status": "订单状态"}}})
    SkuMapping.objects.create(channel=channel, platform_sku="CUP-1", hub_sku="SKU-CUP")
    SkuMapping.objects.create(channel=channel, platform_sku="SLEEVE-1", hub_sku="SKU-SLV")
    return channel


def test_gbk_csv_groups_lines_and_imports(csv_channel, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes((HEADER + GOOD).encode("gbk"))
    outcome = csv_import(channel=csv_channel, path=path)
    assert outcome.result.as_dict() == {"created": 2, "updated": 0, "unchanged": 0,
                                        "rejected": 0}
    a1 = Order.objects.get(external_id="A1")
    assert a1.lines.count() == 2 and a1.status == "paid"
    assert a1.ship_district == "浦东新区" and a1.buyer_phone == "+8613800138000"
    assert Order.objects.get(external_id="A2").status == "pending_payment"
    # Importing the same file again changes nothing.
    assert csv_import(channel=csv_channel, path=path).result.unchanged == 2


def test_broken_row_is_reported_and_the_rest_imported(csv_channel, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(HEADER + GOOD + BROKEN, encoding="utf-8-sig")
    outcome = csv_import(channel=csv_channel, path=path)
    assert (outcome.result.created, outcome.result.rejected) == (2, 1)
    raw = RawPayload.objects.get(status="quarantined")
    assert "row 5" in raw.error and "两个" in raw.error


def test_all_or_nothing_imports_nothing_when_a_row_is_broken(csv_channel, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(HEADER + GOOD + BROKEN, encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("import_orders", "taobao-csv", str(path), "--all-or-nothing")
    assert not Order.objects.exists()
    assert RawPayload.objects.filter(status="quarantined").count() == 1


def test_wrong_columns_are_a_clear_file_error(csv_channel, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("id,qty\n1,2\n", encoding="utf-8")
    outcome = csv_import(channel=csv_channel, path=path)
    assert outcome.result.rejected == 1
    assert "missing: 订单号, 商家编码, 数量" in outcome.row_errors[0][1]
    assert RawPayload.objects.get().body.startswith("id,qty")


def test_preview_shows_orders_and_row_errors_without_storing(csv_channel):
    data = (HEADER + GOOD + BROKEN).encode("gbk")
    preview = csv_preview(channel=csv_channel, name="x.csv", data=data)
    assert preview["order_count"] == 3
    assert [o.external_id for o in preview["orders"]] == ["A1", "A2"]
    assert preview["errors"][0][0] == 5
    assert not RawPayload.objects.exists() and not Order.objects.exists()


def test_xlsx_is_read_too(csv_channel):
    book = Workbook()
    sheet = book.active
    for line in (HEADER + GOOD).strip().split("\n"):
        sheet.append(line.split(","))
    buffer = io.BytesIO()
    book.save(buffer)
    outcome = csv_import(channel=csv_channel, name="export.xlsx", data=buffer.getvalue())
    assert outcome.result.created == 2


def test_upload_page_previews_then_imports(client, make_user, csv_channel, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    settings.VAR_DIR = tmp_path
    client.force_login(make_user("ops"))
    url = reverse("channels:upload", args=[csv_channel.pk])
    assert client.get(url).status_code == 200
    upload = SimpleUploadedFile("export.csv", (HEADER + GOOD + BROKEN).encode("gbk"))
    page = client.post(url, {"file": upload})
    html = page.content.decode()
    assert "3 orders found" in html and "两个" in html
    assert not Order.objects.exists()
    token = page.context["token"]
    page = client.post(url, {"token": token, "name": "export.csv"})
    assert "Created 2, updated 0, unchanged 0, rejected 1" in page.content.decode()
    assert Order.objects.count() == 2
