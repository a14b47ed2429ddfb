"""``.ci/audit`` (pip-audit in CI): a real finding fails CI; a vulnerability service that
cannot be reached, or does not know the packages, only warns.

pip-audit itself is replaced by a stand-in that answers as pip-audit does in each case
(its JSON report and exit status), so the test needs no network.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE_PIP_AUDIT = """#!{python}
import json, os, sys
args = sys.argv[1:]
output = args[args.index("--output") + 1]
requirements = open(args[args.index("--requirement") + 1]).read().split()
with open(os.environ["FAKE_AUDIT_ARGS"], "w") as f:
    json.dump({{"args": args, "requirements": requirements}}, f)
mode = os.environ["FAKE_AUDIT_MODE"]
if mode == "unreachable":
    sys.stderr.write("requests.exceptions.ConnectionError: pypi.org unreachable\\n")
    sys.exit(1)
deps = [{{"name": "django", "version": "5.2.19", "vulns": []}},
        {{"name": "lxml", "version": "6.1.3", "vulns": []}}]
if mode == "finding":
    deps[0]["vulns"] = [{{"id": "PYSEC-2099-1", "fix_versions": ["5.2.20"],
                          "aliases": [], "description": "x"}}]
if mode == "unknown":
    deps = [{{"name": d["name"], "skip_reason": "Dependency not found on PyPI"}} for d in deps]
json.dump({{"dependencies": deps, "fixes": []}}, open(output, "w"))
sys.exit(1 if mode == "finding" else 0)
"""


@pytest.fixture
def fake_venv(tmp_path):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    # `python -m pip freeze` must list this test run's packages: the real interpreter.
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    fake = bin_dir / "pip-audit"
    fake.write_text(FAKE_PIP_AUDIT.format(python=sys.executable))
    for script in (python, fake):
        script.chmod(0o755)
    return tmp_path / "venv"


def _audit(fake_venv, tmp_path, mode):
    env = dict(os.environ, ORDERHUB_VENV=str(fake_venv), FAKE_AUDIT_MODE=mode,
               FAKE_AUDIT_ARGS=str(tmp_path / "args.json"), NO_COLOR="1")
    return subprocess.run(["bash", str(ROOT / ".ci" / "audit")], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_a_known_vulnerability_fails_and_names_the_fix(fake_venv, tmp_path):
    result = _audit(fake_venv, tmp_path, "finding")
    assert result.returncode == 1
    assert "django 5.2.19: PYSEC-2099-1 (fixed in: 5.2.20)" in result.stderr


def test_no_vulnerability_passes(fake_venv, tmp_path):
    import json

    result = _audit(fake_venv, tmp_path, "clean")
    assert result.returncode == 0, result.stderr
    assert "2 packages audited, no known vulnerabilities" in result.stdout
    # It audited the installed pins exactly, without resolving anything itself.
    call = json.loads((tmp_path / "args.json").read_text())
    assert "--no-deps" in call["args"] and "--disable-pip" in call["args"]
    assert any(line.lower().startswith("django==") for line in call["requirements"])
    assert not any(line.startswith(("-e", "pip==", "setuptools==")) or "orderhub" in line
                   for line in call["requirements"])


@pytest.mark.parametrize(("mode", "warning"), [
    ("unreachable", "could not reach its vulnerability service"),
    ("unknown", "NOTHING was audited"),
])
def test_an_unreachable_service_only_warns(fake_venv, tmp_path, mode, warning):
    result = _audit(fake_venv, tmp_path, mode)
    assert result.returncode == 0, result.stderr
    assert warning in result.stderr
    assert "no known vulnerabilities" not in result.stdout
