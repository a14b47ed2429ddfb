"""A cut-off import file: a JSON list imports nothing and says where it broke; JSON lines
import every whole line and report the broken one."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from channels.models import RawPayload
from orderhub.models import Order
from tests.channels.conftest import shopify_cn_order

ORDERS = 60


def full_list() -> str:
    return json.dumps([shopify_cn_order(n) for n in range(ORDERS)], ensure_ascii=False,
                      indent=1)


def run_import(path, *args):
    with pytest.raises(CommandError) as exc:
        call_command("import_orders", "shopify-demo", str(path), *args)
    return exc.value


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_truncated_json_list_imports_nothing_and_says_where_it_broke(tmp_path, mapped,
                                                                      capsys, workers):
    # given: a list of 60 orders cut off inside the 50th (an interrupted download)
    text = full_list()
    cut = text.index(f'"id": {9000 + 49}')
    path = tmp_path / "orders.json"
    path.write_text(text[:cut])

    # when
    error = run_import(path, "--workers", workers)

    # then: exit 1, nothing taken in, the whole file kept with the reason
    assert error.returncode == 1
    out, err = capsys.readouterr()
    assert "created=0 updated=0 unchanged=0 rejected=1" in out
    assert "orders read before it: 49" in err and "Nothing from it was imported" in err
    assert not Order.objects.exists()
    raw = RawPayload.objects.get()
    assert raw.status == RawPayload.Status.QUARANTINED and raw.body == text[:cut]

    # The whole file, once it is there, imports every order.
    path.write_text(text)
    call_command("import_orders", "shopify-demo", str(path), "--workers", workers)
    assert f"created={ORDERS} updated=0 unchanged=0 rejected=0" in capsys.readouterr().out
    assert Order.objects.count() == ORDERS


@pytest.mark.parametrize("tail", ["]\n[1]", "] garbage", ", {\"id\": 1}"])
def test_a_list_with_anything_wrong_after_its_orders_imports_nothing(tmp_path, mapped, tail):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps([shopify_cn_order(1), shopify_cn_order(2)])[:-1] + tail)

    error = run_import(path)

    assert error.returncode == 1
    assert not Order.objects.exists()
    assert "Nothing from it was imported" in RawPayload.objects.get().error


def test_a_truncated_json_lines_file_imports_each_whole_line_and_rejects_the_cut_one(
        tmp_path, mapped, capsys):
    lines = [json.dumps(shopify_cn_order(n), ensure_ascii=False) for n in range(5)]
    cut_line = lines[-1][:len(lines[-1]) // 2]
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join([*lines[:-1], cut_line]))

    error = run_import(path)

    assert error.returncode == 1
    out, err = capsys.readouterr()
    assert "created=4 updated=0 unchanged=0 rejected=1" in out
    rejected = RawPayload.objects.get(status=RawPayload.Status.QUARANTINED)
    assert rejected.body == cut_line.strip() and f"rejected #{rejected.pk}:" in err
    assert sorted(Order.objects.values_list("external_id", flat=True)) == [
        str(9000 + n) for n in range(4)]
