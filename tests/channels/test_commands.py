import json

import httpx
import pytest
import respx
from django.core.management import call_command
from django.core.management.base import CommandError

from channels.models import RawPayload
from orderhub.models import Order
from tests.channels.conftest import FIXTURES, SHOP_API, load, shopify_cn_order


def test_import_orders_counts_and_exit_code(tmp_path, mapped, capsys):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps({"orders": [shopify_cn_order(1), shopify_cn_order(2)]}))
    call_command("import_orders", "shopify-demo", str(path))
    assert "created=2 updated=0 unchanged=0 rejected=0" in capsys.readouterr().out

    call_command("import_orders", "shopify-demo", str(path))
    assert "created=0 updated=0 unchanged=2 rejected=0" in capsys.readouterr().out


def test_import_orders_exits_1_when_something_is_rejected(tmp_path, mapped, capsys):
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(shopify_cn_order(1)) + "\n{broken\n")
    with pytest.raises(CommandError) as exc:
        call_command("import_orders", "shopify-demo", str(path))
    assert exc.value.returncode == 1
    assert "created=1 updated=0 unchanged=0 rejected=1" in capsys.readouterr().out
    assert RawPayload.objects.filter(status="quarantined", body="{broken").exists()


def test_import_garbage_file_keeps_it(tmp_path, mapped):
    path = tmp_path / "orders.json"
    path.write_bytes(b"\x00\x01 not json")
    with pytest.raises(CommandError):
        call_command("import_orders", "shopify-demo", str(path))
    raw = RawPayload.objects.get()
    assert raw.status == "quarantined" and "cannot be read" in raw.error
    assert not Order.objects.exists()


def test_unknown_channel(tmp_path, db):
    with pytest.raises(CommandError, match="No channel"):
        call_command("import_orders", "nope", str(tmp_path / "x.json"))


@respx.mock
def test_poll_channel_command(mapped, capsys):
    respx.get(f"{SHOP_API}/orders.json").mock(return_value=httpx.Response(
        200, json={"orders": [shopify_cn_order(1)]}))
    call_command("poll_channel", "shopify-demo")
    assert "created=1" in capsys.readouterr().out
    assert Order.objects.count() == 1


def test_import_single_order_object_for_any_platform(tmp_path, mapped, capsys):
    path = tmp_path / "order.json"
    path.write_text(json.dumps(shopify_cn_order(7)))  # one order, not a list
    call_command("import_orders", "shopify-demo", str(path))
    assert "created=1 updated=0 unchanged=0 rejected=0" in capsys.readouterr().out
    assert Order.objects.get().external_id == "9007"


def test_import_single_object_that_is_no_order_is_rejected_with_a_reason(tmp_path, mapped):
    path = tmp_path / "order.json"
    path.write_text(json.dumps({"hello": "world"}))
    with pytest.raises(CommandError):
        call_command("import_orders", "shopify-demo", str(path))
    assert RawPayload.objects.get().status == "quarantined"
    assert not Order.objects.exists()


def _amazon_files(tmp_path):
    orders = load("amazon_getOrders_example.json")
    second = {**orders["payload"]["Orders"][0], "AmazonOrderId": "902-0000000-0000002"}
    orders["payload"]["Orders"].append(second)
    items = load("amazon_getOrderItems_example.json")
    items["payload"]["AmazonOrderId"] = "902-3159896-1390916"
    orders_path = tmp_path / "getOrders.json"
    orders_path.write_text(json.dumps(orders))
    items_path = tmp_path / "items-1.json"
    items_path.write_text(json.dumps(items))
    other_path = tmp_path / "items-2.json"
    other_path.write_text(json.dumps([{"payload": {
        "AmazonOrderId": "902-0000000-0000002",
        "OrderItems": [items["payload"]["OrderItems"][1]]}}]))
    return orders_path, items_path, other_path


def test_import_amazon_get_orders_with_items_files(tmp_path, amazon_channel, capsys):
    orders_path, items_path, other_path = _amazon_files(tmp_path)
    call_command("import_orders", "amazon-us", str(orders_path),
                 "--items", str(items_path), str(other_path))
    assert "created=2 updated=0 unchanged=0 rejected=0" in capsys.readouterr().out
    first = Order.objects.get(external_id="902-3159896-1390916")
    assert sorted(first.lines.values_list("external_line_id", flat=True)) == [
        "68828574383266", "79039765272157"]
    second = Order.objects.get(external_id="902-0000000-0000002")
    assert list(second.lines.values_list("external_line_id", flat=True)) == [
        "79039765272157"]


def test_import_amazon_without_items_quarantines_with_a_reason(tmp_path, amazon_channel,
                                                                capsys):
    orders_path, items_path, _other = _amazon_files(tmp_path)
    with pytest.raises(CommandError):
        call_command("import_orders", "amazon-us", str(orders_path), "--items", str(items_path))
    assert "created=1 updated=0 unchanged=0 rejected=1" in capsys.readouterr().out
    raw = RawPayload.objects.get(status="quarantined")
    assert "--items" in raw.error


def test_import_items_for_a_platform_without_item_files_is_refused(tmp_path, mapped):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps([shopify_cn_order(1)]))
    with pytest.raises(CommandError, match="only for Amazon"):
        call_command("import_orders", "shopify-demo", str(path), "--items", str(path))
    assert not RawPayload.objects.exists()


def test_import_amazon_shipped_fixture_needs_no_items(amazon_channel, capsys):
    call_command("import_orders", "amazon-us", str(FIXTURES / "shipped" / "amazon.json"))
    assert "created=1" in capsys.readouterr().out


def test_import_amazon_order_list_and_jsonl_with_items(tmp_path, amazon_channel, capsys):
    orders_path, items_path, other_path = _amazon_files(tmp_path)
    orders = json.loads(orders_path.read_text())["payload"]["Orders"]
    as_list = tmp_path / "orders.json"
    as_list.write_text(json.dumps(orders))
    as_lines = tmp_path / "orders.jsonl"
    as_lines.write_text("\n".join(json.dumps(o) for o in orders))

    call_command("import_orders", "amazon-us", str(as_list),
                 "--items", str(items_path), str(other_path))
    assert "created=2 updated=0 unchanged=0 rejected=0" in capsys.readouterr().out
    call_command("import_orders", "amazon-us", str(as_lines),
                 "--items", str(items_path), str(other_path))
    assert "created=0 updated=0 unchanged=2 rejected=0" in capsys.readouterr().out


def test_import_with_a_broken_items_file_imports_nothing(tmp_path, amazon_channel):
    orders_path, _items, _other = _amazon_files(tmp_path)
    broken = tmp_path / "items.json"
    broken.write_text('{"payload": ')
    with pytest.raises(CommandError, match="items file items.json cannot be read"):
        call_command("import_orders", "amazon-us", str(orders_path), "--items", str(broken))
    assert not RawPayload.objects.exists()


def test_import_with_items_that_are_not_get_order_items_imports_nothing(tmp_path,
                                                                       amazon_channel):
    orders_path, _items, _other = _amazon_files(tmp_path)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"orders": []}))
    with pytest.raises(CommandError, match="getOrderItems"):
        call_command("import_orders", "amazon-us", str(orders_path), "--items", str(wrong))
    assert not RawPayload.objects.exists()
