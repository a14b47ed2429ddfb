"""README's Configuration tables and the environment variables the hub reads agree, both ways.

"Read" is found in the source, not in a list kept by hand: an AST walk over
``orderhub/settings.py`` (``env("X")``, ``env.int("X")``... and ``os.environ``) and over
the rest of the project's code (``os.environ`` / ``os.getenv``), plus the ``${X:-...}``
variables of the scripts, the Procfile and docker-compose.yml. A setting added without
its README row, or a row left behind for a setting that went, fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("orderhub", "channels", "warehouse", "fulfillment", "reporting", "scripts")
SCRIPT_FILES = ("Procfile", "docker-compose.yml", *(f"scripts/{p.name}"
                                                   for p in (ROOT / "scripts").glob("*.sh")))
NAME = re.compile(r"`([A-Z][A-Z0-9_]*)`")
# ${NAME:-default}, ${NAME-default}, ${NAME:?message}: a variable the caller may set.
SHELL_DEFAULT = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):?[-?=]")
SHELL_USE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)")


# --- what the code reads --------------------------------------------------------------

def _is_os_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ"
            and isinstance(node.value, ast.Name) and node.value.id == "os")


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def env_reads(source: str, *, env_object: str | None = None) -> set[str]:
    """Variable names ``source`` reads from the environment.

    ``os.environ.get/pop("X")``, ``os.environ["X"]``, ``"X" in os.environ``,
    ``os.getenv("X")``; with ``env_object`` also django-environ's ``env("X")`` and
    ``env.<cast>("X")`` on that name. ``os.environ.setdefault`` writes, so it is no read.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args:
            func, first = node.func, _text(node.args[0])
            if first is None:
                continue
            if env_object and isinstance(func, ast.Name) and func.id == env_object:
                names.add(first)
            elif isinstance(func, ast.Attribute):
                owner = func.value
                if (env_object and isinstance(owner, ast.Name) and owner.id == env_object
                        and func.attr != "read_env"):
                    names.add(first)
                elif _is_os_environ(owner) and func.attr in ("get", "pop"):
                    names.add(first)
                elif (isinstance(owner, ast.Name) and owner.id == "os"
                      and func.attr == "getenv"):
                    names.add(first)
        elif (isinstance(node, ast.Subscript) and _is_os_environ(node.value)
              and isinstance(node.ctx, ast.Load) and _text(node.slice)):
            names.add(_text(node.slice))
        elif (isinstance(node, ast.Compare) and len(node.ops) == 1
              and isinstance(node.ops[0], ast.In | ast.NotIn)
              and _is_os_environ(node.comparators[0]) and _text(node.left)):
            names.add(_text(node.left))
    return names


def read_by_settings() -> set[str]:
    return env_reads((ROOT / "orderhub" / "settings.py").read_text(), env_object="env")


