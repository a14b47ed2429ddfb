"""The change requests' own catalogue is complete, compiled, and the pages speak Chinese."""

import re
from pathlib import Path

import polib
import pytest
from django.urls import reverse

import fulfillment.changes

PO_FILE = (Path(fulfillment.changes.__file__).parent / "locale" / "zh_Hans" / "LC_MESSAGES"
           / "django.po")
PLACEHOLDER = re.compile(r"%\((\w+)\)[-+ #0]*\d*[sdif]")


def test_catalogue_complete_placeholders_kept_and_compiled():
    po = polib.pofile(str(PO_FILE))
    assert len(po) > 100
    assert [e.msgid for e in po if not e.translated() or "fuzzy" in e.flags] == []
    assert [e.msgid for e in po
            if sorted(PLACEHOLDER.findall(e.msgid)) != sorted(PLACEHOLDER.findall(e.msgstr))
            ] == []
    compiled = {e.msgid: e.msgstr for e in polib.mofile(str(PO_FILE.with_suffix(".mo")))
                if e.msgid}
    assert [e.msgid for e in po if compiled.get(e.msgid) != e.msgstr] == []


@pytest.mark.django_db
def test_detail_page_in_chinese(client, order_on_pick_list, users):
    from fulfillment.changes.services import change_request_create

    order, _ = order_on_pick_list("picking")
    change = change_request_create(order=order, actor=users["ops"], reason="r",
                                   proposed={"fields": {"ship_city": "苏州市"}})
    client.force_login(users["sales_manager"])
    html = client.get(reverse("changes:detail", args=[change.pk]),
                      HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "申请的变更" in html
    assert "销售经理" in html  # the default chain's step name, translated when shown
