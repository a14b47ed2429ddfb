"""Demo carrier accounts on the hub's own sandbox: SF direct, SF / ZTO / YTO e-waybills through
Kuaidi100, a manual one; and rate tables for the routing rules' "choose carrier" action."""

from __future__ import annotations

import os
from decimal import Decimal

from django.utils.translation import gettext_noop

from fulfillment.shipping.models import CarrierAccount, CarrierService, RateZone

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


EAST = "上海, 江苏, 浙江, 安徽"
# (account code, service code) -> (volumetric divisor, zones: name, provinces (empty:
# everywhere else), first kg price, price per step, step kg, promised days).
RATES = {
    ("sf-demo", "2"): (6000, [("华东", EAST, "12", "2", "1", 1),
                              ("全国", "", "18", "6", "1", 2)]),
    ("zto-kuaidi100", "标准快递"): (8000, [("华东", EAST, "5", "1", "0.5", 2),
                                        ("全国", "", "8", "3", "1", 3)]),
    ("yto-kuaidi100", "标准快递"): (8000, [("华东", EAST, "4.5", "1.5", "0.5", 2),
                                        ("华北华南", "北京, 天津, 河北, 广东", "7", "3", "1", 3)]),
}


def seed(stdout) -> None:
    base = _base()
    accounts = [
        ("sf-demo", "顺丰速运 SF Express (sandbox)", "sf", "", "1",
         f"{base}/sandbox/carriers/sf", "7551234567",
         {"partner_id": "SANDBOX_SF", "check_word": "sandbox-check-word"}, True,
         [("1", "顺丰特快"), ("2", "顺丰标快")]),
        # Kuaidi100's parameter dictionary: ZTO and YTO take partnerId + partnerKey, SF its
        # monthly account (月结账号) as partnerId.
        ("zto-kuaidi100", "中通快递 ZTO via Kuaidi100 (sandbox)", "kuaidi100", "zhongtong",
         "标准快递", f"{base}/sandbox/carriers/kuaidi100", "",
         {"key": "sandbox-key", "secret": "sandbox-secret", "customer": "SANDBOXCUSTOMER",
          "partner_id": "SANDBOX_ZTO", "partner_key": "sandbox"}, False,
         [("标准快递", "标准快递")]),
        ("yto-kuaidi100", "圆通速递 YTO via Kuaidi100 (sandbox)", "kuaidi100", "yuantong",
         "标准快递", f"{base}/sandbox/carriers/kuaidi100", "",
         {"key": "sandbox-key", "secret": "sandbox-secret", "customer": "SANDBOXCUSTOMER",
          "partner_id": "SANDBOX_YTO", "partner_key": "sandbox"}, False,
         [("标准快递", "标准快递")]),
        ("sf-kuaidi100", "顺丰速运 SF via Kuaidi100 (sandbox)", "kuaidi100", "shunfeng",
         "标准快递", f"{base}/sandbox/carriers/kuaidi100", "7551234567",
         {"key": "sandbox-key", "secret": "sandbox-secret", "customer": "SANDBOXCUSTOMER"},
         False, [("标准快递", "标准快递")]),
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
            service, new = CarrierService.objects.get_or_create(
                account=account, code=svc_code, defaults={"name": svc_name})
            rates = RATES.get((code, svc_code))
            if new and rates:
                service.volumetric_divisor = rates[0]
                service.save(update_fields=["volumetric_divisor"])
                for name, provinces, first, extra, step, days in rates[1]:
                    RateZone.objects.get_or_create(service=service, name=name, defaults={
                        "provinces": provinces, "first_price": Decimal(first),
                        "additional_price": Decimal(extra),
                        "additional_weight_kg": Decimal(step), "promised_days": days})
    stdout.write(f"Carrier accounts: {created} created (sandbox at {base}/sandbox/carriers/).")
