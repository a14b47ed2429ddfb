"""Shared kit for the outage drills: own services, a fresh database, the hub's processes,
a fake Shopify, counting, and the figure table every drill prints.

A drill runs against throwaway services it starts itself and never touches the
shared PostgreSQL (5432) or Redis (6379):

- PostgreSQL on port 5440 (``DRILL_PG_PORT``), cluster in ``/tmp/drillpg``
  (``DRILL_PG_DIR``), made with ``initdb`` on first use (as the ``postgres`` user
  when run as root);
- Redis on port 6391 (``DRILL_REDIS_PORT``), no persistence.

Each run makes a fresh database named ``drill_<name>_<time>`` and drops it at the
end (``--keep`` keeps it for a look). What a drill started, it stops.

Importing this module does not set Django up: a drill calls ``use_database`` (which
sets ``DATABASE_URL`` and friends in the environment) and then ``django_setup``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PG_PORT = int(os.environ.get("DRILL_PG_PORT", "5440"))
PG_DIR = Path(os.environ.get("DRILL_PG_DIR", "/tmp/drillpg"))
REDIS_PORT = int(os.environ.get("DRILL_REDIS_PORT", "6391"))
# A Fernet key for the drill databases' stored credentials (throwaway data only).
DRILL_CREDENTIALS_KEY = "ZHJpbGwtb25seS1rZXktbmV2ZXItcHJvZHVjdGlvbiE="

sys.path.insert(0, str(ROOT))


# --- arguments and the figure table ------------------------------------------------------

def parser(description: str, orders: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--orders", type=int, default=orders, help=f"orders (default {orders})")
    p.add_argument("--keep", action="store_true", help="keep the drill database afterwards")
    return p


@dataclass
class Figures:
    """Figures a drill found, each with the value it must have (None: only reported)."""

    title: str
    rows: list[tuple[str, object, object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value, expected=None) -> None:
        self.rows.append((name, value, expected))

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def failed(self) -> list[str]:
        return [name for name, value, expected in self.rows
                if expected is not None and not _meets(value, expected)]

    def print_and_exit(self) -> None:
        width = max([len(r[0]) for r in self.rows] + [10])
        print(f"\n== {self.title} ==")
        for name, value, expected in self.rows:
            mark = "" if expected is None else ("  ok" if _meets(value, expected)
                                               else f"  FAIL (want {_want(expected)})")
            print(f"{name:<{width}}  {value}{mark}")
        for text in self.notes:
            print(f"note: {text}")
        failed = self.failed
        print("FAIL: " + ", ".join(failed) if failed else "PASS")
        sys.exit(1 if failed else 0)


def _meets(value, expected) -> bool:
    return expected(value) if callable(expected) else value == expected


def _want(expected) -> str:
    if callable(expected):
        return getattr(expected, "__doc__", None) or "see the drill"
    return str(expected)


def at_most(limit):
    def check(value):
        return value <= limit
    check.__doc__ = f"<= {limit}"
    return check


def at_least(limit):
    def check(value):
        return value >= limit
    check.__doc__ = f">= {limit}"
    return check


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] {text}", flush=True)


# --- own PostgreSQL and Redis ------------------------------------------------------------

def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    path = shutil.which(name)
    if not path:
        raise SystemExit(f"{name} not found (install PostgreSQL server binaries)")
    return path


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


class DrillPostgres:
    """The drill's own PostgreSQL cluster; ``start`` is a no-op when it already runs."""

    def __init__(self, port: int = PG_PORT, datadir: Path = PG_DIR):
        self.port, self.datadir = port, datadir
        self.started_here = False

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(self.datadir),
                                            *args]), capture_output=True, text=True,
                              check=check)

    def start(self) -> None:
        if port_open(self.port):
            return
        if not (self.datadir / "PG_VERSION").exists():
            self.datadir.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.datadir, "postgres", "postgres")
            subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(self.datadir),
                                         "-U", "postgres", "--auth=trust"]),
                           capture_output=True, check=True)
        self._ctl("-o", f"-p {self.port} -k /tmp -c max_connections=200",
                  "-l", str(self.datadir / "drill.log"), "-w", "start")
        self.started_here = True

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: clients are disconnected, the cluster comes back."""
        self._ctl("-o", f"-p {self.port} -k /tmp -c max_connections=200",
                  "-l", str(self.datadir / "drill.log"), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        """Stop the cluster if this drill started it and no other drill's database is left
        (drills may run side by side on it)."""
        if not port_open(self.port):
            return
        if self.started_here and not self.drill_databases():
            self._ctl("-m", "fast", "-w", "stop", check=False)
        self.started_here = False

    def drill_databases(self) -> list[str]:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            return [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'drill\\_%'")]

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class DrillRedis:
    """A throwaway redis-server (no persistence) on the drill's port."""

    def __init__(self, port: int = REDIS_PORT):
        self.port = port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if port_open(self.port):
            raise SystemExit(f"port {self.port} is taken: another drill's Redis still running?")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open(self.port), 10, "redis")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def wait_for(check, seconds: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise SystemExit(f"timed out after {seconds:.0f}s waiting for {what}")


# --- the hub's environment, database and processes ---------------------------------------

class Hub:
    """One drill's hub: its database, environment and the processes it started."""

    def __init__(self, name: str, *, pg: DrillPostgres, redis_url: str = "", keep: bool = False):
        self.db_name = f"drill_{name}_{int(time.time())}"
        self.pg, self.keep = pg, keep
        self.var_dir = Path(tempfile.mkdtemp(prefix=f"drill-{name}-"))
        self.db_url = pg.create_database(self.db_name)
        self.env = {**os.environ, "DATABASE_URL": self.db_url, "REDIS_URL": redis_url,
                    "DJANGO_SETTINGS_MODULE": "orderhub.settings", "DEBUG": "1",
                    "SANDBOX_ENABLED": "0", "LOG_LEVEL": "WARNING",
                    "ORDERHUB_VAR_DIR": str(self.var_dir),
                    "CHANNEL_CREDENTIALS_KEY": DRILL_CREDENTIALS_KEY,
                    "PYTHONPATH": str(ROOT)}
        if not redis_url:
            self.env.pop("REDIS_URL")
        self.procs: list[subprocess.Popen] = []

    def setup_django(self) -> None:
        """Point this process at the drill database and migrate it."""
        for key in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG",
                    "SANDBOX_ENABLED", "LOG_LEVEL", "ORDERHUB_VAR_DIR",
                    "CHANNEL_CREDENTIALS_KEY"):
            if key in self.env:
                os.environ[key] = self.env[key]
            else:
                os.environ.pop(key, None)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)

    def spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        """Start a process in its own process group, its output in the drill's var dir."""
        out = (self.var_dir / f"{log_name}.log").open("ab")
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=out, stderr=out,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def start_worker(self, queues: str = "ingest", concurrency: int = 1,
                     name: str = "worker") -> subprocess.Popen:
        return self.spawn([PYTHON, "-m", "celery", "-A", "orderhub", "worker", "-Q", queues,
                           "--concurrency", str(concurrency), "--pool", "prefork",
                           "--loglevel", "INFO", "-n", f"{name}-{time.time_ns()}@drill",
                           "--without-heartbeat", "--without-gossip", "--without-mingle"],
                          name)

    def start_web(self, port: int, workers: int = 2) -> subprocess.Popen:
        proc = self.spawn([PYTHON, "-m", "gunicorn", "orderhub.wsgi:application", "--bind",
                           f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "60",
                           "--no-control-socket"], "web")
        wait_for(lambda: port_open(port), 30, "gunicorn")
        return proc

    def log_tail(self, log_name: str, lines: int = 30) -> str:
        path = self.var_dir / f"{log_name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) \
            if path.exists() else ""

    def close(self) -> None:
        for proc in self.procs:
            kill_group(proc, signal.SIGTERM)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
            kill_group(proc, signal.SIGKILL)
        from django.db import connections

        connections.close_all()
        if not self.keep:
            try:
                self.pg.drop_database(self.db_name)
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the drill's result
                log(f"could not drop {self.db_name}: {exc}")
            shutil.rmtree(self.var_dir, ignore_errors=True)
        else:
            log(f"kept database {self.db_name} and logs in {self.var_dir}")


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal a process we started and its children (its own session/group)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


