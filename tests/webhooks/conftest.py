import pytest

from webhooks import services
from webhooks.models import EventType, Subscription

SECRET = "whsec_test-secret-0123456789abcdef"
URL = "https://hooks.example.com/orderhub"


@pytest.fixture(autouse=True)
def public_dns(monkeypatch):
    """Host names resolve to a public address (no DNS in tests); tests of the SSRF
    guard replace this with their own answers."""
    monkeypatch.setattr(services, "resolve", lambda host, port: ["93.184.216.34"])


@pytest.fixture
def queued(monkeypatch):
    """Task names and ids handed to the broker (nothing runs)."""
    sent = []

    def fake_enqueue(name, *args, **options):
        sent.append((name, *args))
        return True

    monkeypatch.setattr(services, "enqueue", fake_enqueue)
    return sent


@pytest.fixture
def make_subscription(db):
    def make(events=tuple(EventType.values), *, url=URL, secret=SECRET, **fields):
        subscription = Subscription(name=fields.pop("name", "ERP"), url=url, events=list(events),
                                    **fields)
        subscription.secret = secret
        subscription.save()
        return subscription
    return make
