"""Transfer requests: a shortage in the routed warehouse asks another that has the stock."""

from __future__ import annotations

import pytest
from django.urls import reverse

from fulfillment.models import Rule
from fulfillment.services.automation import orders_automate
from orderhub.celery import app as celery_app
from orderhub.models import OrderEvent, OrderStatus
from warehouse.models import (
    SKU,
    StockLevel,
    StockMovement,
    TransferLine,
    TransferOrder,
    TransferRequest,
    Warehouse,
)
from warehouse.services.stock import order_allocate, stock_adjust, stock_drift
from warehouse.services.transfers import (
    TransferError,
    transfer_confirm,
    transfer_receive,
    transfer_reject,
)

S = OrderStatus
T = TransferRequest.Status


@pytest.fixture
def eager():
    old = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = old


def put(warehouse, sku, qty):
    if qty:
        stock_adjust(warehouse=warehouse, sku=sku, delta=qty, actor="system:test",
                     reason="test", kind="receipt")


def level(warehouse, code) -> tuple[int, int]:
    lvl = StockLevel.objects.filter(warehouse=warehouse, sku__code=code).first()
    return (lvl.on_hand, lvl.reserved) if lvl else (0, 0)


@pytest.fixture
def network(warehouse):
    """Shanghai (routed): no cups. "Anhui" (first by name) has 1 cup; Beijing has 10."""
    cup = SKU.objects.create(code="SKU-1", name="cup")
    sleeve = SKU.objects.create(code="GIFT-1", name="sleeve")
    anhui = Warehouse.objects.create(code="ah", name="Anhui DC")
    beijing = Warehouse.objects.create(code="bj", name="Beijing DC")
    Warehouse.objects.create(code="old", name="Aaa closed DC", active=False)
    put(warehouse, sleeve, 5)
    put(anhui, cup, 1)
    put(anhui, sleeve, 10)
    put(beijing, cup, 10)
    put(beijing, sleeve, 10)
    return {"sh": warehouse, "ah": anhui, "bj": beijing, "cup": cup, "sleeve": sleeve}


@pytest.fixture
def short_order(make_order, network, django_capture_on_commit_callbacks):
    """A paid order for 2 cups + 1 sleeve, allocated in Shanghai: out of stock."""
    order = make_order(S.PAID)
    with django_capture_on_commit_callbacks(execute=True):
        result = order_allocate(order=order, warehouse=network["sh"], actor="system:test")
    assert not result.ok
    order.refresh_from_db()
    assert order.status == S.OUT_OF_STOCK
    return order


def lines(request) -> list[tuple[str, int]]:
    return sorted(request.lines.values_list("sku__code", "quantity"))


# --- creation -------------------------------------------------------------------------


def test_shortage_creates_one_request_from_the_warehouse_with_the_stock(short_order, network):
    request = TransferRequest.objects.get()
    # Anhui has one cup of the two missing: the source is Beijing; the closed DC is never asked.
    assert (request.from_warehouse, request.to_warehouse) == (network["bj"], network["sh"])
    assert request.status == T.REQUESTED
    assert lines(request) == [("SKU-1", 2)]  # the sleeve is in stock in Shanghai
    assert list(request.waiting.values_list("order_id", flat=True)) == [short_order.pk]
    event = OrderEvent.objects.get(order=short_order, kind="transfer_requested")
    assert "Beijing DC" in event.message and "SKU-1 × 2" in event.message


def test_retries_of_the_same_shortage_add_nothing(short_order, network,
                                                  django_capture_on_commit_callbacks):
    for _ in range(3):  # the out-of-stock sweep tries again every ten minutes
        with django_capture_on_commit_callbacks(execute=True):
            order_allocate(order=short_order, warehouse=network["sh"], actor="system:restock")
    assert TransferRequest.objects.count() == 1
    assert lines(TransferRequest.objects.get()) == [("SKU-1", 2)]
    assert TransferOrder.objects.count() == 1
    assert OrderEvent.objects.filter(kind="transfer_requested").count() == 1


def test_a_second_order_grows_the_open_request(short_order, make_order, network,
                                               django_capture_on_commit_callbacks):
    other = make_order(S.PAID, lines=[
        {"sku_code": "SKU-1", "name": "cup", "quantity": 3, "unit_price": "5"}])
    with django_capture_on_commit_callbacks(execute=True):
        order_allocate(order=other, warehouse=network["sh"], actor="system:test")
    request = TransferRequest.objects.get()
    assert lines(request) == [("SKU-1", 5)]
    assert set(request.waiting.values_list("order_id", flat=True)) == {short_order.pk, other.pk}


