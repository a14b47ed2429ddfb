"""Languages: the Chinese catalogue is complete and the pages speak it."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation

PO_FILE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
# The project's catalogue and every app's own (reporting, the fulfillment parts).
ALL_PO_FILES = sorted(
    path for path in Path(settings.BASE_DIR).glob("**/locale/zh_Hans/LC_MESSAGES/django.po")
    if not {".venv", "var", "node_modules"} & set(path.parts)
)
each_catalogue = pytest.mark.parametrize(
    "po_file", ALL_PO_FILES, ids=lambda p: str(p.relative_to(settings.BASE_DIR).parts[0:2]))


def test_every_app_with_strings_has_a_catalogue():
    assert PO_FILE in ALL_PO_FILES
    assert len(ALL_PO_FILES) >= 6


@each_catalogue
def test_every_msgid_has_a_chinese_translation_and_none_is_fuzzy(po_file):
    po = polib.pofile(str(po_file))
    assert len(po) > 10
    untranslated = [e.msgid for e in po if not e.translated() and not e.obsolete]
    fuzzy = [e.msgid for e in po if "fuzzy" in e.flags]
    assert untranslated == []
    assert fuzzy == []
    assert not po.metadata_is_fuzzy
    for entry in po:
        if entry.msgid_plural:
            assert all(v.strip() for v in entry.msgstr_plural.values()), entry.msgid
        else:
            assert entry.msgstr.strip(), entry.msgid


@each_catalogue
def test_translations_keep_every_placeholder(po_file):
    placeholder = re.compile(r"%\((\w+)\)[-+ #0]*\d*[sdif]")
    broken = []
    for entry in polib.pofile(str(po_file)):
        wanted = sorted(placeholder.findall(entry.msgid))
        targets = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        if any(sorted(placeholder.findall(t)) != wanted for t in targets):
            broken.append(entry.msgid)
    assert broken == []


@each_catalogue
def test_compiled_catalogue_is_there_and_current(po_file):
    mo = po_file.with_suffix(".mo")
    assert mo.exists(), "run manage.py compilemessages"
    compiled = {(e.msgctxt, e.msgid): e.msgstr for e in polib.mofile(str(mo)) if e.msgid}
    source = {(e.msgctxt, e.msgid): e.msgstr for e in polib.pofile(str(po_file))
              if not e.msgid_plural}
    stale = [key for key, text in source.items() if compiled.get(key) != text]
    assert stale == [], "django.mo is older than django.po: run compilemessages"


def test_status_labels_and_service_errors_translate():
    with translation.override("zh-hans"):
        from orderhub.models import OrderStatus

        assert str(OrderStatus.ON_HOLD.label) == "已挂起"
        assert translation.gettext("You are not allowed to do that.") == "您无权执行此操作。"


@pytest.mark.django_db
def test_accept_language_zh_cn_renders_chinese(client, make_user, make_order):
    make_order("paid")
    client.force_login(make_user("ops"))
    html = client.get("/orders/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in html
    assert "订单" in html and "已付款" in html and "搜索" in html
    english = client.get("/orders/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Search" in english and "搜索" not in english


@pytest.mark.django_db
def test_language_switcher_posts_to_set_language(client, make_user):
    client.force_login(make_user("ops"))
    page = client.get("/orders/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'action="/i18n/setlang/"' in page and 'value="zh-hans"' in page
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/orders/"},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response["Location"] == "/orders/"
    # The choice sticks (cookie) even though the browser still asks for English.
    html = client.get("/orders/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "订单" in html and '<html lang="zh-hans">' in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/orders/"})
    assert "搜索" not in client.get("/orders/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()


@pytest.mark.django_db
def test_login_page_is_translated(client):
    html = client.get("/login/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "登录" in html and "密码" in html
