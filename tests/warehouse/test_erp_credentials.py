"""The ERP password is stored encrypted, like channel credentials."""

import json
from pathlib import Path

import httpx
import pytest
import respx
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from orderhub.crypto import decrypt_text
from warehouse.adapters import StockSourceError
from warehouse.adapters.kingdee import KingdeeAdapter
from warehouse.admin import StockSourceForm
from warehouse.models import StockSource, Warehouse
from warehouse.services.external import external_stock_import

FIXTURES = Path(__file__).parent / "fixtures"
K3 = "https://erp.example.com/k3cloud/"
LOGIN = K3 + "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc"
QUERY = K3 + "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"
PASSWORD = "Kd-pa55word-2026"
OTHER_KEY = "0HdIWzo-8K_ik-EqYfGjKWSJ6BK7thjvXWq0H-DNM2A="


@pytest.fixture
def source(warehouse):
    return StockSource.objects.create(
        warehouse=warehouse, kind="kingdee", base_url="https://erp.example.com/k3cloud",
        username="api_stock", secret=PASSWORD, options={"acctid": "62f1e0c8d0a5b1"})


def raw_column(source) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted FROM warehouse_stocksource WHERE id = %s",
                       [source.pk])
        return cursor.fetchone()[0]


def test_the_database_holds_ciphertext_only(source):
    stored = raw_column(source)
    assert stored and PASSWORD not in stored
    assert decrypt_text(stored) == PASSWORD
    columns = [c.name for c in connection.introspection.get_table_description(
        connection.cursor(), "warehouse_stocksource")]
    assert "secret" not in columns
    assert StockSource.objects.get(pk=source.pk).secret == PASSWORD
    assert PASSWORD not in repr(source)


def test_an_empty_secret_stays_empty(warehouse):
    source = StockSource.objects.create(warehouse=warehouse, kind="rest",
                                        base_url="https://erp.example.com/stock")
    assert raw_column(source) == "" and source.secret == ""


@respx.mock
def test_the_adapter_still_logs_in_with_the_password(source):
    login = respx.post(LOGIN).mock(return_value=httpx.Response(
        200, json=json.loads((FIXTURES / "kingdee_login_ok.json").read_text())))
    KingdeeAdapter(StockSource.objects.get(pk=source.pk)).login()
    assert json.loads(login.calls[0].request.content)["password"] == PASSWORD


@respx.mock
def test_a_password_encrypted_with_another_key_is_a_clear_import_error(source, settings):
    settings.CHANNEL_CREDENTIALS_KEY = OTHER_KEY
    login = respx.post(LOGIN)
    with pytest.raises(StockSourceError, match="cannot be decrypted"):
        KingdeeAdapter(StockSource.objects.get(pk=source.pk)).login()
    result = external_stock_import(warehouse_id=source.warehouse_id, actor="system:test")
    assert not result.ok and "cannot be decrypted" in result.error
    assert "cannot be decrypted" in Warehouse.objects.get(pk=source.warehouse_id).stock_sync_error
    assert login.call_count == 0


def form_data(**extra):
    return {"kind": "kingdee", "enabled": "on", "base_url": "https://erp.example.com/k3cloud",
            "username": "api_stock", "options": '{"acctid": "62f1e0c8d0a5b1"}',
            "interval_minutes": "15", "check_timeout_seconds": "2", **extra}


def test_admin_form_blank_keeps_the_password_and_a_new_one_replaces_it(source):
    before = raw_column(source)
    form = StockSourceForm(data=form_data(secret="", check_each_order="on"), instance=source)
    assert form.is_valid(), form.errors
    form.save()
    source.refresh_from_db()
    assert raw_column(source) == before and source.secret == PASSWORD
    assert source.check_each_order is True

    form = StockSourceForm(data=form_data(secret="new-Pa55word!"), instance=source)
    assert form.is_valid(), form.errors
    form.save()
    source.refresh_from_db()
    assert source.secret == "new-Pa55word!"
    assert "new-Pa55word!" not in raw_column(source)


def test_admin_form_checks_the_timeout(source):
    form = StockSourceForm(data=form_data(check_timeout_seconds="0"), instance=source)
    assert not form.is_valid() and "check_timeout_seconds" in form.errors
    form = StockSourceForm(data=form_data(check_timeout_seconds=""), instance=source)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["check_timeout_seconds"] == 2


def test_admin_page_never_shows_the_password(source, admin_client):
    response = admin_client.get(f"/admin/warehouse/warehouse/{source.warehouse_id}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert PASSWORD not in page
    assert raw_column(source) not in page
    assert "••••2026" in page  # masked, as channel credentials are
    assert 'name="stock_source-0-check_each_order"' in page


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_migration_encrypts_existing_passwords_and_back():
    executor = MigrationExecutor(connection)
    before, after = [("warehouse", "0006_sync_roles")], [
        ("warehouse", "0007_stock_source_encrypted_secret")]
    executor.migrate(before)
    # The warehouse as it was then (today's model has columns added later).
    OldWarehouse = executor.loader.project_state(before).apps.get_model("warehouse",
                                                                       "Warehouse")
    wh = OldWarehouse.objects.create(code="old", name="Old DC")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO warehouse_stocksource (warehouse_id, kind, enabled, base_url, username,"
            " secret, options, interval_minutes) VALUES (%s, 'kingdee', %s, %s, 'u', %s, '{}',"
            " 15)", [wh.pk, True, "https://erp.example.com", "plain-pw"])
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted FROM warehouse_stocksource")
        (token,), = cursor.fetchall()
    assert token != "plain-pw" and decrypt_text(token) == "plain-pw"

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM warehouse_stocksource")
        assert cursor.fetchall() == [("plain-pw",)]
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert StockSource.objects.get(warehouse_id=wh.pk).secret == "plain-pw"