def read_by_code() -> dict[str, set[str]]:
    """Per variable, the files outside settings.py that read it."""
    found: dict[str, set[str]] = {}
    paths = [ROOT / "manage.py"] + [p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")]
    for path in paths:
        if path.name == "settings.py" and path.parent.name == "orderhub":
            continue
        for name in env_reads(path.read_text()):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def script_text() -> str:
    return "\n".join((ROOT / name).read_text() for name in SCRIPT_FILES)


# --- what the README documents --------------------------------------------------------

def documented(readme: str) -> tuple[set[str], set[str]]:
    """(variables the hub reads, variables only the scripts read), as README documents them.

    The Configuration section's tables (first column) and any "Also read:" list; what
    follows a sub-heading about the scripts (or "by the scripts" in such a list) belongs
    to the scripts.
    """
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    hub: set[str] = set()
    scripts: set[str] = set()
    target = hub
    for paragraph in re.split(r"\n\s*\n", section):
        if paragraph.startswith("### "):
            target = scripts if "script" in paragraph.split("\n", 1)[0].lower() else hub
        for line in paragraph.splitlines():
            if line.startswith("|"):
                target.update(NAME.findall(line.split("|")[1]))
        if paragraph.startswith("Also read:"):
            own, _, theirs = paragraph.partition("by the scripts")
            target.update(NAME.findall(own))
            scripts.update(NAME.findall(theirs))
    return hub, scripts


README_HUB, README_SCRIPTS = documented((ROOT / "README.md").read_text())


# --- the comparison, both ways --------------------------------------------------------

def test_every_variable_the_code_reads_is_documented():
    missing = {name: "orderhub/settings.py" for name in read_by_settings()}
    missing.update({name: ", ".join(sorted(files)) for name, files in read_by_code().items()})
    missing = {n: where for n, where in missing.items() if n not in README_HUB | README_SCRIPTS}
    assert not missing, f"read but not in README's Configuration tables: {missing}"


def test_every_variable_the_readme_documents_is_read():
    read = read_by_settings() | set(read_by_code())
    assert not README_HUB - read, (
        f"README documents settings nothing reads: {sorted(README_HUB - read)}")


def test_every_variable_the_scripts_take_is_documented():
    taken = set(SHELL_DEFAULT.findall(script_text()))
    assert not taken - README_HUB - README_SCRIPTS, (
        f"scripts/Procfile/compose take undocumented variables: "
        f"{sorted(taken - README_HUB - README_SCRIPTS)}")


def test_every_script_variable_the_readme_documents_is_used():
    used = set(SHELL_USE.findall(script_text())) | set(read_by_code())
    assert not README_SCRIPTS - used, (
        f"README documents script variables nothing uses: {sorted(README_SCRIPTS - used)}")


def test_the_proxy_and_log_settings_are_documented_as_the_hub_reads_them():
    assert {"TRUSTED_PROXY_COUNT", "LOG_FORMAT", "LOG_LEVEL"} <= README_HUB & read_by_settings()
    assert {"WEB_PORT", "WEB_CONCURRENCY", "CELERY_CONCURRENCY"} <= README_SCRIPTS


# --- the parsers find what they must (so the comparison cannot pass by finding nothing) ----

def test_the_ast_walk_finds_every_way_of_reading_the_environment():
    source = '''
import os
A = env("ONE", default="")
B = env.int("TWO", default=1) + env.bool("THREE") + env.float("FOUR") + env.list("FIVE")
C = env.db("SIX", default="sqlite://")
if "SEVEN" in os.environ:
    D = os.environ["EIGHT"] + os.environ.get("NINE", "") + os.getenv("TEN")
os.environ.setdefault("NOT_A_READ", "x")
os.environ["NOT_A_READ_EITHER"] = "y"
environ.Env.read_env(BASE_DIR / ".env")
settings.get("NOT_THE_ENVIRONMENT")
'''
    assert env_reads(source, env_object="env") == {
        "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE", "TEN"}
    # Without django-environ's object only the os.environ reads count.
    assert env_reads(source) == {"SEVEN", "EIGHT", "NINE", "TEN"}


def test_the_readme_parser_reads_tables_lists_and_the_scripts_part():
    readme = """
## Configuration

| variable | default | meaning |
| --- | --- | --- |
| `ALPHA` | `1` | see `NOT_THIS_ONE` |
| `BETA`, `GAMMA` | | |

Also read: `DELTA`, `EPSILON`; and by the scripts and Procfile: `ZETA`.

### Read by the scripts

| variable | default | meaning |
| --- | --- | --- |
| `ETA` | | uses `ALPHA` |

## Roles

| `THETA` | |
"""
    assert documented(readme) == ({"ALPHA", "BETA", "GAMMA", "DELTA", "EPSILON"},
                                  {"ZETA", "ETA"})


def test_the_real_readme_and_code_are_parsed_not_empty():
    assert len(README_HUB) > 20 and len(read_by_settings()) > 20
    assert {"DATABASE_URL", "SECRET_KEY", "DEBUG"} <= read_by_settings()
    # Read outside settings.py, by the code that needs it.
    assert "orderhub/crypto.py" in read_by_code()["CHANNEL_CREDENTIALS_KEY"]
    assert "PORT" in read_by_code()
