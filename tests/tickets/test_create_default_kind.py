"""A ticket opened from an order starts on the general kind, not "Picking problem"."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _selected_kind(html: str) -> str:
    select = re.search(r'<select name="kind".*?</select>', html, re.S).group(0)
    chosen = re.findall(r'<option value="([^"]+)"[^>]*selected', select)
    assert len(chosen) == 1, select
    return chosen[0]


def test_from_an_order_the_kind_defaults_to_other(client, make_user, make_order):
    order = make_order()
    client.force_login(make_user("ops"))
    html = client.get(f"{reverse('tickets:create')}?order={order.pk}").content.decode()
    assert _selected_kind(html) == "other"


def test_a_link_may_name_the_kind_and_a_bad_one_is_ignored(client, make_user, make_order):
    order = make_order()
    client.force_login(make_user("ops"))
    url = reverse("tickets:create")
    assert _selected_kind(client.get(f"{url}?order={order.pk}&kind=complaint")
                          .content.decode()) == "complaint"
    assert _selected_kind(client.get(f"{url}?order={order.pk}&kind=nonsense")
                          .content.decode()) == "other"
