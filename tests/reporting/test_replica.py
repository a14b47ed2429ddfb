"""The read replica: with ``DATABASES["replica"]`` the dashboard reads there and nothing
writes there; without it nothing changes.

The replica alias is added for a test as the settings add it for DATABASE_REPLICA_URL
(a test mirror of "default": the same test database, through a second connection).
Tests that read through it are transactional, so the second connection sees their rows.
"""

import copy
import json
import logging
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connections, router, transaction
from django.test.utils import CaptureQueriesContext

from channels.models import Channel
from orderhub.dbrouter import REPLICA, ReplicaRouter, replica_configured, replica_reads
from orderhub.models import Order
from orderhub.models import OrderStatus as S
from tests.reporting.conftest import local

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["/dashboard/", "/dashboard/wall/"]
RANGE = {"from": "2026-11-19", "to": "2026-11-21"}
ORDER_TABLE = f'"{Order._meta.db_table}"'
WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def _alias(settings_dict: dict):
    # connections.settings is settings.DATABASES (the same dict).
    connections.settings[REPLICA] = settings_dict
    try:
        yield connections[REPLICA]
    finally:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


@pytest.fixture(scope="class")
def replica(django_db_setup):
    """The alias, for one test class. Class scope: it must exist before the test's own
    database setup, which checks the aliases a test names (``databases=``)."""
    default = connections["default"].settings_dict
    alias = copy.deepcopy(default)
    alias["TEST"] = {**default["TEST"], "MIRROR": "default"}
    with _alias(alias) as connection:
        yield connection


@pytest.fixture(scope="class")
def dead_replica(django_db_setup, tmp_path_factory):
    """A replica alias that cannot be connected to (its directory does not exist)."""
    alias = copy.deepcopy(connections["default"].settings_dict)
    alias.update(ENGINE="django.db.backends.sqlite3", OPTIONS={}, HOST="", PORT="",
                 NAME=str(tmp_path_factory.mktemp("gone") / "missing" / "replica.sqlite3"))
    alias["TEST"] = {**alias["TEST"], "MIRROR": "default"}
    with _alias(alias) as connection:
        yield connection


# Transactional: the replica connection sees only committed rows, as a real replica would.
with_replica = pytest.mark.django_db(transaction=True, serialized_rollback=True,
                                     databases=["default", REPLICA])


def _sql(captured) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


def _writes(statements: list[str]) -> list[str]:
    return [sql for sql in statements if sql.lstrip().upper().startswith(WRITES)]


def _shipped_order(make_order, pin):
    return pin(make_order(S.SHIPPED), placed=local(2026, 11, 20, 9),
               paid=local(2026, 11, 20, 10), shipped=local(2026, 11, 20, 12))


class TestWithReplica:
    @with_replica
    @pytest.mark.parametrize("url", PAGES)
    def test_dashboard_reads_the_replica_and_checks_permission_on_the_primary(
            self, client, make_user, make_order, pin, replica, url):
        # given
        _shipped_order(make_order, pin)
        client.force_login(make_user("manager"))

        # when
        with CaptureQueriesContext(connections["default"]) as primary, \
                CaptureQueriesContext(replica) as on_replica:
            response = client.get(url, RANGE)

        # then: the figures come from the replica and are right
        assert response.status_code == 200
        assert 'data-value="2.0"' in response.content.decode()  # paid -> shipped, 2 hours
        assert any(ORDER_TABLE in sql for sql in _sql(on_replica))
        assert _writes(_sql(on_replica)) == []
        # ...and the primary served the login and permission check, but no order read.
        assert any('"auth_' in sql or '"django_session"' in sql for sql in _sql(primary))
        assert [sql for sql in _sql(primary) if ORDER_TABLE in sql] == []


    @with_replica
    def test_writes_and_reads_in_a_transaction_stay_on_the_primary(self, channel, replica):
        with replica_reads(), CaptureQueriesContext(replica) as on_replica:
            # A read outside a transaction may lag: the replica.
            read = Channel.objects.get(pk=channel.pk)
            assert read._state.db == REPLICA
            # Saving what was read there writes the primary.
            read.name = "Renamed shop"
            read.save(update_fields=["name"])
            assert router.db_for_write(Channel, instance=read) == "default"
            # Inside a transaction reads must see its own writes: the primary.
            with transaction.atomic():
                Channel.objects.filter(pk=channel.pk).update(name="Renamed again")
                inside = Channel.objects.get(pk=channel.pk)
                assert inside._state.db == "default"
                assert inside.name == "Renamed again"

        assert _writes(_sql(on_replica)) == []
        assert len(_sql(on_replica)) >= 1
        assert Channel.objects.using("default").get(pk=channel.pk).name == "Renamed again"
        # Outside replica_reads() nothing goes to the replica, configured or not.
        assert Channel.objects.get(pk=channel.pk)._state.db == "default"