def kill9(proc: subprocess.Popen) -> None:
    """``kill -9`` the process and its children at once: no shutdown code runs."""
    kill_group(proc, signal.SIGKILL)
    proc.wait(10)


# --- counting ----------------------------------------------------------------------------

def order_counts(channel) -> dict:
    """Orders of a channel: total, distinct external ids, and ids held more than once."""
    from django.db.models import Count

    from orderhub.models import Order

    orders = Order.objects.filter(channel=channel)
    dupes = (orders.values("external_id").annotate(n=Count("id")).filter(n__gt=1).count())
    return {"orders": orders.count(),
            "distinct": orders.values("external_id").distinct().count(),
            "duplicated": dupes}


def make_shopify_channel(code: str, shop_url: str, *, skus=()):
    from channels.models import Channel, SkuMapping

    channel = Channel(code=code, name=code, platform="shopify",
                      config={"shop_url": shop_url, "api_version": "2024-10"},
                      poll_interval=60)
    channel.credentials = {"access_token": "shpat_drill", "webhook_secret": "drill-secret"}
    channel.save()
    SkuMapping.objects.bulk_create(
        [SkuMapping(channel=channel, platform_sku=s, hub_sku=s) for s in skus],
        ignore_conflicts=True)
    return channel


# --- a fake Shopify on a local port -------------------------------------------------------

