"""Reporting's import graph: read-only over the other apps, the read models at the bottom,
and every import at module level (so the graph the code shows is the real one)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "reporting"
MODULES = sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.parts)
OTHER_APPS = ("orderhub", "channels", "warehouse", "fulfillment")
# Writes other apps' records as demo data through their services; loaded by name by
# ``manage.py seed_demo``, imported by nothing in reporting.
DEMO = ROOT / "demo.py"
# Reads that live in another app's services module (none since the dashboard cache
# stopped keying on the order-counts generation).
ALLOWED_SERVICE_NAMES: set = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    """(module, names, at module level) for each ``from x import ...`` / ``import x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [a.name for a in node.names], id(node) in top
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], id(node) in top


def _writes(module: str) -> bool:
    parts = module.split(".")
    return parts[0] in OTHER_APPS and any(p in ("services", "tasks") for p in parts)


def test_the_modules_are_found():
    names = {_module_name(p) for p in MODULES}
    assert {"reporting.selectors", "reporting.selectors.scope", "reporting.rollup",
            "reporting.views"} <= names


@pytest.mark.parametrize("path", [p for p in MODULES if p != DEMO], ids=_module_name)
def test_reporting_imports_nothing_that_writes_into_other_apps(path):
    bad = [(module, name) for module, names, _top in _imports(path) if _writes(module)
           for name in names or [""] if (module, name) not in ALLOWED_SERVICE_NAMES]
    assert bad == []


@pytest.mark.parametrize("path", [p for p in MODULES if _module_name(p).startswith(
    "reporting.selectors")], ids=_module_name)
def test_the_read_models_import_no_other_part_of_reporting(path):
    """The rollup, tasks, exports and views build on the selectors, never the reverse."""
    upward = [module for module, _names, _top in _imports(path)
              if module.startswith("reporting") and module != "reporting.models"
              and not module.startswith("reporting.selectors")]
    assert upward == []


@pytest.mark.parametrize("path", MODULES, ids=_module_name)
def test_imports_are_at_module_level(path):
    # AppConfig.ready is the one place Django wants imports inside a function.
    allowed = {ROOT / "apps.py"}
    inner = [module for module, _names, top in _imports(path) if not top]
    assert path in allowed or inner == []