class TestWithAnUnreachableReplica:
    @with_replica
    def test_the_dashboard_reads_the_primary_and_says_why(
            self, client, make_user, make_order, pin, dead_replica, caplog):
        _shipped_order(make_order, pin)
        client.force_login(make_user("manager"))

        with caplog.at_level(logging.WARNING, logger="orderhub.dbrouter"), \
                CaptureQueriesContext(connections["default"]) as primary:
            response = client.get(PAGES[0], RANGE)

        assert response.status_code == 200
        assert 'data-value="2.0"' in response.content.decode()
        assert any(ORDER_TABLE in sql for sql in _sql(primary))
        assert "read replica unreachable, reading the primary" in caplog.text


def test_the_replica_is_never_migrated():
    routing = ReplicaRouter()
    assert routing.allow_migrate(REPLICA, "orderhub") is False
    assert routing.allow_migrate("default", "orderhub") is True


def test_without_a_replica_the_dashboard_reads_the_primary(client, make_user, make_order, pin):
    # given
    assert not replica_configured()
    _shipped_order(make_order, pin)
    client.force_login(make_user("manager"))

    # when
    with CaptureQueriesContext(connections["default"]) as primary:
        response = client.get(PAGES[0], RANGE)
        with replica_reads():
            routed = router.db_for_read(Order)

    # then
    assert response.status_code == 200
    assert 'data-value="2.0"' in response.content.decode()
    assert any(ORDER_TABLE in sql for sql in _sql(primary))
    assert routed is None or routed == "default"
    assert set(connections) == {"default"}


PRINT_DATABASES = """
import json
from django.conf import settings
print(json.dumps({alias: {"ENGINE": db["ENGINE"], "NAME": db["NAME"], "HOST": db.get("HOST"),
                          "MIRROR": db.get("TEST", {}).get("MIRROR")}
                  for alias, db in settings.DATABASES.items()}))
print(json.dumps(settings.DATABASE_ROUTERS))
"""


@pytest.mark.parametrize("replica_url", ["", "postgres://reader@replica.internal:5432/orderhub"])
def test_database_replica_url_adds_the_replica_alias(tmp_path, replica_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(DEBUG="1", DJANGO_SETTINGS_MODULE="orderhub.settings",
               ORDERHUB_VAR_DIR=str(tmp_path / "var"),
               DATABASE_URL="postgres://writer@primary.internal:5432/orderhub")
    if replica_url:
        env["DATABASE_REPLICA_URL"] = replica_url
    result = subprocess.run([sys.executable, "-c", PRINT_DATABASES], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    databases_line, routers_line = result.stdout.strip().splitlines()
    databases = json.loads(databases_line)
    assert json.loads(routers_line) == ["orderhub.dbrouter.ReplicaRouter"]
    assert databases["default"]["HOST"] == "primary.internal"
    if not replica_url:
        assert set(databases) == {"default"}
        return
    assert databases["replica"] == {"ENGINE": "django.db.backends.postgresql",
                                    "NAME": "orderhub", "HOST": "replica.internal",
                                    "MIRROR": "default"}
