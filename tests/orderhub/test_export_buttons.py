"""The order list's export links (server side), where each role lands, and the root favicon."""

import pytest

LIST = "/orders/"


@pytest.mark.django_db
def test_export_links_carry_the_list_filters_but_not_the_page(client, make_user, make_order):
    make_order("paid")
    client.force_login(make_user("ops"))
    html = client.get(LIST, {"status": "paid", "q": "张", "page": "1"}).content.decode()
    assert 'href="/reports/export/orders.csv?q=%E5%BC%A0&amp;status=paid"' in html
    assert 'href="/reports/export/orders.xlsx?background=1&amp;q=%E5%BC%A0&amp;status=paid"' in html


@pytest.mark.django_db
def test_no_export_links_without_the_export_permission(client, make_user):
    # a reader of the list who may not export (pickers no longer see the list at all)
    from django.contrib.auth.models import Permission

    reader = make_user()
    reader.user_permissions.add(Permission.objects.get(codename="view_order",
                                                       content_type__app_label="orderhub"))
    assert not reader.has_perm("reporting.export_orders")
    client.force_login(reader)
    response = client.get(LIST)
    assert response.status_code == 200
    assert 'id="export-csv"' not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "landing"), [
    ("picker", "/scan/"), ("ops", LIST), ("manager", LIST), ("finance", LIST),
])
def test_login_lands_each_role_on_its_page(client, make_user, role, landing):
    user = make_user(role)
    response = client.post("/login/", {"username": user.username, "password": "pw-Secret-123"})
    assert response.status_code == 302 and response["Location"] == landing
    assert client.get("/")["Location"] == landing


@pytest.mark.django_db
def test_login_still_follows_next(client, make_user):
    user = make_user("picker")
    response = client.post("/login/?next=/scan/pack/",
                           {"username": user.username, "password": "pw-Secret-123"})
    assert response["Location"] == "/scan/pack/"


def test_root_favicon_points_at_the_static_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.ico"
