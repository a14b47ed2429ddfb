"""Benchmark: export a million orders as CSV and XLSX with peak RSS < 200 MB.

Fills PostgreSQL with ``--orders`` orders through COPY (the order-list
benchmark's generator; later runs reuse them), then runs each export in a
fresh child process and prints its wall time and peak RSS (``ru_maxrss``):

- ``csv``: the real view, ``/reports/export/orders.csv``, streamed to /dev/null;
- ``xlsx``: the background job's writer (openpyxl write-only, through lxml) to a file.

Peak RSS includes ~90 MB that a process has once Django and every app are
loaded (measured before any row is read, printed as "base RSS").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderhub_bench_reporting \\
        .venv/bin/python bench/export.py --orders 1000000

Not part of the test run. The database named in DATABASE_URL is created if missing.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("DATABASE_URL",
                      "postgres://postgres@127.0.0.1:5432/orderhub_bench_reporting")

RSS_LIMIT_MB = 200


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(fmt: str) -> None:
    """Run one export in this (fresh) process and print rows, seconds and peak RSS."""
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.http import QueryDict
    from django.test import Client
    from django.urls import reverse

    from reporting import exports

    reverse("dashboard")  # load every URLconf and view module, as a running server has
    base = peak_rss_mb()
    started = time.perf_counter()
    if fmt == "csv":
        user, _ = User.objects.get_or_create(username="bench-export")
        user.groups.add(Group.objects.get(name="manager"))
        client = Client()
        client.force_login(user)
        response = client.get("/reports/export/orders.csv", {"sort": "placed"})
        assert response.status_code == 200, response.status_code
        size, lines = 0, 0
        with open(os.devnull, "w", encoding="utf-8") as sink:
            for chunk in response.streaming_content:
                text = chunk.decode() if isinstance(chunk, bytes) else chunk
                size += len(text)
                lines += text.count("\n")
                sink.write(text)
        rows = lines - 1
    else:
        plan = exports.plan_export(kind="orders", fmt="xlsx",
                                   params=QueryDict("sort=placed"))
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "orders.xlsx"
            rows = exports.write_xlsx(target, plan.header, plan.rows())
            size = target.stat().st_size
    seconds = time.perf_counter() - started
    print(f"{fmt}\t{rows}\t{seconds:.1f}\t{size}\t{peak_rss_mb():.1f}\t{base:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["csv", "xlsx"], help=argparse.SUPPRESS)
    parser.add_argument("--formats", default="csv,xlsx")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        raise SystemExit("This benchmark needs PostgreSQL: set DATABASE_URL.")
    from bench.order_list import ensure_database, fill

    ensure_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from bench.dashboard import column_defaults

    column_defaults()
    fill(args.orders)

    print(f"{'format':<8}{'rows':>10}{'seconds':>10}{'MB out':>10}{'peak RSS MB':>14}"
          f"{'base RSS MB':>14}")
    failed = False
    for fmt in args.formats.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", fmt], check=True,
                             capture_output=True, text=True, env=os.environ.copy())
        line = out.stdout.strip().splitlines()[-1]
        _fmt, rows, seconds, size, rss, base = line.split("\t")
        print(f"{fmt:<8}{int(rows):>10,}{float(seconds):>10.1f}{int(size) / 2**20:>10.1f}"
              f"{float(rss):>14.1f}{float(base):>14.1f}", flush=True)
        failed |= float(rss) >= RSS_LIMIT_MB
    print(f"goal: peak RSS < {RSS_LIMIT_MB} MB: {'FAILED' if failed else 'ok'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
