"""Benchmark: 50 concurrent pickers scanning against the real server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderhub_bench_warehouse \\
        .venv/bin/python bench/scan.py [--pickers 50] [--seconds 30] [--workers 4]

Starts gunicorn on loopback (PostgreSQL behind it), creates one warehouse,
--pickers picker accounts and enough ready-to-pick orders, then runs one
thread per picker: take the next task, scan every unit (POST /scan/task/<id>/scan/
with an idempotency key), finish, repeat. Prints p50/p95/p99 of the scan
round-trip (goal: p95 < 50 ms). Each picker pauses --think-ms (mean) between
scans, as a person does; with --think-ms 0 it is a throughput test instead.
Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
os.environ.setdefault("DEBUG", "1")  # plain-HTTP session cookies on loopback
os.environ.setdefault("DATABASE_URL",
                      "postgres://postgres@127.0.0.1:5432/orderhub_bench_warehouse")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_data(pickers: int, orders: int):
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from channels.models import Channel
    from orderhub.models import Order, OrderLine
    from warehouse.models import SKU, Barcode, Bin, SkuLocation, Warehouse

    stamp = str(int(time.time()))
    wh = Warehouse.objects.create(code=f"scan-{stamp}", name=f"Scan bench {stamp}")
    channel, _ = Channel.objects.get_or_create(code="bench-wh", defaults={
        "name": "bench", "platform": "manual"})
    skus = SKU.objects.bulk_create(SKU(code=f"S{stamp}-{i:03d}", name=f"商品{i}")
                                   for i in range(40))
    Barcode.objects.bulk_create(Barcode(sku=s, code=f"69{stamp}{i:03d}")
                                for i, s in enumerate(skus))
    for i, sku in enumerate(skus):
        b = Bin.objects.create(warehouse=wh, code=f"A-{i:02d}", pick_order=i)
        SkuLocation.objects.create(warehouse=wh, sku=sku, bin=b)
    created = Order.objects.bulk_create(
        Order(number=f"SB{stamp}{i:06d}", channel=channel, status="ready_to_pick",
              paid_at=timezone.now(), warehouse=wh)
        for i in range(orders)
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=o, sku_code=skus[(n * 7 + k) % 40].code, name="x", quantity=2)
        for n, o in enumerate(created) for k in range(3)
    )
    group = Group.objects.get(name="picker")
    users = []
    for i in range(pickers):
        user = User.objects.create_user(f"bench-picker-{stamp}-{i}", password="bench-Pass-1")
        user.groups.add(group)
        users.append(user)
    return wh, users


def session_for(user) -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0] if hasattr(
        settings, "AUTHENTICATION_BACKENDS") else "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key


def picker_loop(base, session_key, wh_id, deadline, latencies, errors, think_ms):
    import random

    import httpx

    rng = random.Random(session_key)

    with httpx.Client(base_url=base, timeout=10,
                      cookies={"sessionid": session_key}) as client:
        client.get("/scan/")
        csrf = client.cookies.get("csrftoken")
        headers = {"X-CSRFToken": csrf, "Referer": base + "/scan/"}
        client.post("/scan/", data={"warehouse": wh_id}, headers=headers)
        while time.monotonic() < deadline:
            res = client.post("/scan/next/", headers=headers)
            if res.status_code != 200:
                errors.append(f"next: HTTP {res.status_code}")
                time.sleep(1)
                continue
            task = res.json().get("task")
            if not task:
                return
            for line in task["lines"]:
                for _ in range(line["quantity"] - line["picked"]):
                    # A person walks and aims between two scans.
                    time.sleep(rng.uniform(0.5, 1.5) * think_ms / 1000)
                    started = time.perf_counter()
                    res = client.post(f"/scan/task/{task['id']}/scan/", headers=headers,
                                      data={"barcode": line["sku"], "key": uuid.uuid4().hex})
                    latencies.append((time.perf_counter() - started) * 1000)
                    if res.status_code != 200 or not res.json().get("ok"):
                        errors.append(res.text[:200])
                    if time.monotonic() >= deadline:
                        return
            client.post(f"/scan/task/{task['id']}/finish/", headers=headers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pickers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--think-ms", type=float, default=1000,
                        help="mean pause between a picker's scans (0: flat out)")
    args = parser.parse_args()

    from bench.allocate import ensure_database

    ensure_database()
    wh, users = make_data(args.pickers, orders=args.pickers * 40)
    sessions = [session_for(u) for u in users]
    port = free_port()
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    gunicorn = shutil.which("gunicorn", path=str(ROOT / ".venv" / "bin")) or "gunicorn"
    server = subprocess.Popen(
        [gunicorn, "orderhub.wsgi:application", "--bind", f"127.0.0.1:{port}",
         # sync workers, like the Procfile: one request per process at a time.
         "--workers", str(args.workers),
         "--no-control-socket", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(100):
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        latencies, errors = [], []
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=picker_loop,
                                    args=(base, s, wh.pk, deadline, latencies, errors,
                                          args.think_ms))
                   for s in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    if not latencies:
        print("no scans were made", errors[:3])
        return
    q = statistics.quantiles(latencies, n=100)
    print(f"{len(latencies)} scans by {args.pickers} pickers in {args.seconds:.0f} s "
          f"({len(latencies) / args.seconds:.0f}/s), errors: {len(errors)}")
    print(f"scan round-trip p50 {q[49]:.1f} ms  p95 {q[94]:.1f} ms  p99 {q[98]:.1f} ms "
          f"— goal p95 < 50 ms: {'OK' if q[94] < 50 else 'MISSED'}")
    if errors:
        print("first errors:", errors[:3])


if __name__ == "__main__":
    main()
