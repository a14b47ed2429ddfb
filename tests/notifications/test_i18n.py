"""The notifications and tickets catalogues are complete, and the pages speak Chinese."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings

APPS = ["notifications", "tickets"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[-+ #0]*\d*[sdif]")


def _po(app: str) -> Path:
    return (Path(settings.BASE_DIR) / "fulfillment" / app / "locale" / "zh_Hans" / "LC_MESSAGES"
            / "django.po")


@pytest.mark.parametrize("app", APPS)
def test_catalogue_complete_current_and_placeholders_kept(app):
    po = polib.pofile(str(_po(app)))
    assert len(po) > 50
    assert [e.msgid for e in po if not e.msgstr.strip() or "fuzzy" in e.flags] == []
    assert [e.msgid for e in po
            if sorted(PLACEHOLDER.findall(e.msgid)) != sorted(PLACEHOLDER.findall(e.msgstr))] == []
    compiled = {(e.msgctxt, e.msgid): e.msgstr for e in polib.mofile(str(_po(app).with_suffix(
        ".mo"))) if e.msgid}
    assert [e.msgid for e in po if compiled.get((e.msgctxt, e.msgid)) != e.msgstr] == []


@pytest.mark.django_db
def test_pages_in_chinese(client, make_user):
    from fulfillment.tickets.services import ticket_open

    ticket_open(kind="complaint", title="x", actor="system:test")
    client.force_login(make_user("manager"))
    html = client.get("/tickets/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "指派给我" in html and "投诉" in html
    html = client.get("/messages/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "没有符合条件的消息" in html
