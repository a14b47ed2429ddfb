"""Benchmark: 50 pickers scanning against the real server, the load generator in its own process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oh_bench_100k \\
        .venv/bin/python bench/scan.py [--pickers 50] [--seconds 30] [--workers 4] [--live 50]

Starts gunicorn on loopback (sync workers, as the Procfile runs it; PostgreSQL
behind it), creates one warehouse, --pickers picker accounts and enough
ready-to-pick orders, analyses the database, then starts the load generator in
a separate process (asyncio, one client per picker): take the next task, scan
every unit (POST /scan/task/<id>/scan/ with an idempotency key), finish,
repeat. Each picker pauses --think-ms (mean) between scans, as a person does;
with --think-ms 0 it is a throughput test instead. ``--live N`` keeps
``bench/live_ingest.py`` writing N orders/s meanwhile (a busy hub).

Pickers arrive over --ramp seconds (log in, claim a task); every scan of the
--seconds after that is counted, whatever worker serves it. Prints the
nearest-rank p50/p95/p99 of the scan round-trip and VERDICT lines (goals: p95 <
50 ms, p99 < 100 ms). Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
os.environ.setdefault("DEBUG", "1")  # plain-HTTP session cookies on loopback
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/oh_bench_100k")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The sessions made here are signed with it: the server must use the same.
os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")

GOAL_P95_MS = 50
GOAL_P99_MS = 100


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
    barcodes = {s.code: f"69{stamp}{i:03d}" for i, s in enumerate(skus)}
    return wh, users, barcodes


def session_for(user) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key


# --- the load generator (its own process) ----------------------------------------------

async def _picker(client, session_key, base, wh_id, deadline, barcodes, latencies, errors,
                  think_ms, rng, *, start_at: float, measure_from: float):
    import asyncio
    import uuid

    # Pickers arrive over the ramp, as a shift does, not all in the same second.
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))

    # As behind the TLS proxy (DEBUG off: secure cookies, HTTPS referer check); the
    # cookies go in the header, as a phone sends them over HTTPS.
    csrf = uuid.uuid4().hex
    origin = base.replace("http://", "https://")
    headers = {"X-CSRFToken": csrf, "Referer": origin + "/scan/",
               "X-Forwarded-Proto": "https",
               "Cookie": f"sessionid={session_key}; csrftoken={csrf}"}
    await client.get("/scan/", headers=headers)
    await client.post("/scan/", data={"warehouse": wh_id}, headers=headers)
    while time.monotonic() < deadline:
        res = await client.post("/scan/next/", headers=headers)
        if res.status_code != 200:
            errors.append(f"next: HTTP {res.status_code}")
            await asyncio.sleep(1)
            continue
        task = res.json().get("task")
        if not task:
            return
        for line in task["lines"]:
            for _ in range(line["quantity"] - line["picked"]):
                # A person walks and aims between two scans.
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think_ms / 1000)
                if time.monotonic() >= deadline:
                    return
                started = time.perf_counter()
                res = await client.post(
                    f"/scan/task/{task['id']}/scan/", headers=headers,
                    data={"barcode": barcodes.get(line["sku"], line["sku"]),
                          "key": uuid.uuid4().hex})
                if time.monotonic() >= measure_from:  # after the ramp: steady state
                    latencies.append((time.perf_counter() - started) * 1000)
                if res.status_code != 200 or not res.json().get("ok"):
                    errors.append(res.text[:200])
        await client.post(f"/scan/task/{task['id']}/finish/", headers=headers)


def generator(spec_path: str) -> None:
    """Run every picker as an asyncio task; print the latencies as one JSON line."""
    import asyncio
    import random

    import httpx

    spec = json.loads(Path(spec_path).read_text())
    latencies, errors = [], []

    async def run():
        start = time.monotonic() + 0.5
        ramp = spec["ramp"]
        measure_from = start + ramp
        deadline = measure_from + spec["seconds"]
        n = len(spec["sessions"])
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        clients = [httpx.AsyncClient(base_url=spec["base"], timeout=10, limits=limits,
                                     ) for _key in spec["sessions"]]
        try:
            await asyncio.gather(*(
                _picker(c, key, spec["base"], spec["warehouse"], deadline, spec["barcodes"],
                        latencies, errors, spec["think_ms"], random.Random(i),  # noqa: S311
                        start_at=start + ramp * i / n, measure_from=measure_from)
                for i, (c, key) in enumerate(zip(clients, spec["sessions"], strict=True))))
        finally:
            for c in clients:
                await c.aclose()

    asyncio.run(run())
    print("RESULT " + json.dumps({"latencies": latencies, "errors": errors[:5],
                                  "error_count": len(errors)}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pickers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--think-ms", type=float, default=1000,
                        help="mean pause between a picker's scans (0: flat out)")
    parser.add_argument("--ramp", type=float, default=15,
                        help="seconds over which pickers arrive (log in, claim); scans "
                             "are measured for --seconds after it")
    parser.add_argument("--live", type=int, default=0,
                        help="orders/s bench/live_ingest.py writes meanwhile (0: none)")
    parser.add_argument("--generator", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generator:
        generator(args.generator)
        return

    from bench._common import analyse, live_hub, machine_line, nearest_rank, verdict
    from bench.allocate import ensure_database

    ensure_database()
    from django.db import connection

    wh, users, barcodes = make_data(args.pickers, orders=args.pickers * 40)
    sessions = [session_for(u) for u in users]
    analyse(connection)
    connection.close()
    port = free_port()
    # As production runs: DEBUG off (no query log, secure cookies behind the proxy).
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1,localhost", "DEBUG": "0"}
    server_log = tempfile.NamedTemporaryFile("w+", suffix=".log", prefix="scan-gunicorn-")
    gunicorn = (shutil.which("gunicorn", path=str(Path(sys.executable).parent))
                or "gunicorn")
    server = subprocess.Popen(
        [gunicorn, "orderhub.wsgi:application", "--bind", f"127.0.0.1:{port}",
         # sync workers, like the Procfile: one request per process at a time.
         "--workers", str(args.workers),
         "--no-control-socket", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    print(machine_line())
    try:
        import contextlib

        import httpx

        for _ in range(150):
            try:
                httpx.get(base + "/healthz", timeout=1, headers={"X-Forwarded-Proto": "https"})
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump({"base": base, "warehouse": wh.pk, "sessions": sessions,
                       "barcodes": barcodes, "seconds": args.seconds,
                       "think_ms": args.think_ms, "ramp": args.ramp}, fh)
        hub = live_hub(rate=args.live) if args.live else contextlib.nullcontext()
        with hub:
            load_before = os.getloadavg()[0]
            proc = subprocess.run([sys.executable, __file__, "--generator", fh.name],
                                  capture_output=True, text=True, check=False)
        os.unlink(fh.name)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    out = next((json.loads(line[7:]) for line in proc.stdout.splitlines()
                if line.startswith("RESULT ")), None)
    if out is None:
        raise SystemExit(f"load generator failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    latencies = out["latencies"]
    if not latencies:
        raise SystemExit(f"no scans were made: {out['errors']}")
    p50, p95, p99 = (nearest_rank(latencies, p) for p in (50, 95, 99))
    live = f", live hub {args.live} orders/s" if args.live else ""
    print(f"{len(latencies)} scans by {args.pickers} pickers in {args.seconds:.0f} s "
          f"({len(latencies) / args.seconds:.0f}/s), {args.workers} gunicorn workers{live}, "
          f"errors: {out['error_count']}, load at start {load_before:.2f}")
    print(f"scan round-trip p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {p99:.1f} ms  "
          f"max {max(latencies):.1f} ms")
    if out["errors"]:
        print("first errors:", out["errors"][:3])
        server_log.seek(0)
        print("server log (end):", server_log.read()[-1500:])
    what = f"scan, {args.pickers} pickers{live}"
    verdict(f"{what}: p95", f"{p95:.1f} ms", f"< {GOAL_P95_MS} ms", p95 < GOAL_P95_MS)
    verdict(f"{what}: p99", f"{p99:.1f} ms", f"< {GOAL_P99_MS} ms", p99 < GOAL_P99_MS)
    if out["error_count"]:
        verdict(f"{what}: errors", str(out["error_count"]), "0", False)


if __name__ == "__main__":
    main()
