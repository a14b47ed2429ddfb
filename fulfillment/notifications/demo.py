"""Demo notification setup: gateways on the hub's own /sandbox/notify/, routes, contacts.

Idempotent: existing gateways (by name), routes and contacts are left as they are.
"""

from __future__ import annotations

import json
import os

from fulfillment.notifications import sandbox
from fulfillment.notifications.models import (
    AlertRoute,
    Event,
    Gateway,
    MessageTemplate,
    WarehouseContact,
)
from warehouse.models import Warehouse

# Sandbox Aliyun template codes for the buyer templates (the real ones come from
# the seller's Aliyun console).
SANDBOX_TEMPLATE_CODES = {"shipped": "SMS_SANDBOX_SHIPPED", "delayed": "SMS_SANDBOX_DELAYED",
                          "ready_to_ship": "SMS_SANDBOX_READY"}


def _base() -> str:
    return os.environ.get(
        "ORDERHUB_SANDBOX_URL", f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}"
    ).rstrip("/")


def seed(stdout) -> None:
    base = f"{_base()}/sandbox/notify"
    specs = [
        ("Aliyun SMS (sandbox)", Gateway.Kind.ALIYUN_SMS, f"{base}/aliyun/", True,
         {"sign_name": "OrderHub演示", "region": "cn-hangzhou"},
         {"access_key_id": sandbox.ALIYUN_KEY_ID, "access_key_secret": sandbox.ALIYUN_KEY_SECRET}),
        ("HTTP SMS (sandbox)", Gateway.Kind.HTTP_SMS, f"{base}/sms/", False,
         {"method": "POST", "body_template": json.dumps({"to": "{phone}", "text": "{text}"}),
          "auth_header": "Authorization", "ok_field": "ok", "ok_value": "True",
          "id_field": "id"},
         {"auth_value": sandbox.HTTP_SMS_TOKEN}),
        ("WeCom ops group (sandbox)", Gateway.Kind.WECOM, f"{base}/wecom/", False, {},
         {"key": sandbox.WECOM_KEY}),
        ("DingTalk warehouse group (sandbox)", Gateway.Kind.DINGTALK, f"{base}/dingtalk/", False,
         {}, {"access_token": sandbox.DINGTALK_TOKEN, "secret": sandbox.DINGTALK_SECRET}),
        ("E-mail", Gateway.Kind.EMAIL, "", False, {}, {}),
    ]
    gateways = {}
    created = 0
    for name, kind, endpoint, for_buyers, config, credentials in specs:
        gateway = Gateway.objects.filter(name=name).first()
        if gateway is None:
            gateway = Gateway(name=name, kind=kind, endpoint=endpoint, for_buyers=for_buyers,
                              config=config)
            gateway.credentials = credentials
            gateway.save()
            created += 1
        gateways[kind] = gateway
    for template in MessageTemplate.objects.filter(audience="buyer", sms_template_code=""):
        if template.event in SANDBOX_TEMPLATE_CODES:
            template.sms_template_code = SANDBOX_TEMPLATE_CODES[template.event]
            template.save(update_fields=["sms_template_code"])
    if not AlertRoute.objects.exists():
        wecom, dingtalk = gateways[Gateway.Kind.WECOM], gateways[Gateway.Kind.DINGTALK]
        for event in (Event.INTERCEPT, Event.CHANNEL_PAUSED, Event.SPIKE, Event.PARCEL_STALLED,
                      Event.WAYBILL_FAILED, Event.PICK_PROBLEM, Event.CHANGE_WAITING,
                      Event.CHANGE_DECIDED):
            AlertRoute.objects.create(event=event, gateway=wecom)
        for event in (Event.URGENT_ORDER, Event.STOCK_LOW, Event.OUT_OF_STOCK,
                      Event.PICK_PROBLEM):
            AlertRoute.objects.create(event=event, gateway=dingtalk)
    for warehouse in Warehouse.objects.filter(active=True):
        if not WarehouseContact.objects.filter(warehouse=warehouse).exists():
            WarehouseContact.objects.create(
                warehouse=warehouse, role=WarehouseContact.Role.LEAD, name="仓库主管",
                phone="13700137000", gateway=gateways[Gateway.Kind.DINGTALK])
            if warehouse.purchasing_contact_phone or warehouse.purchasing_contact_email:
                WarehouseContact.objects.create(
                    warehouse=warehouse, role=WarehouseContact.Role.PURCHASING,
                    name=warehouse.purchasing_contact_name or "采购",
                    phone=warehouse.purchasing_contact_phone,
                    email=warehouse.purchasing_contact_email,
                    gateway=gateways[Gateway.Kind.EMAIL]
                    if warehouse.purchasing_contact_email else gateways[Gateway.Kind.ALIYUN_SMS])
    stdout.write(f"Notifications: {created} gateway(s) created on {base}/, "
                 f"{AlertRoute.objects.count()} alert routes.")
