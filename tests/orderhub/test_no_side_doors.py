"""No side doors around the order services (issue 13).

A static scan of the apps' source: outside ``orderhub/services/`` no module
saves or writes ``Order`` / ``OrderLine`` rows, and none creates ``OrderEvent``
rows, except what the commented allow-list below names. A change to an order
that skips the services skips their versioning, signals and locks; an event
written by hand skips the declared kinds (``order_event_record``).

What counts as a write (by the code's shape, read with ``ast``):
- ``<x>.save(...)`` where ``<x>`` is a variable or attribute named ``order`` or
  ``line`` / ``order_line`` (how the project names Order and OrderLine objects);
- ``Order|OrderLine.objects...create/bulk_create/get_or_create/update_or_create/
  update/bulk_update/delete(...)`` and ``OrderEvent.objects...create/bulk_create/
  get_or_create/update_or_create(...)``;
- ``OrderEvent(...)`` instances, and ``insert_rows``/``update_rows`` of these models.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("orderhub", "channels", "warehouse", "fulfillment", "reporting", "api", "webhooks")

ORDER_MODELS = {"Order", "OrderLine"}
WRITES = {"create", "bulk_create", "get_or_create", "update_or_create", "update",
          "bulk_update", "delete"}
EVENT_WRITES = {"create", "bulk_create", "get_or_create", "update_or_create"}
ROW_WRITERS = {"insert_rows", "update_rows", "add_to_rows"}
SAVED_NAMES = {"order", "line", "order_line"}

# Where writing these rows directly must stay, and why. Paths relative to the repo.
ALLOWED_DIRS = (
    "orderhub/services/",  # the order services themselves (and their bulk writers)
)
ALLOWED_FILES = {
    # Demo data: backdates the stamps, versions and events the services just wrote,
    # so the demo's history looks lived-in; no business change.
    "orderhub/management/commands/seed_demo.py",
}


def _root_name(node: ast.AST) -> str | None:
    """``Order`` for ``Order.objects.filter(...).select_for_update()``: the chain's first name."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return node.id if isinstance(node, ast.Name) else None


def _through_objects(node: ast.AST) -> bool:
    """Whether the call chain goes through a manager (``.objects``)."""
    while isinstance(node, ast.Call | ast.Attribute | ast.Subscript):
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


def side_doors(source: str) -> list[tuple[int, str]]:
    """(line, what) for each direct write of an order, its lines or its events in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            if func.id == "OrderEvent":
                found.append((node.lineno, "OrderEvent(...)"))
            elif func.id in ROW_WRITERS and node.args and isinstance(node.args[0], ast.Name) \
                    and node.args[0].id in ORDER_MODELS | {"OrderEvent"}:
                found.append((node.lineno, f"{func.id}({node.args[0].id}, ...)"))
            continue
        if not isinstance(func, ast.Attribute):
            continue
        receiver = func.value
        if func.attr == "save":
            name = receiver.id if isinstance(receiver, ast.Name) else (
                receiver.attr if isinstance(receiver, ast.Attribute) else None)
            if name in SAVED_NAMES:
                found.append((node.lineno, f"{name}.save()"))
            continue
        root = _root_name(receiver)
        if not _through_objects(receiver):
            continue
        if root in ORDER_MODELS and func.attr in WRITES:
            found.append((node.lineno, f"{root}.objects...{func.attr}()"))
        elif root == "OrderEvent" and func.attr in EVENT_WRITES:
            found.append((node.lineno, f"OrderEvent.objects...{func.attr}()"))
    return found


def _scanned_files():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" in rel:
                continue  # migrations write history as it was, never through today's services
            yield rel, path


def test_no_module_outside_the_services_writes_orders_or_events():
    offenders = []
    for rel, path in _scanned_files():
        if rel.startswith(ALLOWED_DIRS) or rel in ALLOWED_FILES:
            continue
        offenders += [f"{rel}:{line}: {what}" for line, what in side_doors(path.read_text())]
    assert offenders == [], (
        "Change orders through orderhub.services.orders and write events with "
        "orderhub.services.events.order_event_record:\n" + "\n".join(offenders))


def test_the_scan_sees_each_kind_of_side_door():
    # The scan itself must catch what it claims to, or the test above proves nothing.
    source = "\n".join([
        "order.save(update_fields=['carrier'])",
        "waybill.order.save()",
        "line.save()",
        "Order.objects.filter(pk=1).update(note='x')",
        "OrderLine.objects.bulk_update(lines, ['quantity'])",
        "OrderEvent.objects.create(order=o, kind='k')",
        "OrderEvent(order=o, kind='k')",
        "insert_rows(OrderEvent, rows)",
        "Order.objects.select_for_update().get(pk=1)",  # a read: not a write
        "check.save()",  # another model: fine
        "OrderEvent.objects.filter(order=o).count()",  # a read
    ])
    assert [line for line, _ in side_doors(source)] == [1, 2, 3, 4, 5, 6, 7, 8]


def test_the_allow_list_names_files_that_exist():
    for rel in ALLOWED_FILES:
        assert (ROOT / rel).is_file(), rel


# Who may say "this is the scan flow" to ``order_transition`` (claim/finish by a
# person): the pick task only. Anyone else passing ``scan_flow`` would reopen the
# side door issue 15 closed (a manager marking an order picked with no scans).
# The hub's own scan flow, and an external WMS reporting through the open API that it
# picked and shipped the order (the WMS is the scan flow of a warehouse that runs one).
SCAN_FLOW_CALLERS = {"warehouse/services/picking.py", "api/services.py"}


def scan_flow_calls(source: str) -> list[int]:
    """Lines of calls in ``source`` that pass ``scan_flow=...``."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and any(k.arg == "scan_flow" for k in node.keywords)]


def test_only_the_pick_task_takes_claim_and_finish_as_the_scan_flow():
    offenders, seen = [], set()
    for rel, path in _scanned_files():
        lines = scan_flow_calls(path.read_text())
        if lines:
            seen.add(rel)
        if rel not in SCAN_FLOW_CALLERS:
            offenders += [f"{rel}:{line}" for line in lines]
    assert offenders == []
    assert seen == SCAN_FLOW_CALLERS  # the scan itself finds the real caller


def test_the_scan_flow_scan_sees_a_call():
    assert scan_flow_calls("order_transition(order=o, name='finish', actor=u, scan_flow=True)\n"
                           "order_transition(order=o, name='hold', actor=u)") == [1]
