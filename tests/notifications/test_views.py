"""The message log page: permission, filters, masking, resend; the order panel."""

import pytest
from django.urls import reverse

from fulfillment.notifications.models import Message
from fulfillment.notifications.services import message_enqueue

pytestmark = pytest.mark.django_db


@pytest.fixture
def sms(aliyun, make_order, enqueued):
    order = make_order()
    message, _ = message_enqueue(kind=Message.Kind.SMS, event="shipped", gateway=aliyun,
                                 recipient="+8613812345678", body="您的订单已发货",
                                 dedupe_key="k1", actor="system:test", order=order)
    return message


def _client(client, user):
    client.force_login(user)
    return client


def test_log_needs_login_and_permission(client, make_user, sms):
    url = reverse("notifications:log")
    assert url == "/messages/"
    assert client.get(url).status_code == 302
    assert _client(client, make_user("picker")).get(url).status_code == 403


def test_log_masks_phones_for_ops(client, make_user, sms):
    response = _client(client, make_user("ops")).get("/messages/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "138****5678" in html and "13812345678" not in html
    assert "您的订单已发货" in html


def test_log_shows_full_phone_to_managers(client, make_user, sms):
    html = _client(client, make_user("manager")).get("/messages/").content.decode()
    assert "+8613812345678" in html


def test_detail_masks_too(client, make_user, sms):
    html = _client(client, make_user("ops")).get(
        reverse("notifications:detail", args=[sms.pk])).content.decode()
    assert "138****5678" in html and "13812345678" not in html


def test_log_filters(client, make_user, sms, wecom):
    team, _ = message_enqueue(kind=Message.Kind.TEAM, event="stock_low", gateway=wecom,
                              recipient="", body="库存低 CUP-1", dedupe_key="k2",
                              actor="system:test")
    Message.objects.filter(pk=team.pk).update(status=Message.Status.FAILED)
    c = _client(client, make_user("ops"))
    assert "CUP-1" in c.get("/messages/?status=failed").content.decode()
    html = c.get("/messages/?status=queued").content.decode()
    assert "CUP-1" not in html and "已发货" in html
    assert "CUP-1" not in c.get("/messages/?kind=sms").content.decode()
    assert "已发货" not in c.get("/messages/?event=stock_low").content.decode()
    assert "已发货" in c.get(f"/messages/?order={sms.order.number}").content.decode()
    partial = c.get("/messages/?kind=team", HTTP_HX_REQUEST="true").content.decode()
    assert "CUP-1" in partial and "<html" not in partial


def test_resend_from_the_log(client, make_user, sms, enqueued,
                             django_capture_on_commit_callbacks):
    Message.objects.filter(pk=sms.pk).update(status=Message.Status.FAILED, attempts=6,
                                             last_error="isv.MOBILE_NUMBER_ILLEGAL")
    c = _client(client, make_user("ops"))
    assert "Resend" in c.get("/messages/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = c.post(reverse("notifications:resend", args=[sms.pk]),
                          HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    sms.refresh_from_db()
    assert sms.status == Message.Status.QUEUED and sms.attempts == 0
    assert enqueued[-1] == sms.pk
    assert 'data-status="queued"' in response.content.decode()


def test_resend_refused_without_permission(client, make_user, sms):
    Message.objects.filter(pk=sms.pk).update(status=Message.Status.FAILED)
    finance = make_user("finance")
    finance.user_permissions.add(
        __import__("django.contrib.auth.models", fromlist=["Permission"]).Permission.objects.get(
            codename="view_message"))
    c = _client(client, finance)
    assert "Resend" not in c.get("/messages/").content.decode()
    assert c.post(reverse("notifications:resend", args=[sms.pk])).status_code == 403
    sms.refresh_from_db()
    assert sms.status == Message.Status.FAILED


def test_resend_of_waiting_message_says_why(client, make_user, sms):
    response = _client(client, make_user("ops")).post(
        reverse("notifications:resend", args=[sms.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "already waiting" in response.content.decode()


def test_order_panel_lists_messages_masked(client, make_user, sms, django_assert_max_num_queries):
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = make_user("ops")
    request.user.has_perm("x")  # load the permission cache outside the count
    with django_assert_max_num_queries(2):
        html = render_to_string("notifications/order_panel.html",
                                {"order": sms.order, "request": request})
    assert "138****5678" in html and "notifications-panel" in html
    request.user = make_user("picker")
    html = render_to_string("notifications/order_panel.html",
                            {"order": sms.order, "request": request})
    assert html.strip() == ""


def test_order_page_shows_the_panel(client, make_user, sms):
    html = _client(client, make_user("ops")).get(
        reverse("orders:detail", args=[sms.order_id])).content.decode()
    assert 'id="notifications-panel"' in html


def test_message_log_queries_do_not_grow(client, make_user, make_order,
                                         django_assert_max_num_queries):
    from fulfillment.notifications.models import Gateway
    from fulfillment.notifications.services import message_enqueue

    gateway = Gateway.objects.create(name="g", kind="wecom")
    for n in range(12):
        message_enqueue(kind="sms", event="shipped", gateway=gateway, recipient="13800138000",
                        body="x", dedupe_key=f"k{n}", actor="system:test", order=make_order())
    c = _client(client, make_user("ops"))
    c.get("/messages/")
    with django_assert_max_num_queries(8):
        c.get("/messages/")