def test_bulk_automation_shortages_make_one_request(make_order, network,
                                                   django_capture_on_commit_callbacks):
    rule = Rule.objects.create(name="to Shanghai", warehouse=network["sh"])
    rule.conditions.create(field="province", operator="in", value="上海市")
    orders = [make_order(S.PAID) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = orders_automate(order_ids=[o.pk for o in orders])
    assert {o.result for o in outcomes.values()} == {S.OUT_OF_STOCK}
    request = TransferRequest.objects.get()
    assert request.from_warehouse == network["bj"]
    assert lines(request) == [("SKU-1", 6)]
    assert request.waiting.count() == 3


def test_no_request_when_no_warehouse_has_it_all(make_order, network,
                                                 django_capture_on_commit_callbacks):
    order = make_order(S.PAID, lines=[
        {"sku_code": "SKU-1", "name": "cup", "quantity": 11, "unit_price": "5"}])
    with django_capture_on_commit_callbacks(execute=True):
        order_allocate(order=order, warehouse=network["sh"], actor="system:test")
    assert not TransferRequest.objects.exists()


def test_units_already_asked_for_are_not_asked_twice_of_the_same_source(
        make_order, network, django_capture_on_commit_callbacks):
    # Beijing's 10 cups: 8 already requested for one order, so a 3-cup shortage finds no source.
    big = make_order(S.PAID, lines=[
        {"sku_code": "SKU-1", "name": "cup", "quantity": 8, "unit_price": "5"}])
    small = make_order(S.PAID, ship_province="北京市", lines=[
        {"sku_code": "SKU-1", "name": "cup", "quantity": 3, "unit_price": "5"}])
    other_dc = Warehouse.objects.create(code="gz", name="Guangzhou DC")
    with django_capture_on_commit_callbacks(execute=True):
        order_allocate(order=big, warehouse=network["sh"], actor="system:test")
        order_allocate(order=small, warehouse=other_dc, actor="system:test")
    assert TransferRequest.objects.count() == 1
    assert TransferRequest.objects.get().waiting.get().order_id == big.pk


# --- confirm, reject, receive ----------------------------------------------------------------


def test_confirm_and_receive_move_stock_and_release_the_orders(
        short_order, network, make_user, eager, django_capture_on_commit_callbacks):
    lead = make_user("warehouse_manager")
    request = TransferRequest.objects.get()
    # confirm: the units leave Beijing through the ledger
    transfer_confirm(transfer=request, actor=lead)
    request.refresh_from_db()
    assert request.status == T.CONFIRMED and request.decided_by == lead
    assert level(network["bj"], "SKU-1") == (8, 0)
    out = StockMovement.objects.get(kind="transfer_out")
    assert (out.warehouse, out.on_hand_delta, out.actor_user) == (network["bj"], -2, lead)
    # receive: they arrive in Shanghai and the waiting order is allocated there
    with django_capture_on_commit_callbacks(execute=True):
        transfer_receive(transfer=request, actor=lead)
    request.refresh_from_db()
    assert request.status == T.RECEIVED
    assert list(request.lines.values_list("received_quantity", flat=True)) == [2]
    short_order.refresh_from_db()
    assert short_order.status == S.READY_TO_PICK
    assert level(network["sh"], "SKU-1") == (2, 2)
    assert StockMovement.objects.get(kind="transfer_in").on_hand_delta == 2
    assert stock_drift() == []


def test_confirm_twice_is_refused_with_a_reason(short_order, make_user):
    lead = make_user("manager")
    request = TransferRequest.objects.get()
    transfer_confirm(transfer=request, actor=lead)
    with pytest.raises(TransferError, match="already confirmed"):
        transfer_confirm(transfer=request, actor=lead)
    assert StockMovement.objects.filter(kind="transfer_out").count() == 1


def test_receive_more_than_requested_is_refused(short_order, network, make_user):
    lead = make_user("warehouse_manager")
    request = TransferRequest.objects.get()
    line = request.lines.get()
    with pytest.raises(TransferError, match="already requested"):
        transfer_receive(transfer=request, actor=lead)  # not confirmed yet
    transfer_confirm(transfer=request, actor=lead)
    with pytest.raises(TransferError, match="3 received is more than the 2 requested"):
        transfer_receive(transfer=request, actor=lead, received={line.pk: "3"})
    with pytest.raises(TransferError, match="not a whole number"):
        transfer_receive(transfer=request, actor=lead, received={line.pk: "two"})
    request.refresh_from_db()
    assert request.status == T.CONFIRMED
    assert level(network["sh"], "SKU-1") == (0, 0)
    assert not StockMovement.objects.filter(kind="transfer_in").exists()


def test_short_receipt_is_noted_and_the_order_stays_short(
        short_order, network, make_user, eager, django_capture_on_commit_callbacks):
    lead = make_user("warehouse_manager")
    request = TransferRequest.objects.get()
    transfer_confirm(transfer=request, actor=lead)
    with django_capture_on_commit_callbacks(execute=True):
        transfer_receive(transfer=request, actor=lead, received={request.lines.get().pk: 1})
    request.refresh_from_db()
    assert request.status == T.RECEIVED and "SKU-1 1/2" in request.note
    short_order.refresh_from_db()
    assert short_order.status == S.OUT_OF_STOCK
    assert level(network["sh"], "SKU-1") == (1, 0)


def test_confirm_refused_when_the_source_no_longer_has_the_units(short_order, network,
                                                                 make_user):
    stock_adjust(warehouse=network["bj"], sku=network["cup"], delta=-9, actor="system:test",
                 reason="broken")
    with pytest.raises(TransferError, match="no longer has these units free: SKU-1 \\(1/2\\)"):
        transfer_confirm(transfer=TransferRequest.objects.get(), actor=make_user("manager"))
    assert TransferRequest.objects.get().status == T.REQUESTED
    assert level(network["bj"], "SKU-1") == (1, 0)


def test_reject_needs_a_reason_and_only_an_unconfirmed_request(short_order, make_user):
    lead = make_user("warehouse_manager")
    request = TransferRequest.objects.get()
    with pytest.raises(TransferError, match="reason"):
        transfer_reject(transfer=request, actor=lead, reason="  ")
    transfer_reject(transfer=request, actor=lead, reason="Beijing keeps them for a promotion")
    request.refresh_from_db()
    assert request.status == T.REJECTED and request.note.startswith("Beijing keeps")
    with pytest.raises(TransferError, match="already rejected"):
        transfer_confirm(transfer=request, actor=lead)


def test_after_a_rejection_a_new_shortage_asks_again(short_order, network, make_user,
                                                    django_capture_on_commit_callbacks):
    transfer_reject(transfer=TransferRequest.objects.get(), actor=make_user("manager"),
                    reason="no")
    with django_capture_on_commit_callbacks(execute=True):
        order_allocate(order=short_order, warehouse=network["sh"], actor="system:restock")
    assert TransferRequest.objects.filter(status=T.REQUESTED).count() == 1


# --- permissions and pages -----------------------------------------------------------------


@pytest.mark.parametrize("role", ["ops", "finance", "picker", "sales_manager"])
def test_only_warehouse_leads_handle_transfers(short_order, make_user, role):
    request = TransferRequest.objects.get()
    with pytest.raises(TransferError, match="not allowed"):
        transfer_confirm(transfer=request, actor=make_user(role))
    assert TransferRequest.objects.get().status == T.REQUESTED


def test_pages_and_their_guards(client, short_order, make_user):
    request = TransferRequest.objects.get()
    detail = reverse("warehouse-transfer", args=[request.pk])
    confirm = reverse("warehouse-transfer-confirm", args=[request.pk])
    client.force_login(make_user("picker"))
    assert client.get(reverse("warehouse-transfers")).status_code == 403
    client.force_login(make_user("ops"))
    listing = client.get(reverse("warehouse-transfers")).content.decode()
    assert f"T{request.pk}" in listing and "Beijing DC" in listing
    page = client.get(detail).content.decode()
    assert short_order.number in page and "Confirm: send the units" not in page
    assert client.post(confirm).status_code == 403
    client.force_login(make_user("warehouse_manager"))
    assert "Confirm: send the units" in client.get(detail).content.decode()
    assert client.post(confirm).status_code == 302
    assert TransferRequest.objects.get().status == T.CONFIRMED
    # confirming again through the page shows the refusal
    response = client.post(confirm, follow=True)
    assert "already confirmed" in response.content.decode()


def test_receive_through_the_page(client, short_order, network, make_user, eager,
                                  django_capture_on_commit_callbacks):
    request = TransferRequest.objects.get()
    lead = make_user("manager")
    transfer_confirm(transfer=request, actor=lead)
    line = TransferLine.objects.get()
    client.force_login(lead)
    url = reverse("warehouse-transfer-receive", args=[request.pk])
    response = client.post(url, {f"line-{line.pk}": "5"}, follow=True)
    assert "5 received is more than the 2 requested" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {f"line-{line.pk}": "2"})
    assert TransferRequest.objects.get().status == T.RECEIVED
    short_order.refresh_from_db()
    assert short_order.status == S.READY_TO_PICK


def test_pages_and_reasons_in_chinese(client, short_order, make_user):
    from django.utils import translation

    request = TransferRequest.objects.get()
    client.force_login(make_user("warehouse_manager"))
    client.cookies["django_language"] = "zh-hans"
    page = client.get(reverse("warehouse-transfers"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "调拨申请" in page.content.decode()
    with translation.override("zh-hans"):
        transfer_confirm(transfer=request, actor=make_user("manager"))
        with pytest.raises(TransferError) as refused:
            transfer_confirm(transfer=request, actor=make_user("manager"))
    assert "不能再确认或拒绝" in refused.value.message
