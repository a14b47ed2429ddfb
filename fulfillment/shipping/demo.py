"""Demo carrier accounts: SF and Kuaidi100 (ZTO) on the hub's own sandbox, and a manual one."""

from __future__ import annotations

import os

from django.utils.translation import gettext_noop

from fulfillment.shipping.models import CarrierAccount, CarrierService

SENDER = {
    "sender_name": "莲花家居仓库", "sender_company": "莲花家居", "sender_phone": "02169580000",
    "sender_province": "上海市", "sender_city": "上海市", "sender_district": "嘉定区",
    "sender_address": "安亭镇墨玉路185号",
}


def _base() -> str:
    # Same as the demo channels (seed_demo): the hub serves its own /sandbox/.
    return os.environ.get(
        "ORDERHUB_SANDBOX_URL", f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}"
    ).rstrip("/")


def seed(stdout) -> None:
    base = _base()
    accounts = [
        ("sf-demo", "顺丰速运 SF Express (sandbox)", "sf", "", "1",
         f"{base}/sandbox/carriers/sf", "7551234567",
         {"partner_id": "SANDBOX_SF", "check_word": "sandbox-check-word"}, True,
         [("1", "顺丰特快"), ("2", "顺丰标快")]),
        ("zto-kuaidi100", "中通快递 ZTO via Kuaidi100 (sandbox)", "kuaidi100", "zhongtong",
         "标准快递", f"{base}/sandbox/carriers/kuaidi100", "",
         {"key": "sandbox-key", "secret": "sandbox-secret", "customer": "SANDBOXCUSTOMER",
          "partner_key": "sandbox"}, False, [("标准快递", "标准快递")]),
        # Stored in English; CarrierAccount.display_name shows it in the viewer's language.
        ("manual", gettext_noop("Other carrier (tracking number typed in)"), "manual", "", "",
         "", "", {}, False, []),
    ]
    created = 0
    for (code, name, kind, carrier_code, service, url, monthly, creds, default,
         services) in accounts:
        account, new = CarrierAccount.objects.get_or_create(code=code, defaults={
            "name": name, "kind": kind, "carrier_code": carrier_code, "default_service": service,
            "base_url": url, "monthly_account": monthly, "is_default": default, **SENDER})
        if new:
            account.credentials = creds
            account.save(update_fields=["credentials_encrypted"])
            created += 1
        for svc_code, svc_name in services:
            CarrierService.objects.get_or_create(account=account, code=svc_code,
                                                 defaults={"name": svc_name})
    stdout.write(f"Carrier accounts: {created} created (sandbox at {base}/sandbox/carriers/).")
