"""The shared connector helpers: names as their owners write them, gift markers."""

from decimal import Decimal

import pytest

from channels.connectors.base import is_gift_line, person_name


@pytest.mark.parametrize(("first", "last", "expected"), [
    ("伟", "王", "王伟"),            # Chinese: family name first, no space
    ("太郎", "山田", "山田太郎"),      # Japanese
    ("민준", "김", "김민준"),          # Korean
    ("Jane", "Doe", "Jane Doe"),
    ("", "Doe", "Doe"),
    (None, "王", "王"),
])
def test_person_name(first, last, expected):
    assert person_name(first, last) == expected


@pytest.mark.parametrize(("name", "gift"), [
    ("【赠品】保温杯杯套", True),
    ("买一赠送小样", True),
    ("Free gift: tote bag", True),
    ("Sample [GIFT]", True),
    ("礼品盒 (gift box, sold)", False),
    ("Gift card sleeve", False),
    ("保温杯", False),
])
def test_gift_markers(name, gift):
    assert is_gift_line(name, Decimal("1.00")) is gift


def test_a_channels_own_keyword_counts():
    assert is_gift_line("加购礼 袜子", Decimal("0"), keywords=("加购礼",))
