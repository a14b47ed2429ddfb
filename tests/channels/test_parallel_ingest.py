"""A big import in several processes: same orders as one process, updates in file order."""

import json
import os

import pytest

from channels.ingest import parallel
from channels.models import RawPayload
from channels.services import import_file
from orderhub.models import Order, OrderTransitionLog
from orderhub.models import OrderStatus as S
from tests.channels.conftest import shopify_cn_order
from tests.conftest import requires_postgres

pytestmark = [requires_postgres,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]

ORDERS = 40


def payloads() -> list[dict]:
    """40 new orders, then later in the file updates of some of them."""
    items = [shopify_cn_order(n, id=70000 + n) for n in range(ORDERS)]
    # Order 3 is cancelled on the platform after it was imported.
    items.append(shopify_cn_order(3, id=70003, cancelled_at="2026-11-20T12:00:00+08:00",
                                  cancel_reason="customer", updated_at="2026-11-20T12:00:00+08:00"))
    # Order 5's address is corrected twice: the last correction must win.
    for street, hour in (("世纪大道200号", 11), ("世纪大道300号", 12)):
        order = shopify_cn_order(5, id=70005, updated_at=f"2026-11-20T{hour}:00:00+08:00")
        order["shipping_address"]["address1"] = street
        items.append(order)
    items.append("{ not json")
    return items


@pytest.fixture
def orders_file(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text("".join(
        (item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)) + "\n"
        for item in payloads()))
    return path


@pytest.fixture
def worker_pids(tmp_path, monkeypatch):
    """Record which process ran each batch (the children inherit the patched function)."""
    log = tmp_path / "pids"
    original = parallel._run_batch

    def recording(items):
        with log.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        return original(items)

    recording.__module__, recording.__qualname__ = "channels.ingest.parallel", "_run_batch"
    monkeypatch.setattr(parallel, "_run_batch", recording)
    return lambda: set(log.read_text().split()) if log.exists() else set()


def test_two_workers_import_every_order_once_with_updates_in_file_order(
        mapped, orders_file, worker_pids):
    result = import_file(channel=mapped, path=orders_file, workers=2)

    assert result.as_dict() == {"created": ORDERS, "updated": 3, "unchanged": 0, "rejected": 1}
    pids = worker_pids()
    assert len(pids) == 2 and str(os.getpid()) not in pids
    assert Order.objects.filter(channel=mapped).count() == ORDERS
    assert Order.objects.get(external_id="70003").status == S.CANCELLED
    corrected = Order.objects.get(external_id="70005")
    assert corrected.ship_street == "世纪大道300号"
    # Both corrections were applied, one after the other, in file order (automation
    # may add versions of its own in between: it re-runs after an address edit).
    streets = [v.ship_street for v in corrected.history.order_by("history_date", "history_id")]
    assert [s for i, s in enumerate(streets) if i == 0 or s != streets[i - 1]] == [
        "世纪大道100号", "世纪大道200号", "世纪大道300号"]
    assert OrderTransitionLog.objects.filter(transition="pay").count() == ORDERS
    numbers = list(Order.objects.values_list("number", flat=True))
    assert len(set(numbers)) == ORDERS
    assert RawPayload.objects.filter(status=RawPayload.Status.QUARANTINED).count() == 1
    assert RawPayload.objects.filter(status=RawPayload.Status.PROCESSED).count() == ORDERS + 3


def test_replaying_the_file_in_parallel_changes_nothing(mapped, orders_file):
    import_file(channel=mapped, path=orders_file, workers=2)
    versions = Order.history.count()

    again = import_file(channel=mapped, path=orders_file, workers=2)

    assert again.as_dict() == {"created": 0, "updated": 0, "unchanged": ORDERS + 3,
                               "rejected": 1}
    assert Order.history.count() == versions
    assert Order.objects.count() == ORDERS


def test_inside_a_transaction_it_stays_in_one_process(mapped, orders_file, worker_pids):
    from django.db import transaction

    with transaction.atomic():
        result = import_file(channel=mapped, path=orders_file, workers=2)

    assert result.created == ORDERS
    assert worker_pids() == set()


def test_an_enveloped_payload_goes_to_the_partition_of_its_bare_order(mapped):
    from channels.services import normalizer_for

    normalizer = normalizer_for(mapped)
    bare = shopify_cn_order(1, id=70001)

    assert parallel._partition_key(json.dumps(bare), normalizer) == "70001"
    assert parallel._partition_key(json.dumps({"order": bare}), normalizer) == "70001"
    assert parallel._partition_key("{ not json", normalizer) == ""


def test_small_batches_over_many_partitions_apply_every_update_in_file_order(
        mapped, tmp_path, monkeypatch):
    from channels.ingest import batch as pipeline

    # Two orders a batch: each partition gets many batches, queued behind each other.
    monkeypatch.setattr(pipeline, "BATCH_SIZE", 2)
    count, streets = 12, ("世纪大道200号", "世纪大道300号", "世纪大道400号")
    items = [shopify_cn_order(n, id=71000 + n) for n in range(count)]
    for hour, street in enumerate(streets, start=11):
        for n in range(count):
            order = shopify_cn_order(n, id=71000 + n, updated_at=f"2026-11-20T{hour}:00:00+08:00")
            order["shipping_address"]["address1"] = street
            # Some updates come in a single-order response's envelope.
            items.append({"order": order} if n % 3 == 0 else order)
    path = tmp_path / "orders.jsonl"
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items))

    result = import_file(channel=mapped, path=path, workers=2)

    assert result.as_dict() == {"created": count, "updated": count * len(streets),
                                "unchanged": 0, "rejected": 0}
    for order in Order.objects.filter(channel=mapped):
        history = [v.ship_street for v in order.history.order_by("history_date", "history_id")]
        applied = [s for i, s in enumerate(history) if i == 0 or s != history[i - 1]]
        assert applied == ["世纪大道100号", *streets], order.external_id


def test_known_external_ids_are_the_channels_own(mapped):
    from channels.models import Channel
    from channels.pipeline import _known_external_ids
    from orderhub.services.orders import order_create

    other = Channel.objects.create(code="other-shop", name="Other", platform="shopify",
                                   config={"shop_url": "https://other.myshopify.com"})
    line = {"sku_code": "SKU-1", "name": "x", "quantity": 1, "unit_price": "1.00"}
    for channel, external_id in ((mapped, "A1"), (mapped, "A2"), (other, "B1")):
        order_create(channel=channel, actor="system:test", lines=[line], external_id=external_id,
                     buyer_name="x")

    assert _known_external_ids(mapped, {"A1", "A2", "B1", "C9", ""}) == {"A1", "A2"}
    assert _known_external_ids(other, {"A1", "B1"}) == {"B1"}
    assert _known_external_ids(mapped, {""}) == set()
