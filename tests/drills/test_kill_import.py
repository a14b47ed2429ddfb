"""CI version of the file-import part of ``bench/drills/kill_worker.py``:
``manage.py import_orders`` killed with SIGKILL mid-way, then run again.

The subprocess writes into the test database, so this runs on PostgreSQL (an
in-memory SQLite test database is not visible to another process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from channels.models import Channel, SkuMapping
from orderhub.models import Order
from tests.conftest import requires_postgres
from tests.drills.conftest import order

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 4000

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.slow]


def _env() -> dict:
    s = connection.settings_dict
    url = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}" \
          f"/{s['NAME']}"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(DATABASE_URL=url, DEBUG="1", LOG_LEVEL="WARNING")
    return env


def _import(channel, path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "import_orders", channel.code, str(path), "--workers", "1"],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_import_killed_mid_way_resumes_with_nothing_lost_or_duplicated(tmp_path):
    # given a file of 4,000 platform orders for a file-fed Shopify channel
    channel = Channel.objects.create(code="drill-file", name="Drill file", platform="shopify",
                                     config={"shop_url": "https://file.myshopify.com"},
                                     enabled=False)
    SkuMapping.objects.create(channel=channel, platform_sku="CUP-1", hub_sku="CUP-1")
    path = tmp_path / "orders.json"
    path.write_text(json.dumps([order(n, minute=n % 600) for n in range(ORDERS)]))
    held = Order.objects.filter(channel=channel)

    # when the import is killed with SIGKILL once some batches are committed
    first = _import(channel, path)
    deadline = time.monotonic() + 120
    while held.count() < 500 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    at_kill = held.count()

    # then it was cut short, and running it again completes it: each order exactly once
    assert 0 < at_kill < ORDERS, f"{at_kill} orders when killed: {first.stdout.read()[-2000:]}"
    second = _import(channel, path)
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output[-2000:]
    assert f"created={ORDERS - at_kill}" in output and f"unchanged={at_kill}" in output
    assert held.count() == ORDERS
    assert held.values("external_id").distinct().count() == ORDERS
