"""Drill: PostgreSQL restarted (``pg_ctl restart -m fast``) while orders arrive and pages are read.

    python bench/drills/postgres_restart.py [--orders 300] [--before 5] [--after 10]

Run it alone: it restarts the drill cluster (port 5440) that other drills use.
The hub runs as in production on that cluster, in a fresh database: gunicorn
(2 sync workers, ``CONN_MAX_AGE=60`` with health checks, the settings' default) and
a Celery worker on the ingest queue (no Redis here: the on-disk broker under the
drill's own var dir). Load, from the drill: signed Shopify webhooks posted to
``/hooks/<channel>/`` by two threads (``--orders`` orders in all, each delivered
once), and a logged-in ops user reading ``/orders/`` and ``/orders/<id>/`` plus
``/healthz`` in two threads. Once both kinds of request have been answered a few
times and ``--before`` more seconds have passed, PostgreSQL restarts; the load goes
on for ``--after`` seconds and then until every order is sent.

Counted per phase (before / during the restart and 2 s after it / after): requests
and failed requests (HTTP 5xx or no answer). A webhook the hub did not acknowledge
with a 2xx is delivered again afterwards, as Shopify retries. Verified from the
database after the worker drained the queue: every order exactly once; stored
payloads still pending (their processing task failed on the restart) are named
and then processed as a replay would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import queue
import threading
import time

import _kit
import httpx

SECRET = "drill-secret"
WEB_PORT = 8791


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


class Timeline:
    """Requests and failures per phase; the phase is set by the main thread."""

    def __init__(self):
        self.phase = "before"
        self.counts: dict[tuple[str, str], list[int]] = {}
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()

    def record(self, kind: str, ok: bool, error: str = "") -> None:
        with self.lock:
            row = self.counts.setdefault((kind, self.phase), [0, 0])
            row[0] += 1
            row[1] += not ok
            if error:
                self.errors[error] = self.errors.get(error, 0) + 1

    def get(self, kind: str, phase: str) -> tuple[int, int]:
        return tuple(self.counts.get((kind, phase), [0, 0]))


def main() -> None:
    p = _kit.parser(__doc__.splitlines()[0], orders=300)
    p.add_argument("--before", type=float, default=5)
    p.add_argument("--after", type=float, default=10)
    args = p.parse_args()
    pg = _kit.DrillPostgres()
    pg.start()
    hub = _kit.Hub("postgres_restart", pg=pg, keep=args.keep)
    figures = _kit.Figures(f"PostgreSQL restart under load: {args.orders} webhook orders, "
                           "page reads")
    try:
        hub.setup_django()
        from django.contrib.auth.models import Group, User
        from django.db import connections
        from django.test import Client

        from channels.models import RawPayload
        from channels.services import raw_payload_process

        channel = _kit.make_shopify_channel("drill-pg", "https://pg.myshopify.com",
                                            skus=_kit.SKUS)
        channel.credentials = {"access_token": "shpat_drill", "webhook_secret": SECRET}
        channel.save()
        ops = User.objects.create_user("drill-ops", password="drill-pw-123")  # noqa: S106
        ops.groups.add(Group.objects.get(name="ops"))
        client = Client(SERVER_NAME="127.0.0.1")
        client.force_login(ops)
        session = client.cookies["sessionid"].value
        hub.start_web(WEB_PORT)
        hub.start_worker("ingest", name="worker")
        base = f"http://127.0.0.1:{WEB_PORT}"

        timeline = Timeline()
        todo: queue.Queue = queue.Queue()
        for n in range(args.orders):
            todo.put(n)
        retry: list[int] = []
        acked: set[int] = set()
        stop = threading.Event()
        sender_done = threading.Event()

        def send() -> None:
            with httpx.Client(base_url=base, timeout=10) as http:
                while not stop.is_set():
                    try:
                        n = todo.get(timeout=0.2)
                    except queue.Empty:
                        if sender_done.is_set():
                            return
                        continue
                    body = json.dumps(_kit.shopify_order(n, updated=_kit.shopify_stamp(n)),
                                      ensure_ascii=False).encode()
                    try:
                        r = http.post(f"/hooks/{channel.code}/", content=body, headers={
                            "Content-Type": "application/json",
                            "X-Shopify-Hmac-Sha256": sign(body),
                            "X-Shopify-Topic": "orders/create"})
                        ok, error = r.status_code < 300, (f"HTTP {r.status_code}"
                                                          if r.status_code >= 300 else "")
                    except httpx.HTTPError as exc:
                        ok, error = False, type(exc).__name__
                    timeline.record("webhook", ok, error and f"webhook {error}")
                    (acked.add if ok else retry.append)(n)
                    time.sleep(0.01)

        def read() -> None:
            with httpx.Client(base_url=base, timeout=10, cookies={"sessionid": session}) as http:
                for i in itertools.count():
                    if stop.is_set():
                        return
                    path = ("/orders/" if i % 3 == 0 else "/healthz" if i % 3 == 1
                            else f"/orders/{(i % 50) + 1}/")
                    try:
                        r = http.get(path)
                        # an order not created yet is a 404: an answer, not a failure
                        ok = r.status_code < 500 and r.status_code != 302
                        error = "" if ok else f"HTTP {r.status_code}"
                    except httpx.HTTPError as exc:
                        ok, error = False, type(exc).__name__
                    timeline.record("page", ok, error and f"{path.split('/')[1]} {error}")
                    time.sleep(0.02)

        threads = [threading.Thread(target=send) for _ in range(2)] + \
                  [threading.Thread(target=read) for _ in range(2)]
        for t in threads:
            t.start()
        # Warm up first (gunicorn's workers load the app on their first request), so
        # "before" measures a hub that was serving.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and min(
                timeline.get("webhook", "before")[0], timeline.get("page", "before")[0]) < 5:
            time.sleep(0.2)
        time.sleep(args.before)
        timeline.phase = "during"
        started = time.perf_counter()
        pg.restart()
        restart_seconds = time.perf_counter() - started
        _kit.log(f"PostgreSQL restarted in {restart_seconds:.1f}s")
        time.sleep(2)
        timeline.phase = "after"
        time.sleep(args.after)
        sender_done.set()
        deadline = time.monotonic() + 300
        while not todo.empty() and time.monotonic() < deadline:
            time.sleep(0.5)
        # Shopify retries what was not acknowledged.
        for n in retry:
            todo.put(n)
        retried = len(retry)
        while not todo.empty() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join()

        # This process's own connection died with the restart (no request cycle here
        # runs Django's health check): open a new one.
        connections.close_all()
        pending = RawPayload.objects.filter(channel=channel, status="pending")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            # the worker is draining the queue; what stays pending over 10 s is stuck
            before = pending.count()
            time.sleep(10)
            if pending.count() == before:
                break
        stuck = list(pending.values_list("pk", flat=True))
        for pk in stuck:
            raw_payload_process(raw_id=pk)
        counts = _kit.order_counts(channel)

        for kind in ("webhook", "page"):
            for phase in ("before", "during", "after"):
                total, failed = timeline.get(kind, phase)
                expected = 0 if phase != "during" else None
                figures.add(f"{kind} requests {phase}: failed / total", f"{failed} / {total}",
                            None)
                if expected is not None:
                    figures.add(f"{kind} requests failed {phase} the restart", failed, expected)
        figures.add("restart took (s)", round(restart_seconds, 1))
        figures.add("webhooks not acknowledged, delivered again", retried)
        figures.add("orders acknowledged", len(acked))
        figures.add("orders lost", args.orders - counts["distinct"], 0)
        figures.add("orders duplicated", counts["orders"] - counts["distinct"], 0)
        figures.add("payloads left pending by a failed task (processed by the drill)",
                    len(stuck))
        for error, n in sorted(timeline.errors.items()):
            figures.note(f"{n} x {error}")
    finally:
        hub.close()
        pg.stop()
    figures.print_and_exit()


if __name__ == "__main__":
    main()
