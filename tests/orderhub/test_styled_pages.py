"""/channels/, /warehouse/picklists/ and the CSV upload preview use the pages' table styling."""

# ruff: noqa: F811
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.channels.test_csv import BROKEN, GOOD, HEADER, csv_channel  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
VOID = {"input", "br", "img", "meta", "link", "hr", "source", "col", "area", "base", "wbr"}


class _Tables(HTMLParser):
    """Each <table>'s classes and its parent element's classes."""

    def __init__(self):
        super().__init__()
        self.stack, self.tables = [], []

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        if tag == "table":
            parent = self.stack[-1][1] if self.stack else set()
            self.tables.append((classes, parent))
        if tag not in VOID:
            self.stack.append((tag, classes))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


def _assert_styled(html: str, expected_tables: int):
    parser = _Tables()
    parser.feed(html)
    assert len(parser.tables) == expected_tables, parser.tables
    for classes, parent in parser.tables:
        assert "table" in classes, classes  # the shared table style
        assert "table-wrap" in parent, parent  # framed and scrollable like the order list
    assert "empty-state" not in html.split("<main", 1)[1]


def test_channel_health_page(client, make_user, csv_channel):
    client.force_login(make_user("manager"))
    html = client.get("/channels/").content.decode()
    assert csv_channel.name in html
    _assert_styled(html, 1)


def test_sync_problems_page(client, make_user, csv_channel):
    client.force_login(make_user("manager"))
    _assert_styled(client.get(reverse("channels:problems")).content.decode(), 1)


def test_picklists_page(client, make_user, make_order):
    client.force_login(make_user("ops"))
    html = client.get("/warehouse/picklists/").content.decode()
    _assert_styled(html, 2)
    assert 'class="filters"><div class="filter-row">' in html
    # the order list's phone-card layout (.table.orders) is not borrowed by pick lists
    assert "table orders" not in html


def test_upload_preview(client, make_user, csv_channel, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    client.force_login(make_user("ops"))
    url = reverse("channels:upload", args=[csv_channel.pk])
    upload = SimpleUploadedFile("export.csv", (HEADER + GOOD + BROKEN).encode("gbk"))
    html = client.post(url, {"file": upload}).content.decode()
    assert "3 orders found" in html
    _assert_styled(html, 1)
    assert 'class="filter-row upload-confirm"' in html
