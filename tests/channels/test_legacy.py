"""Legacy history through the CSV path: recent orders become hub orders, older ones an archive."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from channels.csv_import import csv_import, csv_preview
from channels.models import Channel, LegacyOrder, RawPayload, SkuMapping
from orderhub.models import Order

HEADER = "订单号,买家,手机号,省,市,区,详细地址,商家编码,商品名称,数量,单价,运费,下单时间,订单状态\n"


def ago(days: int) -> str:
    return (timezone.localtime() - dt.timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


def row(order_id, days, *, phone="13800138000", buyer="张三", sku="CUP-1", qty=1,
        price="59.00", fee="0", status="交易成功"):
    return (f"{order_id},{buyer},{phone},上海市,上海市,浦东新区,世纪大道100号,{sku},保温杯,"
            f"{qty},{price},{fee},{ago(days)},{status}\n")


def history() -> str:
    return HEADER + "".join([
        row("L1", 10),                                   # recent: a hub order
        row("L2", 200, qty=2, fee="10.00"),              # old: archived, two lines
        row("L2", 200, sku="SLEEVE-1", price="0"),
        row("L3", 400, phone="+86 139-0013-9000", buyer="李四", status="已退款"),
    ])


@pytest.fixture
def legacy_channel(db):
    channel = Channel.objects.create(code="old-erp", name="旧系统", platform="csv", config={
        "csv": {"legacy": True, "columns": {
            "order_id": "订单号", "buyer_name": "买家", "phone": "手机号", "province": "省",
            "city": "市", "district": "区", "address": "详细地址", "sku": "商家编码",
            "name": "商品名称", "quantity": "数量", "price": "单价", "shipping_fee": "运费",
            "placed_at": "下单时间", "status": "订单状态"}}})
    SkuMapping.objects.create(channel=channel, platform_sku="CUP-1", hub_sku="SKU-CUP")
    SkuMapping.objects.create(channel=channel, platform_sku="SLEEVE-1", hub_sku="SKU-SLV")
    return channel


def set_window(channel, days):
    channel.config["csv"]["legacy_window_days"] = days
    channel.save(update_fields=["config"])


def import_text(channel, text, **kw):
    return csv_import(channel=channel, name="history.csv", data=text.encode("utf-8"), **kw)


def test_recent_legacy_orders_become_orders_and_old_ones_are_archived(legacy_channel):
    outcome = import_text(legacy_channel, history())
    assert outcome.result.as_dict() == {"created": 1, "updated": 0, "unchanged": 0,
                                        "rejected": 0}
    assert (outcome.archived, outcome.archived_unchanged) == (2, 0)
    # recent: a live hub order keeping its legacy id
    l1 = Order.objects.get()
    assert (l1.external_id, l1.legacy_id, l1.status) == ("L1", "L1", "paid")
    # old: archived, not live orders, nothing in the pipeline's queues
    assert not Order.objects.filter(external_id__in=["L2", "L3"]).exists()
    assert not RawPayload.objects.filter(external_id__in=["L2", "L3"]).exists()
    l2 = LegacyOrder.objects.get(legacy_id="L2")
    assert l2.channel == legacy_channel and l2.buyer_name == "张三"
    assert l2.buyer_phone == "+8613800138000" and l2.buyer_phone_raw == "13800138000"
    assert l2.total == Decimal("128.00") and l2.currency == "CNY"   # 2 × 59 + 0 + 10 fee
    assert l2.status_text == "交易成功"
    assert [(ln["sku"], ln["quantity"], ln["unit_price"]) for ln in l2.lines] == [
        ("CUP-1", 2, "59.00"), ("SLEEVE-1", 1, "0.00")]
    assert len(l2.raw["rows"]) == 2 and l2.raw["order_id"] == "L2"
    assert timezone.localtime(l2.placed_at).date() == (
        timezone.localtime() - dt.timedelta(days=200)).date()
    assert LegacyOrder.objects.get(legacy_id="L3").buyer_phone == "+8613900139000"


def test_reimport_creates_nothing_new(legacy_channel):
    import_text(legacy_channel, history())
    before = list(LegacyOrder.objects.order_by("pk").values())
    # The same history exported again, with an edited buyer name on an archived order.
    again = import_text(legacy_channel, history().replace("李四", "李四四"))
    assert again.result.as_dict() == {"created": 0, "updated": 0, "unchanged": 1,
                                      "rejected": 0}
    assert (again.archived, again.archived_unchanged) == (0, 2)
    assert list(LegacyOrder.objects.order_by("pk").values()) == before
    assert Order.objects.count() == 1


def test_an_order_imported_while_recent_stays_an_order_when_it_ages(legacy_channel):
    import_text(legacy_channel, history())
    set_window(legacy_channel, 5)  # as if L1 (10 days old) had aged out of the window
    again = import_text(legacy_channel, history())
    assert again.result.unchanged == 1 and again.archived == 0
    assert not LegacyOrder.objects.filter(legacy_id="L1").exists()


def test_window_is_configurable_per_channel(legacy_channel):
    set_window(legacy_channel, 365)
    outcome = import_text(legacy_channel, history())
    assert (outcome.result.created, outcome.archived) == (2, 1)
    assert set(Order.objects.values_list("legacy_id", flat=True)) == {"L1", "L2"}
    assert list(LegacyOrder.objects.values_list("legacy_id", flat=True)) == ["L3"]


def test_window_setting_as_text_and_a_bad_one(legacy_channel):
    set_window(legacy_channel, "500")
    assert import_text(legacy_channel, history()).archived == 0
    set_window(legacy_channel, "ninety")
    outcome = import_text(legacy_channel, history().replace("L", "M"))
    assert outcome.result.rejected == 1
    assert "legacy_window_days" in outcome.row_errors[0][1]
    # the file is kept in quarantine, nothing archived or created from it
    assert RawPayload.objects.filter(status="quarantined").count() == 1
    assert not LegacyOrder.objects.exists()


def test_old_orders_of_a_non_legacy_channel_are_still_imported(legacy_channel):
    legacy_channel.config["csv"]["legacy"] = False
    legacy_channel.save(update_fields=["config"])
    outcome = import_text(legacy_channel, history())
    assert (outcome.result.created, outcome.archived) == (3, 0)
    assert not Order.objects.exclude(legacy_id="").exists()


def test_broken_old_order_is_quarantined_and_all_or_nothing_archives_nothing(legacy_channel):
    text = history() + row("L4", 300, qty="两个")
    outcome = import_text(legacy_channel, text, all_or_nothing=True)
    assert outcome.result.rejected == 1 and outcome.archived == 0
    assert not LegacyOrder.objects.exists() and not Order.objects.exists()
    outcome = import_text(legacy_channel, text)
    assert (outcome.result.created, outcome.result.rejected, outcome.archived) == (1, 1, 2)
    assert "两个" in RawPayload.objects.get(status="quarantined").error


def test_preview_counts_what_will_be_archived(legacy_channel):
    preview = csv_preview(channel=legacy_channel, name="h.csv", data=history().encode())
    assert (preview["order_count"], preview["archive_count"]) == (3, 2)
    assert preview["legacy_window_days"] == 90
    assert not LegacyOrder.objects.exists()


# --- the phone search page ----------------------------------------------------------------


@pytest.fixture
def archived(legacy_channel):
    import_text(legacy_channel, history())


@pytest.mark.parametrize("typed", ["13800138000", "+86 138 0013 8000", "138-0013-8000",
                                   "0086 13800138000"])
def test_phone_search_finds_archived_orders_in_any_format(client, make_user, archived, typed):
    client.force_login(make_user("ops"))
    response = client.get(reverse("channels:legacy"), {"phone": typed})
    assert response.status_code == 200
    assert [o.legacy_id for o in response.context["orders"]] == ["L2"]
    html = response.content.decode()
    assert 'data-legacy="L2"' in html and "128.00 CNY" in html and "交易成功" in html
    assert 'data-legacy="L3"' not in html


def test_phone_search_no_match_and_bad_number(client, make_user, archived):
    client.force_login(make_user("finance"))
    url = reverse("channels:legacy")
    html = client.get(url, {"phone": "13700137000"}).content.decode()
    assert "No archived orders for this phone number." in html
    response = client.get(url, {"phone": "12"})
    assert response.status_code == 200 and response.context["orders"] is None
    assert "is not a valid phone number" in response.content.decode()
    assert client.get(url).status_code == 200  # the empty form


@pytest.mark.parametrize("role, status", [("ops", 200), ("manager", 200), ("finance", 200),
                                          ("picker", 403)])
def test_phone_search_permissions(client, make_user, archived, role, status):
    client.force_login(make_user(role))
    assert client.get(reverse("channels:legacy"), {"phone": "13800138000"}).status_code == status


def test_phone_search_needs_a_login(client, archived):
    response = client.get(reverse("channels:legacy"), {"phone": "13800138000"})
    assert response.status_code == 302 and "login" in response["Location"]


def test_health_page_links_to_the_search(client, make_user, db):
    client.force_login(make_user("ops"))
    assert reverse("channels:legacy") in client.get(reverse("channels:health")).content.decode()


def test_admin_is_read_only_and_searches_by_phone(client, archived):
    admin = User.objects.create_superuser("root", "root@example.com", "pw-Secret-123")
    client.force_login(admin)
    url = reverse("admin:channels_legacyorder_changelist")
    response = client.get(url, {"q": "+86 139 0013 9000"})
    assert response.status_code == 200
    assert [o.legacy_id for o in response.context["cl"].result_list] == ["L3"]
    legacy = LegacyOrder.objects.get(legacy_id="L3")
    change = client.get(reverse("admin:channels_legacyorder_change", args=[legacy.pk]))
    assert change.status_code == 200 and 'name="buyer_name"' not in change.content.decode()
    assert client.get(reverse("admin:channels_legacyorder_add")).status_code == 403


def test_import_orders_command_reports_the_archived_counts(legacy_channel, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    path = tmp_path / "history.csv"
    path.write_text(history(), encoding="utf-8")
    out = StringIO()
    call_command("import_orders", "old-erp", str(path), stdout=out)
    assert "created=1 updated=0 unchanged=0 rejected=0" in out.getvalue()
    assert "archived=2 archived_unchanged=0" in out.getvalue()

    again = StringIO()
    call_command("import_orders", "old-erp", str(path), stdout=again)
    assert "archived=0 archived_unchanged=2" in again.getvalue()
