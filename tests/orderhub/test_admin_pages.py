"""Every admin page opens and saves: a superuser walks each registered ModelAdmin's
changelist, add and change pages, and saves each form unchanged as a browser would.

The data is the demo (``seed_demo``) plus one row of each model the demo leaves empty,
so no change page is skipped for want of an object.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html.parser import HTMLParser
from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone


class _FormReader(HTMLParser):
    """What a browser would submit from one ``<form id=...>``, untouched.

    Inputs, checked boxes, textareas and selected options (the first option of a
    single select when none is marked), skipping disabled fields, file inputs and
    buttons; the caller adds the submit button it presses.
    """

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.found = False
        self.inside = False
        self.data: list[tuple[str, str]] = []
        self._select: dict | None = None
        self._option: dict | None = None
        self._textarea: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.found = self.inside = True
            return
        if not self.inside or "disabled" in a:
            if tag == "select" and self.inside:
                self._select = {"name": None, "multiple": False, "options": []}
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.append((name, a.get("value", "on")))
                return
            self.data.append((name, a.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea = {"name": name, "text": ""}
        elif tag == "select":
            self._select = {"name": name, "multiple": "multiple" in a, "options": []}
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "text": "", "selected": "selected" in a}
            self._select["options"].append(self._option)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["text"] += data
        if self._option is not None:
            self._option["text"] += data

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "textarea" and self._textarea is not None:
            # A browser drops the one newline that may follow <textarea>.
            text = self._textarea["text"]
            self.data.append((self._textarea["name"], text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "option":
            self._option = None
        elif tag == "select" and self._select is not None:
            select, self._select = self._select, None
            if not select["name"]:
                return
            options = select["options"]
            chosen = [o for o in options if o["selected"]]
            if not chosen and options and not select["multiple"]:
                chosen = options[:1]
            for o in chosen:
                value = o["value"] if o["value"] is not None else o["text"].strip()
                self.data.append((select["name"], value))


def form_data(html: str, form_id: str) -> dict[str, list[str]]:
    reader = _FormReader(form_id)
    reader.feed(html)
    assert reader.found, f"no <form id={form_id!r}> on the page"
    data: dict[str, list[str]] = {}
    for name, value in reader.data:
        data.setdefault(name, []).append(value)
    return data


def _one_of_each_model_the_demo_leaves_empty():
    """The demo does not pick, pack, reconcile or export; one plain row of each."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    from api.models import ApiToken, WmsCallback
    from channels.models import Channel, DecryptAudit, GapAlert, LegacyOrder, RawPayload
    from fulfillment.models import CreditEntry, ReviewAction, Rule, ShadowResult
    from fulfillment.notifications.models import Gateway, Message
    from fulfillment.services.credit import credit_adjust
    from orderhub.models import Customer, Order
    from reporting.models import (
        ExportJob,
        ReconciliationDifference,
        ReconciliationRun,
        SpikeAlert,
        SpikeRule,
    )
    from warehouse.models import (
        SKU,
        KitComponent,
        PackCheck,
        PackScan,
        PickList,
        PickProblem,
        PickTask,
        PresaleDeferral,
        TransferRequest,
        Warehouse,
    )
    from webhooks.models import Delivery, Subscription

    user = get_user_model().objects.order_by("pk").first()
    channel = Channel.objects.order_by("pk").first()
    warehouse = Warehouse.objects.order_by("pk").first()
    order = Order.objects.order_by("pk").first()
    today = timezone.localdate()
    component = SKU.objects.filter(kind=SKU.Kind.SIMPLE).order_by("pk").first()
    kit = SKU.objects.filter(kind=SKU.Kind.KIT).order_by("pk").first() or SKU.objects.create(
        code="KIT-ADMIN", name="Admin walk kit", kind=SKU.Kind.KIT)
    models = {
        RawPayload: dict(channel=channel, source="poll", content_hash="0" * 64, body="{}"),
        GapAlert: dict(channel=channel, day=today, platform_count=3, hub_count=2),
        DecryptAudit: dict(channel=channel, order=order, field="name", actor=user,
                           purpose="order_page"),
        LegacyOrder: dict(channel=channel, legacy_id="L-1", placed_at=timezone.now(),
                          total=Decimal("10.00")),
        KitComponent: dict(kit=kit, component=component),
        PickList: dict(number="PL-ADMIN-1", warehouse=warehouse, kind="single",
                       created_by="system:test"),
        PickTask: dict(order=order, warehouse=warehouse, picker=user),
        PickProblem: dict(order=order, warehouse=warehouse, kind="damaged",
                          actor="system:test"),
        ReviewAction: dict(order=order, action="approve"),
        ShadowResult: dict(rule=Rule.objects.order_by("pk").first()
                           or Rule.objects.create(name="admin walk"),
                           order=order, matched=True),
        Message: dict(kind="sms", event="shipped", gateway=Gateway.objects.first(),
                      body="hello", dedupe_key="admin-walk"),
        SpikeAlert: dict(rule=SpikeRule.objects.first(), day=today, sku_code="SKU-1",
                         province="上海市", payment_success_percent=Decimal("90")),
        ExportJob: dict(kind="orders", format="csv", created_by=user),
        PresaleDeferral: dict(order=order, ship_date=today, source="sku",
                              release_at=timezone.now()),
        TransferRequest: dict(from_warehouse=warehouse, to_warehouse=warehouse),
        # The open API: a token (no secret: the hash is made up) and a WMS callback.
        ApiToken: dict(name="Admin walk ERP", user=user, prefix="adminwlk", key_hash="0" * 64),
        WmsCallback: dict(order=order, source_system="WMS: walk", event="shipped",
                          operator="walk", occurred_at=timezone.now(), package_count=1,
                          raw="{}", from_status="picked", to_status="shipped"),
        # Login throttling (django-axes): a failed try, a login, a failure log row.
        AccessAttempt: dict(username="ops", ip_address="203.0.113.9", user_agent="walk",
                            http_accept="*/*", path_info="/login/", get_data="",
                            post_data="", failures_since_start=1),
        AccessLog: dict(username="ops", ip_address="203.0.113.9", user_agent="walk",
                        http_accept="*/*", path_info="/login/"),
        AccessFailureLog: dict(username="ops", ip_address="203.0.113.9", user_agent="walk",
                               http_accept="*/*", path_info="/login/"),
        # The demo subscription's first delivery (outbound webhooks).
        Delivery: dict(subscription=Subscription.objects.order_by("pk").first(),
                       event="order.paid", order=order, body="{}"),
    }
    for model, fields in models.items():
        if not model._default_manager.exists():
            model._default_manager.create(**fields)
    if not CreditEntry.objects.exists():
        credit_adjust(customer_id=Customer.objects.order_by("pk").first().pk, amount="100.00",
                      actor="system:test", note="admin walk")
    if not PackCheck.objects.exists():
        check = PackCheck.objects.create(order=order, warehouse=warehouse, packer=user)
        PackScan.objects.create(key="admin-walk", pack_check=check, barcode="690000000001",
                                result="ok")
    if not ReconciliationRun.objects.exists():
        run = ReconciliationRun.objects.create(
            channel=channel, template="generic", period_from=today - dt.timedelta(days=7),
            period_to=today, file_name="settlement.csv")
        ReconciliationDifference.objects.create(
            run=run, kind=ReconciliationDifference._meta.get_field("kind").choices[0][0],
            external_id="EXT-1", order=order)