SKUS = [f"DRILL-{n:02d}" for n in range(10)]


def shopify_order(n: int, *, updated: str = "2026-11-20T10:00:00+08:00", **extra) -> dict:
    """A Shopify-shaped paid order, number ``n`` (id 50,000,000 + n)."""
    order = {
        "id": 50_000_000 + n, "name": f"#D{n}", "created_at": "2026-11-20T09:00:00+08:00",
        "updated_at": updated, "processed_at": "2026-11-20T09:00:05+08:00",
        "financial_status": "paid", "fulfillment_status": None, "currency": "CNY",
        "total_price": "118.00", "total_discounts": "0.00", "email": f"d{n}@example.com",
        "note": "", "customer": {"first_name": "演练", "last_name": str(n)},
        "shipping_address": {"name": f"收件人{n}", "phone": "13800138000",
                             "province": "上海市", "city": "上海市",
                             "address1": f"世纪大道{n}号", "address2": "", "zip": "200120",
                             "country_code": "CN"},
        "shipping_lines": [],
        "line_items": [{"id": n * 10 + 1, "sku": SKUS[n % len(SKUS)], "name": "保温杯",
                        "quantity": 2, "price": "59.00", "variant_id": 7000 + n % 10}],
    }
    order.update(extra)
    return order


def shopify_stamp(n: int) -> str:
    """Distinct, increasing updated_at per order number (one second apart)."""
    t = time.gmtime(1_763_600_000 + n)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", t)


