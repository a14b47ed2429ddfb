"""Warehouse pages use the one staff guard: HTMX-aware login, permission, 403."""

import pytest
from django.urls import reverse

PAGES = ["warehouse-stock", "warehouse-dashboard", "scan", "pack"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_an_expired_session_on_htmx_redirects_the_whole_page(client, name):
    url = reverse(name)
    response = client.get(url, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == f"{reverse('login')}?next={url}"
    plain = client.get(url)
    assert plain.status_code == 302 and plain["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_a_role_without_the_permission_is_refused(client, make_user):
    client.force_login(make_user("finance"))
    assert client.get(reverse("warehouse-dashboard")).status_code == 403
    assert client.get(reverse("scan")).status_code == 403
    client.force_login(make_user("picker"))
    assert client.get(reverse("scan")).status_code == 200
