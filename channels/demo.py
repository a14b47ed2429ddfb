"""Demo data for the Chinese platforms: one sandbox channel each (``seed(stdout)``).

Each channel points at the hub's own /sandbox/ APIs (``channels.sandbox_cn``)
with the sandbox's credentials, maps the sandbox's merchant SKUs to the demo
catalogue and may decrypt recipients (the sandbox's decrypt APIs answer), so
labels can be printed in the demo. Running it again changes nothing.
"""

from __future__ import annotations

import os

from channels import sandbox_cn as sb
from channels.models import Channel, SkuMapping
from orderhub.management.commands.seed_demo import SANDBOX_SKU_MAP


def _base() -> str:
    return os.environ.get(
        "ORDERHUB_SANDBOX_URL", f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}"
    ).rstrip("/")


def channel_specs(base: str) -> list[tuple[str, str, str, dict, dict]]:
    """(code, name, platform, config, credentials) of the demo's Chinese channels."""
    carriers = {"SF": "SF", "ZTO": "ZTO", "YTO": "YTO", "JD": "JD"}
    return [
        ("taobao-flagship", "莲花家居淘宝旗舰店", "taobao",
         {"gateway": f"{base}/sandbox/taobao/router/rest", "sign_method": "hmac-sha256",
          "company_codes": carriers, "decrypt_enabled": True},
         dict(sb.TOP_APP)),
        ("pdd-lotus", "莲花家居拼多多店", "pinduoduo",
         {"gateway": f"{base}/sandbox/pinduoduo/api/router",
          "logistics_ids": {"SF": 44, "ZTO": 115, "YTO": 85, "JD": 120},
          "decrypt_enabled": True},
         dict(sb.PDD_APP)),
        ("douyin-lotus", "莲花家居抖音小店", "douyin",
         {"gateway": f"{base}/sandbox/douyin", "sign_method": "md5", "shop_id": "1",
          "company_codes": {"SF": "shunfeng", "ZTO": "zhongtong", "YTO": "yuantong",
                            "JD": "jd"},
          "decrypt_enabled": True},
         dict(sb.DOUYIN_APP)),
        ("youzan-lotus", "莲花家居有赞微商城", "youzan",
         {"base_url": f"{base}/sandbox/youzan", "kdt_id": sb.YOUZAN_KDT_ID,
          "express_ids": {"SF": 7, "ZTO": 2, "YTO": 4, "JD": 138}, "decrypt_enabled": True},
         dict(sb.YOUZAN_APP)),
    ]


def seed(stdout) -> None:
    made = []
    for code, name, platform, config, credentials in channel_specs(_base()):
        channel, created = Channel.objects.get_or_create(
            code=code, defaults={"name": name, "platform": platform})
        # The core demo creates the Taobao channel without settings: complete it once.
        if channel.platform == platform and not channel.config:
            # The sandbox holds two days of orders: a short first sync reaches now in
            # one poll instead of walking 90 days of empty windows.
            channel.config = {**config, "max_windows": 120}
            channel.credentials = credentials
            channel.backfill_days = 2
            channel.save()
            made.append(code)
        for platform_sku, hub_sku in SANDBOX_SKU_MAP.items():
            SkuMapping.objects.get_or_create(channel=channel, platform_sku=platform_sku,
                                             defaults={"hub_sku": hub_sku})
    stdout.write(f"Chinese platform sandbox channels: {len(made)} set up"
                 + (f" ({', '.join(made)})" if made else " (already there)") + ".")