class FakeShopify:
    """A tiny Shopify Admin REST server: orders (keyset pages with a Link header),
    fulfillment orders, fulfillments (recorded), order read-back; scripted faults.

    ``faults`` is a list of ``(method, path suffix, kind, arg)``: the first request
    matching one gets the fault instead of the answer, and the fault is used up.
    Kinds: ``pass`` (the real answer: to let a retry through), ``status`` (arg:
    (code, headers, body)), ``html`` (arg: status; an nginx
    error page), ``truncated`` (the real JSON cut in half, status 200) and ``sleep``
    (arg: seconds, then the real answer: a timeout for a short-timeout client). A
    fulfillment POST that got ``sleep`` or ``truncated`` did land (the reply was
    lost); one refused with a status did not.
    """

    def __init__(self, orders: list[dict], *, page_delay: float = 0.0,
                 post_delay: float = 0.0):
        self.orders = {o["id"]: o for o in orders}
        self.page_delay, self.post_delay = page_delay, post_delay
        self.faults: list[tuple[str, str, str, object]] = []
        self.requests: list[tuple[str, str, int]] = []
        self.fulfillments: dict[int, list[str]] = {}  # order id -> tracking numbers received
        self.posting = 0  # fulfilment calls in flight (received, not answered yet)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def posts(self) -> int:
        return sum(len(v) for v in self.fulfillments.values())

    def _take_fault(self, method: str, path: str):
        with self.lock:
            for i, (m, suffix, kind, arg) in enumerate(self.faults):
                if m == method and path.endswith(suffix):
                    del self.faults[i]
                    return kind, arg
        return None

    def _handler(self):
        shop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, ctype="application/json", headers=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def _answer(self, status, data, headers=None, fault=None):
                if fault is None:
                    fault = shop._take_fault(self.command, urlparse(self.path).path)
                body = json.dumps(data).encode()
                if fault:
                    kind, arg = fault
                    shop.requests.append((self.command, self.path, -1))
                    if kind == "status":
                        code, hdrs, text = arg
                        return self._send(code, text.encode(), headers=hdrs)
                    if kind == "html":
                        page = (b"<html><head><title>502 Bad Gateway</title></head><body>"
                                b"<h1>502 Bad Gateway</h1><hr>nginx</body></html>")
                        return self._send(arg, page, ctype="text/html")
                    if kind == "truncated":
                        return self._send(200, body[: len(body) // 2])
                    if kind == "sleep":
                        time.sleep(arg)
                shop.requests.append((self.command, self.path, status))
                self._send(status, body, headers=headers)

            def do_GET(self):  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if url.path.endswith("/orders.json"):
                    if shop.page_delay:
                        time.sleep(shop.page_delay)
                    limit = int(query.get("limit", ["250"])[0])
                    start = int(query.get("page_info", ["0"])[0])
                    rows = sorted(shop.orders.values(), key=lambda o: (o["updated_at"], o["id"]))
                    since = query.get("updated_at_min", [""])[0]
                    if since:
                        from django.utils.dateparse import parse_datetime

                        floor = parse_datetime(since)
                        rows = [o for o in rows if parse_datetime(o["updated_at"]) >= floor]
                    page = rows[start:start + limit]
                    headers = {}
                    if start + limit < len(rows):
                        base = f"http://{self.headers['Host']}{url.path}"
                        headers["Link"] = f'<{base}?limit={limit}&page_info={start + limit}>; ' \
                                          'rel="next"'
                    return self._answer(200, {"orders": page}, headers)
                parts = url.path.split("/")
                if url.path.endswith("/fulfillment_orders.json"):
                    oid = int(parts[-2])
                    done = bool(shop.fulfillments.get(oid))
                    return self._answer(200, {"fulfillment_orders": [{
                        "id": oid, "status": "closed" if done else "open",
                        "supported_actions": [] if done else ["create_fulfillment"]}]})
                if url.path.endswith(".json") and parts[-1][:-5].isdigit():
                    oid = int(parts[-1][:-5])
                    numbers = shop.fulfillments.get(oid, [])
                    return self._answer(200, {"order": {"id": oid, "fulfillments": [
                        {"status": "success", "tracking_number": t} for t in numbers]}})
                self._send(404, b'{"errors": "Not Found"}')

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                data = json.loads(self.rfile.read(length) or b"{}")
                if urlparse(self.path).path.endswith("/fulfillments.json"):
                    with shop.lock:
                        shop.posting += 1
                    if shop.post_delay:
                        time.sleep(shop.post_delay)
                    item = data["fulfillment"]["line_items_by_fulfillment_order"][0]
                    oid = int(item["fulfillment_order_id"])
                    fault = shop._take_fault("POST", urlparse(self.path).path)
                    # A refusal leaves nothing behind; a late or cut-off reply did land.
                    if fault is None or fault[0] in ("sleep", "truncated"):
                        with shop.lock:
                            shop.fulfillments.setdefault(oid, []).append(
                                data["fulfillment"]["tracking_info"]["number"])
                    with shop.lock:
                        shop.posting -= 1
                    return self._answer(201, {"fulfillment": {"id": 900_000 + oid}},
                                        fault=fault or False)
                self._send(404, b'{"errors": "Not Found"}')

        return Handler
