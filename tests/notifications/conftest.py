import json
from pathlib import Path

import pytest

from fulfillment.notifications.models import Gateway

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "notifications"


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def enqueued(monkeypatch):
    """Message ids handed to the deliver task (the broker is not used in tests)."""
    from fulfillment.notifications import tasks

    ids = []
    monkeypatch.setattr(tasks.deliver_message, "delay", lambda message_id: ids.append(message_id))
    return ids


def _gateway(name, kind, endpoint, credentials, **extra):
    gateway = Gateway(name=name, kind=kind, endpoint=endpoint, **extra)
    gateway.credentials = credentials
    gateway.save()
    return gateway


@pytest.fixture
def aliyun(db):
    return _gateway("aliyun", Gateway.Kind.ALIYUN_SMS, "https://dysmsapi.aliyuncs.com/",
                    {"access_key_id": "testId", "access_key_secret": "testSecret"},
                    for_buyers=True, config={"sign_name": "阿里云短信测试专用"})


@pytest.fixture
def wecom(db):
    return _gateway("wecom", Gateway.Kind.WECOM, "", {"key": "robot-key-123"})


@pytest.fixture
def dingtalk(db):
    return _gateway("dingtalk", Gateway.Kind.DINGTALK, "",
                    {"access_token": "ding-token", "secret": "SECtest"})


@pytest.fixture
def http_sms(db):
    return _gateway("http-sms", Gateway.Kind.HTTP_SMS, "https://sms.example.com/api/send",
                    {"auth_value": "Bearer s3cret-token"},
                    config={"method": "POST", "auth_header": "Authorization",
                            "body_template": '{"mobile": "{phone}", "content": "{text}", '
                                             '"meta": {"ref": "{reference}"}}',
                            "ok_field": "ok", "ok_value": "True", "id_field": "id"})


@pytest.fixture
def email_gateway(db):
    return _gateway("mail", Gateway.Kind.EMAIL, "", {}, config={"from_email": "hub@example.com"})
