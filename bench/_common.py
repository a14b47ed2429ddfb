"""What every benchmark shares: nearest-rank percentiles, the verdict line, the machine line.

Each benchmark prints one verdict line per goal, in the form ``bench/run_all`` reads::

    VERDICT | <measure> | <figure> | <goal> | PASS|FAIL | load <1-min load average>

and a ``machine`` line once. ``live_hub()`` runs ``bench/live_ingest.py`` in its own
process while the block runs, so pages are measured on a busy hub, as a seller's is
during a sale.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nearest_rank(values, pct: float) -> float:
    """Nearest-rank percentile: the smallest value with pct % of values at or below it."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def load_average() -> float:
    return os.getloadavg()[0]


def machine_line() -> str:
    return (f"machine | {platform.node()} | {os.cpu_count()} cores | {platform.python_version()} | "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")


def verdict(measure: str, figure: str, goal: str, ok: bool) -> bool:
    print(f"VERDICT | {measure} | {figure} | {goal} | {'PASS' if ok else 'FAIL'} | "
          f"load {load_average():.2f}", flush=True)
    return ok


def analyse(connection) -> None:
    """Statistics as a real database has them: plans chosen on an analysed database."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


@contextlib.contextmanager
def live_hub(*, rate: int = 50, database_url: str | None = None):
    """Ingest orders in another process (``rate`` orders/s) while the block runs."""
    env = dict(os.environ)
    if database_url:
        env["DATABASE_URL"] = database_url
    script = ROOT / "bench" / "live_ingest.py"
    proc = subprocess.Popen([sys.executable, str(script), "--rate", str(rate)], env=env)
    try:
        time.sleep(2)  # let it connect and start writing before anything is measured
        if proc.poll() is not None:
            raise RuntimeError("live_ingest.py exited at once: the hub would not be live")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def copy_defaults(connection) -> list[str]:
    """Database defaults for the NOT NULL order and line columns a COPY/SQL generator
    leaves out.

    ``bench.order_list`` COPYs a fixed column list (and ``bench.dashboard`` writes
    lines in SQL); a column added since (NOT NULL, its default given by Django: a
    ``default=`` or a CharField's "") would reject every row. Only a benchmark
    database is altered. Returns the columns given a default.
    """
    from orderhub.models import Order, OrderLine

    done = []
    with connection.cursor() as cursor:
        for model in (Order, OrderLine):
            table = model._meta.db_table
            for field in model._meta.concrete_fields:
                if field.primary_key or field.null:
                    continue
                if field.has_default():
                    value = field.get_db_prep_save(field.get_default(), connection)
                elif field.empty_strings_allowed:
                    value = ""
                else:
                    continue
                cursor.execute(
                    f'ALTER TABLE {table} ALTER COLUMN "{field.column}" SET DEFAULT %s', [value])
                done.append(f"{table}.{field.column}")
    return done
