"""Drill: Redis (broker and cache) down for a minute while orders arrive and change state.

    .venv/bin/python bench/drills/redis_down.py [--outage 60] [--database-url URL]

Starts its own Redis on port 6390 (never the shared 6379) and its own hub on it:
web (gunicorn), a Celery worker (all queues) and beat, on a database of its own
(default: a SQLite file in a temporary folder; ``--database-url`` for PostgreSQL,
which is migrated and seeded with ``seed_demo --orders 0``). Then, in three
phases (before, Redis down for ``--outage`` seconds, after), it keeps sending:

- signed Shopify webhooks of new orders (half unpaid, half paid);
- signed "paid" updates of earlier unpaid orders (pending_payment -> paid);
- staff actions through the pages (log in, hold and release paid orders, the
  order list, the dashboard) and buyers' look-ups on the public /track/ page.

Redis is stopped with ``SHUTDOWN NOSAVE`` (its queues are lost with it, the
harder case) and started again empty. The drill then waits for the beat sweeps
to drain what the outage left (pending payloads, paid orders awaiting
automation) and prints: orders sent / in the hub / lost / duplicated, payments
sent / applied, requests per phase and status (failed = 5xx or no answer), and
the time to drain after Redis came back. Every process it started is stopped
at the end, and its Redis shut down. Not part of the test run.
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_PORT = 6390
CHANNEL = "shopify-lotus"  # seed_demo's Shopify channel
WEBHOOK_SECRET = "sandbox-secret"
MANAGER = ("manager", "manager-demo")
PHONE = "13800138000"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Drill:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="redis-drill-"))
        self.web_port = free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.env = {
            **os.environ,
            "DEBUG": "1",  # no TLS redirect or production secrets needed on localhost
            "SANDBOX_ENABLED": "1",
            "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
            "DATABASE_URL": args.database_url or f"sqlite:///{self.tmp / 'drill.sqlite3'}",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        # seed_demo points the demo channels' sandbox at this port: ours, not another hub's.
        self.env["WEB_PORT"] = str(self.web_port)
        self.procs: dict[str, subprocess.Popen] = {}
        self.sent_orders: set[str] = set()
        self.unpaid: collections.deque[str] = collections.deque()
        self.payments: set[str] = set()
        self.held: list[int] = []
        self.results: dict[str, collections.Counter] = collections.defaultdict(
            collections.Counter)
        self.failures: list[str] = []
        self.phase = "before"
        self.seq = 0

    # --- processes -------------------------------------------------------------------------

    def run(self, *cmd: str, timeout: int = 600) -> None:
        subprocess.run(cmd, cwd=ROOT, env=self.env, check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL)

    def start(self, name: str, *cmd: str) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.redis_stop()

    def redis_start(self) -> None:
        subprocess.run(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                        "--save", "", "--appendonly", "no", "--daemonize", "yes",
                        "--pidfile", str(self.tmp / "redis.pid"),
                        "--logfile", str(self.tmp / "redis.log")], check=True)
        for _ in range(50):
            if port_open(REDIS_PORT):
                return
            time.sleep(0.1)
        raise SystemExit("our redis-server did not start")

    def redis_stop(self) -> None:
        if port_open(REDIS_PORT):
            # NOSAVE: nothing of the queues survives, as when a Redis host dies.
            subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "shutdown", "nosave"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(50):
                if not port_open(REDIS_PORT):
                    return
                time.sleep(0.1)

    def setup(self) -> None:
        if port_open(REDIS_PORT):
            raise SystemExit(f"something already listens on {REDIS_PORT}; not ours, stopping")
        self.redis_start()
        py = sys.executable
        self.run(py, "manage.py", "migrate", "--noinput")
        self.run(py, "manage.py", "seed_demo", "--orders", "0")
        # The demo channels poll a sandbox; the drill's orders come by webhook only, so
        # beat's polls are put off (they would only add the sandbox's own orders).
        self.run(py, "manage.py", "shell", "-c",
                 "import datetime as dt; from django.utils import timezone; "
                 "from channels.models import Channel; Channel.objects.update("
                 "next_poll_at=timezone.now() + dt.timedelta(days=1))")
        self.start("web", str(BIN / "gunicorn"), "orderhub.wsgi", "-b",
                   f"127.0.0.1:{self.web_port}", "-w", "2", "--threads", "4", "--timeout", "60",
                   "--no-control-socket")
        self.start("worker", str(BIN / "celery"), "-A", "orderhub", "worker", "-Q",
                   "ingest,fulfillment,notify,default", "--concurrency", "2",
                   "--without-gossip", "--without-mingle", "--loglevel", "WARNING")
        self.start("beat", str(BIN / "celery"), "-A", "orderhub", "beat", "--loglevel",
                   "WARNING", "--schedule", str(self.tmp / "beat-schedule"))
        for _ in range(120):
            if port_open(self.web_port):
                break
            time.sleep(0.5)
        else:
            raise SystemExit("the web process did not start; see " + str(self.tmp / "web.log"))

    # --- traffic -------------------------------------------------------------------------

    def record(self, kind: str, response: httpx.Response | None, error: str = "") -> None:
        status = str(response.status_code) if response is not None else "no answer"
        self.results[self.phase][f"{kind} {status}"] += 1
        # /healthz answering 503 while Redis is down is its job, not a failure.
        if response is None or (response.status_code >= 500 and kind != "healthz"):
            self.failures.append(f"{self.phase} {kind} {status} {error}".strip())

    def request(self, client: httpx.Client, kind: str, method: str, url: str, **kw):
        try:
            response = client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.record(kind, None, type(exc).__name__)
            return None
        self.record(kind, response)
        return response

    def shopify_order(self, external_id: str, *, paid: bool, updated: dt.datetime) -> dict:
        stamp = updated.isoformat()
        return {
            "id": int(external_id), "name": f"#D{external_id}", "created_at": stamp,
            "updated_at": stamp, "processed_at": stamp, "cancelled_at": None,
            "currency": "CNY", "financial_status": "paid" if paid else "pending",
            "total_price": "128.00", "total_discounts": "0.00", "email": "buyer@example.com",
            "note": "", "customer": {"first_name": "三", "last_name": "张"},
            "shipping_address": {"name": "张三", "phone": PHONE, "address1": "世纪大道100号",
                                 "address2": "", "city": "上海市", "province": "上海市",
                                 "zip": "200120", "country_code": "CN"},
            "shipping_lines": [{"price": "10.00"}],
            "line_items": [{"id": 1, "sku": "CUP-1", "name": "保温杯", "quantity": 2,
                            "price": "59.00", "variant_id": 11}],
        }

    def webhook(self, client: httpx.Client, kind: str, order: dict, topic: str) -> None:
        body = json.dumps(order).encode()
        signature = base64.b64encode(
            hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
        self.request(client, kind, "POST", f"/hooks/{CHANNEL}/", content=body, headers={
            "Content-Type": "application/json", "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Topic": topic})

    def login(self, client: httpx.Client) -> None:
        client.get("/login/")
        client.post("/login/", data={"username": MANAGER[0], "password": MANAGER[1],
                                     "csrfmiddlewaretoken": client.cookies["csrftoken"]})
        if "sessionid" not in client.cookies:
            raise SystemExit("could not log in as the demo manager")

    def transition(self, staff: httpx.Client, order_id: int, name: str, expected: str) -> bool:
        """True when the hub took it (the page redirects back to the order)."""
        response = self.request(staff, name, "POST", f"/orders/{order_id}/transition/", data={
            "name": name, "expected_status": expected, "reason": "drill",
            "csrfmiddlewaretoken": staff.cookies["csrftoken"]})
        return response is not None and response.status_code == 302

    def tick(self, hooks: httpx.Client, staff: httpx.Client, buyer: httpx.Client) -> None:
        from orderhub.models import Order

        self.seq += 1
        now = dt.datetime.now(dt.UTC)
        external_id = str(7_000_000 + self.seq)
        paid = self.seq % 2 == 0
        self.webhook(hooks, "new order", self.shopify_order(external_id, paid=paid, updated=now),
                     "orders/create")
        self.sent_orders.add(external_id)
        if not paid:
            self.unpaid.append(external_id)
        if self.seq % 2 == 1 and len(self.unpaid) > 3:
            # An earlier unpaid order is paid on the platform.
            payer = self.unpaid.popleft()
            self.webhook(hooks, "payment", self.shopify_order(
                payer, paid=True, updated=now + dt.timedelta(seconds=1)), "orders/updated")
            self.payments.add(payer)
        if self.seq % 4 == 0:
            # Staff hold a paid order (automation may have moved it on: 409 is fine) ...
            order = (Order.objects.filter(channel__code=CHANNEL, status="paid")
                     .order_by("-pk").values("pk", "status").first())
            if order and self.transition(staff, order["pk"], "hold", order["status"]):
                self.held.append(order["pk"])
        if self.seq % 4 == 2 and self.held:
            # ... and release one held earlier.
            self.transition(staff, self.held.pop(0), "release", "on_hold")
        if self.seq % 5 == 0:
            self.request(staff, "order list", "GET", "/orders/")
            self.request(staff, "dashboard", "GET", "/dashboard/")
            if "csrftoken" not in buyer.cookies:
                self.request(buyer, "track", "GET", "/track/")
            self.request(buyer, "track", "POST", "/track/", data={
                "number": external_id, "phone": PHONE[-4:],
                "csrfmiddlewaretoken": buyer.cookies.get("csrftoken", "")})
            self.request(buyer, "healthz", "GET", "/healthz")

    def traffic(self, seconds: float, hooks, staff, buyer) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.monotonic()
            self.tick(hooks, staff, buyer)
            time.sleep(max(0.0, self.args.interval - (time.monotonic() - started)))

    # --- figures ---------------------------------------------------------------------------

    def backlog(self) -> dict[str, int]:
        from channels.models import RawPayload
        from orderhub.models import Order

        orders = Order.objects.filter(channel__code=CHANNEL)
        return {
            "pending payloads": RawPayload.objects.filter(
                channel__code=CHANNEL, status=RawPayload.Status.PENDING).count(),
            "paid, awaiting automation": orders.filter(status="paid").count(),
            "payments not applied": orders.filter(external_id__in=self.payments,
                                                  status="pending_payment").count(),
            "orders not in yet": len(self.sent_orders) - orders.filter(
                external_id__in=self.sent_orders).values("external_id").distinct().count(),
        }

    def main(self) -> None:
        import django

        os.environ.update({k: self.env[k] for k in ("DEBUG", "REDIS_URL", "DATABASE_URL")})
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
        sys.path.insert(0, str(ROOT))
        print(f"drill folder {self.tmp}; database {self.env['DATABASE_URL']}")
        self.setup()
        django.setup()
        import logging

        from django.db import connection

        logging.getLogger("httpx").setLevel(logging.WARNING)

        with httpx.Client(base_url=self.base, timeout=30) as hooks, \
                httpx.Client(base_url=self.base, timeout=30) as staff, \
                httpx.Client(base_url=self.base, timeout=30) as buyer:
            self.login(staff)
            print(f"before: {self.args.before:.0f} s of traffic with Redis up")
            self.traffic(self.args.before, hooks, staff, buyer)
            self.phase = "outage"
            self.redis_stop()
            down_at = time.monotonic()
            print(f"outage: Redis stopped (SHUTDOWN NOSAVE) for {self.args.outage:.0f} s")
            self.traffic(self.args.outage, hooks, staff, buyer)
            self.redis_start()
            back_at = time.monotonic()
            print(f"after: Redis started again (empty) after {back_at - down_at:.0f} s; "
                  f"{self.args.after:.0f} s more traffic")
            self.phase = "after"
            self.traffic(self.args.after, hooks, staff, buyer)
        # Waiting for the sweeps: payloads after 2 min, automation after 5 min, each every minute.
        drained_at = None
        deadline = time.monotonic() + self.args.drain_timeout
        while time.monotonic() < deadline:
            connection.close()
            left = self.backlog()
            if not any(left.values()):
                drained_at = time.monotonic()
                break
            time.sleep(5)
        self.report(back_at, drained_at)

    def report(self, back_at: float, drained_at: float | None) -> None:
        from django.db.models import Count

        from orderhub.models import Order

        orders = Order.objects.filter(channel__code=CHANNEL, external_id__in=self.sent_orders)
        in_hub = orders.values("external_id").distinct().count()
        duplicated = (orders.values("external_id").annotate(n=Count("id"))
                      .filter(n__gt=1).count())
        applied = orders.filter(external_id__in=self.payments).exclude(
            status="pending_payment").count()
        print()
        print("=== Redis down drill ===")
        print(f"orders sent {len(self.sent_orders)} / in hub {in_hub} / "
              f"lost {len(self.sent_orders) - in_hub} / duplicated {duplicated}")
        print(f"payments sent {len(self.payments)} / applied {applied}")
        for phase in ("before", "outage", "after"):
            counts = self.results[phase]
            failed = sum(n for key, n in counts.items() if not key.startswith("healthz")
                         and (key.endswith("no answer") or re.search(r" 5\d\d$", key)))
            detail = ", ".join(f"{key}: {n}" for key, n in sorted(counts.items()))
            print(f"{phase}: {sum(counts.values())} requests, {failed} failed ({detail})")
        if drained_at is None:
            print(f"NOT drained after {self.args.drain_timeout:.0f} s: {self.backlog()}")
        else:
            print(f"time to drain after Redis came back: {drained_at - back_at:.0f} s")
        statuses = collections.Counter(Order.objects.filter(channel__code=CHANNEL)
                                       .values_list("status", flat=True))
        print("order states:", dict(sorted(statuses.items())))
        if self.failures:
            print("failed requests (first 10):", *self.failures[:10], sep="\n  ")

    def cleanup(self) -> None:
        self.stop_all()
        if self.args.keep:
            print(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage", type=float, default=60.0, help="seconds Redis is down")
    parser.add_argument("--before", type=float, default=20.0)
    parser.add_argument("--after", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds per traffic tick")
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument("--database-url", default="",
                        help="a database of the drill's own (default: SQLite in a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the logs and the SQLite file")
    drill = Drill(parser.parse_args())
    try:
        drill.main()
    finally:
        drill.cleanup()


if __name__ == "__main__":
    main()
