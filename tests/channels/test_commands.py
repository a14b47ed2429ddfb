import json

import httpx
import pytest
import respx
from django.core.management import call_command
from django.core.management.base import CommandError

from channels.models import RawPayload
from orderhub.models import Order
from tests.channels.conftest import SHOP_API, shopify_cn_order


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