@pytest.fixture
def demo_admin(db, settings, client):
    # The real hasher costs a second per demo user; these tests are about the pages.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", "--orders", "24", stdout=StringIO())
    _one_of_each_model_the_demo_leaves_empty()
    superuser = get_user_model().objects.create_superuser("walker", "walker@example.com", "x")
    client.force_login(superuser)
    return client


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _problem(response, errors_ok=False) -> str | None:
    """Why a page or a save is broken, or None."""
    if response.status_code in (301, 302):
        return None
    if response.status_code != 200:
        return f"answered {response.status_code}"
    if errors_ok:
        return None
    context = response.context
    errors = []
    if context and context.get("adminform") is not None:
        form = context["adminform"].form
        if form.errors:
            errors.append(form.errors.as_json())
        for inline in context.get("inline_admin_formsets") or []:
            if inline.formset.total_error_count():
                errors.append(f"{inline.formset.prefix}: {inline.formset.errors} "
                              f"{inline.formset.non_form_errors()}")
    elif context and context.get("cl") is not None and context["cl"].formset is not None:
        formset = context["cl"].formset
        if formset.total_error_count():
            errors.append(f"{formset.errors} {formset.non_form_errors()}")
    return "saved unchanged but refused: " + "; ".join(errors) if errors else None


