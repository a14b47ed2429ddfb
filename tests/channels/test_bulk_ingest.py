"""The batched pipeline: same result as one by one, streamed, replay-safe, fast."""

import copy
import json

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from channels.connectors.shopify import ShopifyConnector
from channels.ingest import batch as pipeline
from channels.models import RawPayload
from channels.pipeline import canonical_json, ingest_items, process_raw, store_raw
from channels.services import import_file
from orderhub.models import Order, OrderEvent, OrderLine, OrderTransitionLog
from orderhub.models import OrderStatus as S
from tests.channels.conftest import shopify_cn_order
from tests.orderhub.test_bulk import Signals, audit_trail

pytestmark = pytest.mark.django_db


@pytest.fixture
def signals():
    from orderhub.signals import order_status_changed

    received = Signals()
    order_status_changed.connect(received)
    yield received
    order_status_changed.disconnect(received)


def variety() -> list[dict]:
    """New orders of every kind the pipeline treats differently."""
    unknown = shopify_cn_order(4)
    unknown["line_items"].append({"id": 3, "sku": "NOPE-1", "name": "?", "quantity": 1,
                                  "price": "5.00"})
    bad_phone = shopify_cn_order(5)
    bad_phone["shipping_address"]["phone"] = "12345"
    dirty = shopify_cn_order(7)
    dirty["shipping_address"]["address1"] = "世纪大道\n100号\t 3楼\x07"
    return [
        shopify_cn_order(1),
        shopify_cn_order(2, financial_status="pending"),
        shopify_cn_order(3, cancelled_at="2026-11-20T13:00:00+08:00", cancel_reason="customer"),
        unknown,
        bad_phone,
        shopify_cn_order(6, email="not-an-email", legacy_id="x"),
        dirty,
        shopify_cn_order(8, processed_at=None),
    ]


def one_by_one(channel, payloads):
    """The per-order path: store_raw then process_raw, each payload on its own."""
    connector = ShopifyConnector(channel)
    outcomes = []
    for payload in payloads:
        raw, _created = store_raw(channel=channel, body=canonical_json(payload), source="poll",
                                  external_id=connector.external_id(payload))
        outcomes.append(process_raw(raw=raw, normalizer=connector)[0])
    return outcomes


def raw_state(channel):
    return sorted((r.external_id, r.status, r.attempts, r.error, r.source,
                   r.order.external_id if r.order else None)
                  for r in RawPayload.objects.filter(channel=channel))


def wipe():
    RawPayload.objects.all().delete()
    Order.history.all().delete()
    OrderLine.history.all().delete()
    Order.objects.all().delete()


def ingest(channel, payloads, **kwargs):
    return ingest_items(channel=channel, items=payloads, source="poll",
                        normalizer=ShopifyConnector(channel), **kwargs)


def test_bulk_path_writes_what_the_per_order_path_writes(mapped, signals,
                                                         django_capture_on_commit_callbacks):
    # given: the payloads processed one by one (the clock frozen: "paid now" is comparable)
    with freeze_time("2026-11-21 08:00:00"), django_capture_on_commit_callbacks(execute=True):
        outcomes = one_by_one(mapped, variety())
    expected = audit_trail(Order.objects.all())
    expected_raw, expected_signals = raw_state(mapped), sorted(signals)
    assert outcomes == ["created"] * len(variety())
    wipe()
    signals.clear()

    # when: the same payloads go through the batched pipeline
    with freeze_time("2026-11-21 08:00:00"), django_capture_on_commit_callbacks(execute=True):
        result = ingest(mapped, variety(), batch_size=5)

    # then: orders, lines, logs, events, versions, raw rows and signals are the same
    assert result.as_dict() == {"created": 8, "updated": 0, "unchanged": 0, "rejected": 0}
    assert audit_trail(Order.objects.all()) == expected
    assert raw_state(mapped) == expected_raw
    assert sorted(signals) == expected_signals
    by_id = {o.external_id: o for o in Order.objects.all()}
    assert by_id["9004"].status == S.REVIEW and by_id["9003"].status == S.CANCELLED
    assert by_id["9005"].events.filter(kind="note", message__contains="12345").exists()
    assert by_id["9007"].ship_street == "世纪大道 100号 3楼"
    assert sorted(result.order_ids) == sorted(o.pk for o in by_id.values())


