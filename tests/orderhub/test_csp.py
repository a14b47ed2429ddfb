"""Content-Security-Policy (django-csp) on every kind of page, the other security headers kept,
and templates free of what the policy refuses (inline scripts, handlers, styles, eval)."""

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
# PDFs are drawn by WeasyPrint on the server; no browser applies the policy to them.
SERVER_ONLY = re.compile(r"_pdf\.html$")


def directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def assert_strict(header: str):
    policy = directives(header)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    # Style attributes: only django-simple-history's ``border-top: 0``, by its hash.
    assert policy["style-src-attr"] == [
        "'unsafe-hashes'", "'sha256-XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM='"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert {"'self'", "data:", "blob:"} <= set(policy["img-src"])
    assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header


@pytest.mark.parametrize("url", ["/orders/", "/dashboard/", "/scan/", "/scan/pack/",
                                 "/dashboard/wall/", "/review/"])
def test_staff_pages_carry_the_policy(admin_client_csp, url):
    response = admin_client_csp.get(url)
    assert response.status_code == 200
    assert_strict(response["Content-Security-Policy"])


@pytest.mark.parametrize("url", ["/track/", "/login/", "/admin/login/"])
def test_public_pages_carry_the_policy(client, url):
    response = client.get(url)
    assert response.status_code == 200
    assert_strict(response["Content-Security-Policy"])


def test_the_admin_carries_the_policy(admin_client_csp):
    for url in ("/admin/", "/admin/orderhub/order/", "/admin/axes/accessattempt/"):
        response = admin_client_csp.get(url)
        assert response.status_code == 200, url
        assert_strict(response["Content-Security-Policy"])


def test_refusals_carry_the_policy_too(client, make_user):
    user = make_user("ops")
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": user.username, "password": "nope"})
    locked = client.post("/login/", {"username": user.username, "password": "nope"})
    assert locked.status_code == 429
    assert_strict(locked["Content-Security-Policy"])
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert_strict(missing["Content-Security-Policy"])


def test_pdfs_go_without_the_policy_so_chrome_can_show_them(rf):
    # Chrome's PDF viewer breaks under a page policy (inline styles, <embed>): blank labels.
    from django.http import HttpResponse

    from orderhub.security import ContentSecurityPolicyMiddleware

    def answer(content_type):
        middleware = ContentSecurityPolicyMiddleware(
            lambda request: HttpResponse(b"x", content_type=content_type))
        return middleware(rf.get("/warehouse/orders/1/seal.pdf"))

    assert "Content-Security-Policy" not in answer("application/pdf")
    assert_strict(answer("text/html; charset=utf-8")["Content-Security-Policy"])


def test_other_security_headers_are_kept(client):
    response = client.get("/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.fixture
def admin_client_csp(make_user):
    client = Client()
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    return client


def test_report_only_is_an_environment_switch(fresh_settings):
    enforced = fresh_settings({})
    assert enforced.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"] == ["'self'"]
    assert not hasattr(enforced, "CONTENT_SECURITY_POLICY_REPORT_ONLY")
    trial = fresh_settings({"CSP_REPORT_ONLY": "1"})
    assert trial.CONTENT_SECURITY_POLICY_REPORT_ONLY["DIRECTIVES"]["script-src"] == ["'self'"]
    assert not hasattr(trial, "CONTENT_SECURITY_POLICY")


def test_report_only_sends_the_report_only_header(client, settings):
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = settings.CONTENT_SECURITY_POLICY
    settings.CONTENT_SECURITY_POLICY = None
    response = client.get("/track/")
    assert "Content-Security-Policy" not in response
    assert_strict(response["Content-Security-Policy-Report-Only"])


# --- templates: nothing the policy would refuse -----------------------------------------------


def browser_templates():
    found = []
    for path in ROOT.glob("**/templates/**/*.html"):
        rel = path.relative_to(ROOT)
        skipped = rel.parts[0] in {"var", ".venv", "node_modules", "tests"}
        if skipped or SERVER_ONLY.search(path.name):
            continue
        found.append(rel)
    assert len(found) > 50  # the scan found the project's templates
    return sorted(found)


REFUSED = {
    "inline <script>": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I),
    "on* handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.I),
    "<style> element": re.compile(r"<style[\s>]", re.I),
    "hx-on": re.compile(r"\shx-on", re.I),
    "htmx trigger filter (eval)": re.compile(r"hx-trigger=\"[^\"]*\[", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def test_templates_hold_nothing_the_policy_refuses():
    problems = []
    for rel in browser_templates():
        text = (ROOT / rel).read_text(encoding="utf-8")
        for what, pattern in REFUSED.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{rel}:{line}: {what}")
    assert problems == []


def test_the_scan_would_catch_an_inline_script():
    sample = '<script>alert(1)</script><button onclick="x()" style="color:red">'
    hits = {what for what, pattern in REFUSED.items() if pattern.search(sample)}
    assert hits == {"inline <script>", "on* handler", "style attribute"}
    assert not REFUSED["inline <script>"].search('<script src="/static/js/app.js" defer>')


def test_template_comments_stay_hidden():
    # A {# #} comment spans one line only; a longer one is printed on the page.
    problems = [f"{rel}:{n}" for rel in browser_templates()
                for n, line in enumerate((ROOT / rel).read_text(encoding="utf-8").splitlines(), 1)
                if "{#" in line and "#}" not in line.split("{#", 1)[1]]
    assert problems == []