def _visit(client, problems, label, method, url, data=None, errors_ok=True):
    try:
        response = client.get(url) if method == "GET" else client.post(url, data)
    except Exception as exc:  # the test client re-raises what would be a 500
        problems.append(f"{label} {method} {url}: {type(exc).__name__}: {exc}")
        return None
    problem = _problem(response, errors_ok=errors_ok)
    if problem:
        problems.append(f"{label} {method} {url}: {problem}")
    return response


def test_every_admin_page_opens_and_saves_unchanged(demo_admin):
    client = demo_admin
    problems: list[str] = []
    walked, saved = [], []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"no {label} to open: add one to the fixture"
        walked.append(label)

        changelist = _visit(client, problems, label, "GET", _url(model, "changelist"))
        # A list with editable columns is a form too: save it as it stands.
        if changelist is not None and changelist.status_code == 200 and \
                changelist.context["cl"].formset is not None:
            data = form_data(changelist.text, "changelist-form")
            data["_save"] = ["Save"]
            _visit(client, problems, label, "POST", _url(model, "changelist"), data,
                   errors_ok=False)

        if model_admin.has_add_permission(_request_for(client)):
            _visit(client, problems, label, "GET", _url(model, "add"))

        # The object's history and (where offered) delete confirmation are pages too.
        _visit(client, problems, label, "GET", _url(model, "history", obj.pk))
        if model_admin.has_delete_permission(_request_for(client), obj):
            _visit(client, problems, label, "GET", _url(model, "delete", obj.pk))

        change_url = _url(model, "change", obj.pk)
        page = _visit(client, problems, label, "GET", change_url)
        if page is None or page.status_code != 200:
            continue
        if model_admin.has_change_permission(_request_for(client), obj):
            data = form_data(page.text, f"{model._meta.model_name}_form")
            data["_save"] = ["Save"]
            if _visit(client, problems, label, "POST", change_url, data, errors_ok=False):
                saved.append(label)

    assert len(walked) == len(admin.site._registry)
    assert not problems, "\n".join(problems)
    # Most admins are editable: the walk really saved them (not only read-only views).
    assert {"reporting.KpiThreshold", "orderhub.Order", "channels.Channel",
            "warehouse.SKU"} <= set(saved)


def _request_for(client):
    """A request carrying the logged-in superuser, for the admin's permission hooks."""
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username="walker")
    return request


def test_kpi_threshold_saves_from_the_change_page_and_the_list(demo_admin):
    from reporting.models import Kpi, KpiThreshold

    client = demo_admin
    threshold = KpiThreshold.objects.get(kpi=Kpi.COMPLAINT_RATIO)
    url = _url(KpiThreshold, "change", threshold.pk)
    data = form_data(client.get(url).text, "kpithreshold_form")
    data.update(amber=["2.50"], red=["5.00"], _save=["Save"])
    assert client.post(url, data).status_code == 302
    threshold.refresh_from_db()
    assert (threshold.amber, threshold.red) == (Decimal("2.50"), Decimal("5.00"))
    # The admin's own log row names the threshold by its label.
    entry = LogEntry.objects.latest("pk")
    assert entry.object_repr == str(Kpi.COMPLAINT_RATIO.label)
    assert entry.object_id == str(threshold.pk)

    # The list's inline edit: change one row's red threshold and save the list.
    listing = _url(KpiThreshold, "changelist")
    data = form_data(client.get(listing).text, "changelist-form")
    row = next(k[: -len("-id")] for k, v in data.items()
               if k.endswith("-id") and v == [str(threshold.pk)])
    data[f"{row}-red"] = ["7.00"]
    data["_save"] = ["Save"]
    assert client.post(listing, data).status_code == 302
    threshold.refresh_from_db()
    assert threshold.red == Decimal("7.00")