def write_jsonl(path, payloads):
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in payloads))
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_the_same_file_three_times_is_one_order_each(tmp_path, mapped, suffix):
    payloads = variety()
    path = tmp_path / f"orders{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(payloads, ensure_ascii=False, indent=1))
    else:
        write_jsonl(path, payloads)

    results = [import_file(channel=mapped, path=path) for _ in range(3)]

    assert [r.as_dict() for r in results] == [
        {"created": 8, "updated": 0, "unchanged": 0, "rejected": 0},
        {"created": 0, "updated": 0, "unchanged": 8, "rejected": 0},
        {"created": 0, "updated": 0, "unchanged": 8, "rejected": 0}]
    assert Order.objects.filter(channel=mapped).count() == 8
    pending = Order.objects.get(external_id="9002")
    assert pending.history.count() == 1  # one version
    # Paid ones: the created version and the pay version, nothing more.
    assert Order.objects.get(external_id="9001").history.count() == 2
    assert Order.history.count() == 1 + 2 * 6 + 3  # pending; paid/cancelled; +review
    assert OrderTransitionLog.objects.count() == 8  # 6 pay, 1 cancel, 1 hold_review
    assert RawPayload.objects.count() == 8
    assert set(RawPayload.objects.values_list("attempts", flat=True)) == {1}


def test_a_streamed_list_stores_the_same_payload_a_poll_does(tmp_path, mapped):
    # ijson must hand over numbers as json.loads does, or the hashes would differ.
    payload = shopify_cn_order(1, total_weight=1.5, big=12345678901234567890, ratio=1e-7)
    (tmp_path / "orders.json").write_text(json.dumps([payload]))
    assert import_file(channel=mapped, path=tmp_path / "orders.json").created == 1

    assert ingest(mapped, [copy.deepcopy(payload)]).unchanged == 1
    assert RawPayload.objects.count() == 1


def test_a_truncated_list_imports_nothing_and_quarantines_the_file(tmp_path, mapped):
    text = json.dumps([shopify_cn_order(1), shopify_cn_order(2)])[:-1] + ', {"id": 3, "li'
    path = tmp_path / "orders.json"
    path.write_text(text)

    result = import_file(channel=mapped, path=path)

    assert (result.created, result.rejected) == (0, 1)
    assert not Order.objects.exists()
    raw = RawPayload.objects.get()
    assert raw.status == RawPayload.Status.QUARANTINED
    assert raw.body == text and "cannot be read" in raw.error


def test_mixed_batch_new_changed_and_garbage(tmp_path, mapped):
    # given: an order the hub already holds, unpaid
    ingest(mapped, [shopify_cn_order(1, financial_status="pending")])
    # when: one file brings it paid at a new address, two new orders and garbage
    changed = shopify_cn_order(1, updated_at="2026-11-20T12:00:00+08:00")
    changed["shipping_address"]["address1"] = "南京路1号"
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([json.dumps(shopify_cn_order(2)), "{garbage",
                               json.dumps(changed), json.dumps({"id": 77, "line_items": []}),
                               json.dumps(shopify_cn_order(3, financial_status="pending"))]))

    result = import_file(channel=mapped, path=path)

    # then: the garbage is quarantined with its reason, the rest is right
    assert result.as_dict() == {"created": 2, "updated": 1, "unchanged": 0, "rejected": 2}
    quarantined = RawPayload.objects.filter(status=RawPayload.Status.QUARANTINED)
    assert sorted(r.body for r in quarantined) == sorted(
        ["{garbage", json.dumps({"id": 77, "line_items": []})])
    assert any("not valid JSON" in r.error for r in quarantined)
    existing = Order.objects.get(external_id="9001")
    assert existing.status == S.PAID and existing.ship_street == "南京路1号"
    assert [v.history_change_reason for v in existing.history.order_by("history_id")] == [
        "created", "updated on the platform: ship_street", "pay: paid on the platform"]
    assert Order.objects.get(external_id="9002").status == S.PAID
    assert Order.objects.get(external_id="9003").status == S.PENDING_PAYMENT
    assert Order.objects.count() == 3


