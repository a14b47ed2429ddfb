"""Login throttling (django-axes) on the staff login and the admin's: a username tried with
wrong passwords from one address is refused for a cool-off, even with the right password."""

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from tests.conftest import PASSWORD

LOGINS = ["/login/", "/admin/login/"]


@pytest.fixture
def staff(make_user):
    # Staff and superuser so the admin's login accepts them too.
    return make_user("admin", username="alice", is_staff=True, is_superuser=True)


def post_login(client, url, username, password, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def hammer(client, url, username, times, **extra):
    for _ in range(times):
        post_login(client, url, username, "wrong-password", **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", LOGINS)
def test_thirty_wrong_passwords_then_the_right_one_is_refused(client, staff, url, settings):
    # given: the attacker's 30 guesses
    hammer(client, url, staff.username, 30)

    # when: the right password comes next
    response = post_login(client, url, staff.username, PASSWORD)

    # then: refused with 429 and a page that says why and for how long
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed logins" in html
    assert f"for {settings.AXES_COOLOFF_MINUTES} minutes" in html
    assert not logged_in(client)
    assert client.get("/orders/").status_code == 302  # still sent to the login page
    # The counter stopped at the limit: tries during the lockout do not extend it.
    attempt = AccessAttempt.objects.get(username=staff.username)
    assert attempt.failures_since_start == settings.AXES_FAILURE_LIMIT
    # What axes keeps of the tries shows no password.
    assert "wrong-password" not in attempt.post_data and "password=****" in attempt.post_data


def test_the_lockout_starts_exactly_at_the_failure_limit(client, staff, settings):
    hammer(client, "/login/", staff.username, settings.AXES_FAILURE_LIMIT - 1)
    # One wrong password short of the limit: the right one still works (and resets the count).
    assert post_login(client, "/login/", staff.username, PASSWORD).status_code == 302
    client.post("/logout/")
    hammer(client, "/login/", staff.username, settings.AXES_FAILURE_LIMIT - 1)
    response = post_login(client, "/login/", staff.username, "wrong-password")
    assert response.status_code == 429


@pytest.mark.parametrize("url", LOGINS)
def test_the_lockout_page_speaks_chinese(client, staff, url):
    hammer(client, url, staff.username, 30, HTTP_ACCEPT_LANGUAGE="zh-CN")
    response = post_login(client, url, staff.username, PASSWORD, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.status_code == 429
    html = response.content.decode()
    assert "登录失败次数过多" in html
    assert "分钟内不能从您的网络登录" in html
    assert "Too many failed logins" not in html


def test_the_cool_off_lets_the_user_in_again(client, staff, settings):
    start = timezone.now()
    with freeze_time(start):
        hammer(client, "/login/", staff.username, 30)
    cool_off = timedelta(minutes=settings.AXES_COOLOFF_MINUTES)
    with freeze_time(start + cool_off - timedelta(minutes=1)):
        assert post_login(client, "/login/", staff.username, PASSWORD).status_code == 429
    with freeze_time(start + cool_off + timedelta(minutes=1)):
        response = post_login(client, "/login/", staff.username, PASSWORD)
        assert response.status_code == 302
        assert logged_in(client)


def test_a_lockout_holds_only_that_username_from_that_address(staff, make_user):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    hammer(attacker, "/login/", staff.username, 30)
    assert post_login(attacker, "/login/", staff.username, PASSWORD).status_code == 429

    # The real user at the office logs in: the attacker cannot lock them out from everywhere.
    office = Client(REMOTE_ADDR="198.51.100.20")
    assert post_login(office, "/login/", staff.username, PASSWORD).status_code == 302
    # A colleague behind the attacker's address is not locked out either.
    colleague = make_user("ops", username="bob")
    assert post_login(attacker, "/login/", colleague.username, PASSWORD).status_code == 302


def test_each_refused_login_is_logged_once(client, staff, settings, caplog):
    hammer(client, "/login/", staff.username, settings.AXES_FAILURE_LIMIT)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        post_login(client, "/login/", staff.username, PASSWORD)
        post_login(client, "/admin/login/", staff.username, PASSWORD)
    refused = [r for r in caplog.records if r.name == "orderhub.security"]
    assert len(refused) == 2
    assert "alice" in refused[0].getMessage() and "/login/" in refused[0].getMessage()
    assert "/admin/login/" in refused[1].getMessage()
    assert PASSWORD not in caplog.text


def test_an_admin_unlocks_the_account(client, staff, make_user):
    hammer(client, "/login/", staff.username, 30)
    assert post_login(client, "/login/", staff.username, PASSWORD).status_code == 429

    admin = Client(REMOTE_ADDR="198.51.100.20")
    admin.force_login(make_user("admin", username="root", is_staff=True, is_superuser=True))
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and staff.username in listing.content.decode()
    attempt = AccessAttempt.objects.get(username=staff.username)
    response = admin.post("/admin/axes/accessattempt/", {
        "action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()

    assert post_login(client, "/login/", staff.username, PASSWORD).status_code == 302


def test_a_wrong_password_below_the_limit_gets_the_usual_form_error(client, staff):
    response = post_login(client, "/login/", staff.username, "wrong-password")
    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_limit_and_cool_off_come_from_the_environment(fresh_settings):
    settings = fresh_settings({"AXES_FAILURE_LIMIT": "8", "AXES_COOLOFF_MINUTES": "45"})
    assert settings.AXES_FAILURE_LIMIT == 8
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=45)
    defaults = fresh_settings({})
    assert (defaults.AXES_FAILURE_LIMIT, defaults.AXES_COOLOFF_TIME) == (5, timedelta(minutes=15))


def test_behind_the_proxy_the_lockout_is_per_client_not_per_proxy(client, staff, settings):
    # given: one nginx in front; every request's socket address is the proxy's
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    attacker = {**proxy, "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    colleague = {**proxy, "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    hammer(client, "/login/", staff.username, 30, **attacker)

    # then: the attacker's address is locked out, and a made-up leftmost entry gets no fresh tries
    assert post_login(client, "/login/", staff.username, PASSWORD, **attacker).status_code == 429
    forged = {**proxy, "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.9"}
    assert post_login(client, "/login/", staff.username, PASSWORD, **forged).status_code == 429
    # and the real user behind the same proxy still logs in
    assert post_login(Client(), "/login/", staff.username, PASSWORD, **colleague).status_code == 302
