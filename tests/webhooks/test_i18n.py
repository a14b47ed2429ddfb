"""The webhooks catalogue is complete and current; pause reasons and the admin speak Chinese."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from webhooks.models import EventType

PO = Path(settings.BASE_DIR) / "webhooks" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[-+ #0]*\d*[sdif]")


def test_catalogue_complete_current_and_placeholders_kept():
    po = polib.pofile(str(PO))
    assert len(po) > 50
    assert not po.metadata_is_fuzzy
    assert [e.msgid for e in po if not e.msgstr.strip() or "fuzzy" in e.flags] == []
    assert [e.msgid for e in po
            if sorted(PLACEHOLDER.findall(e.msgid)) != sorted(PLACEHOLDER.findall(e.msgstr))] == []
    compiled = {(e.msgctxt, e.msgid): e.msgstr for e in polib.mofile(str(PO.with_suffix(".mo")))
                if e.msgid}
    assert [e.msgid for e in po if compiled.get((e.msgctxt, e.msgid)) != e.msgstr] == []


def test_event_names_and_errors_translate():
    with translation.override("zh-hans"):
        assert str(EventType.ORDER_PAID.label) == "订单已付款"
        assert translation.gettext("The receiver answered 410 Gone.") == "接收方返回 410 Gone。"


@pytest.mark.django_db
def test_admin_in_chinese(client, make_user):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    html = client.get(reverse("admin:webhooks_subscription_add"),
                      HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "包含买家联系信息" in html and "订单已发货" in html