def test_an_order_twice_in_one_batch_is_created_then_updated(mapped):
    later = shopify_cn_order(1, updated_at="2026-11-20T12:00:00+08:00")
    result = ingest(mapped, [shopify_cn_order(1, financial_status="pending"), later,
                             shopify_cn_order(1, financial_status="pending")])
    # The third is the first payload again: a replay, unchanged.
    assert result.as_dict() == {"created": 1, "updated": 1, "unchanged": 1, "rejected": 0}
    order = Order.objects.get()
    assert order.status == S.PAID
    assert list(order.transition_logs.values_list("transition", flat=True)) == ["pay"]
    assert RawPayload.objects.count() == 2


def test_a_quarantined_payload_seen_again_in_a_batch_is_retried(mapped):
    garbage = json.dumps({"id": 5, "line_items": []})
    ingest(mapped, [garbage])
    result = ingest(mapped, [garbage, shopify_cn_order(1)])
    assert (result.created, result.rejected) == (1, 1)
    assert RawPayload.objects.get(body=garbage).attempts == 2


def test_queries_per_batch_do_not_grow_with_its_size(mapped):
    def queries_for(first, n):
        payloads = [shopify_cn_order(first + i) for i in range(n)]
        with CaptureQueriesContext(connection) as ctx:
            assert ingest(mapped, payloads).created == n
        return len(ctx.captured_queries)

    queries_for(100, 1)  # the SKU mappings and the day's number row exist from now on
    # (8 keeps every INSERT under SQLite's bound-parameter limit.)
    assert queries_for(200, 2) == queries_for(300, 8)


def test_a_failed_bulk_create_falls_back_to_one_by_one(mapped, monkeypatch):
    calls = []

    def refuse(**kwargs):
        calls.append(kwargs)
        raise IntegrityError("duplicate key (a concurrent poll)")

    monkeypatch.setattr(pipeline, "order_bulk_create", refuse)
    result = ingest(mapped, variety())

    assert len(calls) == 1
    assert result.as_dict() == {"created": 8, "updated": 0, "unchanged": 0, "rejected": 0}
    assert not RawPayload.objects.exclude(status=RawPayload.Status.PROCESSED).exists()
    assert OrderEvent.objects.filter(kind="created").count() == 8


def test_new_payloads_are_written_with_their_orders_already_processed(mapped):
    # given: a batch of new orders, one of them with an invalid value, and garbage
    too_long = shopify_cn_order(2)
    too_long["shipping_address"]["zip"] = "9" * 40
    payloads = [shopify_cn_order(1), too_long, "{not json", shopify_cn_order(3)]

    # when
    with CaptureQueriesContext(connection) as ctx:
        result = ingest(mapped, payloads)

    # then: every payload is kept; those of created orders were written processed,
    # not written pending and marked afterwards (no UPDATE of a just-written row)
    assert result.as_dict() == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 2}
    assert sorted(RawPayload.objects.values_list("status", "attempts")) == [
        ("processed", 1), ("processed", 1), ("quarantined", 1), ("quarantined", 1)]
    assert all(raw.order.external_id == raw.external_id
               for raw in RawPayload.objects.filter(status="processed"))
    marks = [q["sql"] for q in ctx.captured_queries
             if q["sql"].startswith("UPDATE") and "'processed'" in q["sql"]]
    assert not marks


def test_a_payload_stored_meanwhile_by_another_writer_is_kept_once(mapped, monkeypatch):
    # given: a concurrent webhook stores one of the batch's payloads after the
    # batch looked its hashes up, so the batch's own write of it conflicts
    payloads = [shopify_cn_order(1), shopify_cn_order(2)]
    real = pipeline.attach_raw

    def attach_then_webhook(**kwargs):
        real(**kwargs)
        store_raw(channel=mapped, body=canonical_json(payloads[1]), source="webhook")

    monkeypatch.setattr(pipeline, "attach_raw", attach_then_webhook)

    # when
    result = ingest(mapped, payloads)

    # then: the orders' transaction was refused as a whole, and the fallback kept
    # every payload (the webhook's row for the second) and created both orders
    assert result.as_dict() == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 0}
    assert RawPayload.objects.count() == 2
    assert sorted(RawPayload.objects.values_list("source", "status")) == [
        ("poll", "processed"), ("webhook", "processed")]
    assert Order.objects.count() == 2


def test_an_invalid_order_in_a_batch_is_quarantined_alone(mapped):
    too_long = shopify_cn_order(2)
    too_long["shipping_address"]["zip"] = "9" * 40  # longer than any postcode column
    result = ingest(mapped, [shopify_cn_order(1), too_long, shopify_cn_order(3)])
    assert (result.created, result.rejected) == (2, 1)
    raw = RawPayload.objects.get(status=RawPayload.Status.QUARANTINED)
    assert raw.external_id == "9002" and "not valid" in raw.error
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["9001", "9003"]


def test_items_are_pulled_one_batch_at_a_time(mapped, monkeypatch):
    pulled, seen_at_batch = [], []
    real = pipeline.ingest_batch

    def spy(**kwargs):
        seen_at_batch.append(len(pulled))
        return real(**kwargs)

    def items():
        for n in range(1, 6):
            pulled.append(n)
            yield shopify_cn_order(n)

    monkeypatch.setattr(pipeline, "ingest_batch", spy)
    assert ingest(mapped, items(), batch_size=2).created == 5
    assert seen_at_batch == [2, 4, 5]


@pytest.mark.parametrize("chunk", [1, 3, 64, 1 << 20])
def test_a_json_list_is_read_item_by_item_across_chunk_boundaries(tmp_path, monkeypatch, chunk):
    from channels.services import files as services

    monkeypatch.setattr(services, "STREAM_CHUNK_CHARS", chunk)
    items = [{"a": "[x],]", "n": 12345678901234567890, "f": 1e-7, "z": [1, {"b": None}]},
             "中文", -0.5, 1.5e300, True, None, []]
    for text in (json.dumps(items), json.dumps(items, indent=2, ensure_ascii=False), "[]"):
        path = tmp_path / "list.json"
        path.write_text("\ufeff" + text, encoding="utf-8")
        failure = services.StreamFailure()
        assert list(services.json_list_items(path, failure)) == json.loads(text)
        assert failure.error is None


@pytest.mark.parametrize("text, kept", [
    ("[1, 2", [1, 2]), ('[{"a": 1}, {"b"', [{"a": 1}]), ("[1 2]", [1]), ("[1,]", [1]),
    ("[1] x", [1]), ("[1.]", [1]), ('["abc', []),
])
def test_a_broken_json_list_stops_with_the_reason(tmp_path, monkeypatch, text, kept):
    from channels.services import files as services

    monkeypatch.setattr(services, "STREAM_CHUNK_CHARS", 2)
    path = tmp_path / "list.json"
    path.write_text(text)
    failure = services.StreamFailure()
    assert list(services.json_list_items(path, failure)) == kept
    assert f"orders read before it: {len(kept)}" in str(failure.error)
