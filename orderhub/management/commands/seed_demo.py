"""``manage.py seed_demo``: demo users, channels, warehouses and ~200 orders.

Orders are created and moved through the real services (``order_create``,
``order_update``, ``order_transition`` as ``system:seed_demo``), so each has
its transition log and versions. Afterwards only the *timestamps* of those rows
are moved back onto a plausible timeline (placed → paid → shipped...), because
the services stamp everything "now" and a demo where every order moved in the
same second tells nothing.

Everything is generated from a fixed random seed before the database is
touched, and orders are keyed by (channel, external id): running the command
again creates only what is missing and changes nothing else.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import random
from dataclasses import dataclass, field
from decimal import Decimal

import phonenumbers
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from orderhub.models import Customer, Order, OrderEvent, OrderLine, OrderStatus, OrderTransitionLog
from orderhub.services.orders import order_create, order_transition, order_update

S = OrderStatus
ACTOR = "system:seed_demo"
SEED = 20241122

# Demo logins: username, password, role, is_staff (needs the Django admin).
# The passwords are public by design: never run seed_demo on a real deployment.
USERS = [
    ("admin", "admin-demo", "admin", True),
    ("manager", "manager-demo", "manager", True),
    ("ops", "ops-demo", "ops", False),
    ("picker", "picker-demo", "picker", False),
    ("finance", "finance-demo", "finance", False),
]

# code, name, platform, external-id prefix, where its buyers live, currency
CHANNELS = [
    ("shopify-lotus", "Lotus Home (Shopify)", "shopify", "SH", ("US", "GB", "CN"), "USD"),
    ("woo-teahouse", "Tea House EU (WooCommerce)", "woocommerce", "WC", ("GB", "US"), "USD"),
    ("amazon-us", "Amazon US seller account", "amazon", "114-", ("US",), "USD"),
    ("taobao-flagship", "莲花家居淘宝旗舰店", "taobao", "TB", ("CN",), "CNY"),
    ("csv-wholesale", "批发订单 (CSV import)", "csv", "PO-", ("CN",), "CNY"),
]

WAREHOUSES = [
    ("sh-jiading", "上海嘉定仓 Shanghai Jiading DC", "上海市嘉定区安亭镇墨玉路185号"),
    ("gz-baiyun", "广州白云仓 Guangzhou Baiyun DC", "广东省广州市白云区太和镇永兴村物流园3号库"),
    ("cd-shuangliu", "成都双流仓 Chengdu Shuangliu DC", "四川省成都市双流区西航港大道二段88号"),
]

# sku, name, CNY price, USD price
CATALOGUE = [
    ("CUP-500-WHT", "保温杯 500ml 白色 Vacuum flask 500ml white", "89.00", "19.90"),
    ("CUP-500-BLK", "保温杯 500ml 黑色 Vacuum flask 500ml black", "89.00", "19.90"),
    ("EAR-TWS-01", "Wireless earbuds TWS-01 无线蓝牙耳机", "199.00", "39.00"),
    ("CBL-USBC-1M", "USB-C 数据线 1m USB-C cable 1m", "29.00", "6.50"),
    ("CHG-GAN-65W", "65W 氮化镓充电器 65W GaN charger", "149.00", "29.00"),
    ("TEA-LJ-250", "西湖龙井 250g Longjing green tea 250g", "268.00", "45.00"),
    ("TEA-PU-357", "普洱茶饼 357g Pu'er tea cake 357g", "198.00", "36.00"),
    ("TEA-SET-06", "功夫茶具套装 Gongfu tea set (6 pcs)", "359.00", "69.00"),
    ("BAG-CNV-NAT", "帆布托特包 Canvas tote bag natural", "59.00", "14.00"),
    ("PIL-SLK-48", "真丝枕套 Silk pillowcase 48x74", "239.00", "42.00"),
    ("MSK-EYE-SLK", "真丝眼罩 Silk sleep mask", "69.00", "15.00"),
    ("LMP-DSK-LED", "LED 护眼台灯 LED desk lamp", "179.00", "34.00"),
    ("KBD-MEC-87", "机械键盘 87键 Mechanical keyboard 87 keys", "329.00", "59.00"),
    ("MOU-WL-02", "静音无线鼠标 Silent wireless mouse", "79.00", "16.00"),
    ("UMB-FLD-BLU", "折叠晴雨伞 Folding umbrella blue", "49.00", "12.00"),
    ("CHP-BMB-10", "竹筷 10双装 Bamboo chopsticks (10 pairs)", "35.00", "8.00"),
    ("BWL-CER-4", "陶瓷碗 4只装 Ceramic bowls (set of 4)", "128.00", "26.00"),
    ("SCF-SLK-90", "桑蚕丝方巾 90cm Mulberry silk scarf 90cm", "299.00", "55.00"),
    ("PHN-CASE-15", "手机壳 iPhone 15 Phone case", "39.00", "9.90"),
    ("BTL-GLS-400", "双层玻璃杯 400ml Double-wall glass 400ml", "45.00", "11.00"),
]
GIFTS = [
    ("GIFT-SLEEVE", "杯套（赠品）Cup sleeve (gift)"),
    ("GIFT-STICKER", "贴纸（赠品）Sticker pack (gift)"),
    ("GIFT-TEA-5G", "试饮装 5g（赠品）Tea sample 5g (gift)"),
]

# What the sandbox platforms sell, mapped to the hub's SKUs (a channel's SKU mapping).
SANDBOX_SKU_MAP = {
    "CUP-1": "CUP-500-WHT", "SLEEVE-1": "GIFT-SLEEVE", "TEA-250": "TEA-LJ-250",
    "MUG-BLK": "BTL-GLS-400", "SCARF-RED": "SCF-SLK-90", "PEN-GLD": "PHN-CASE-15",
}

CN_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
CN_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟",
            "涛", "明", "超", "秀英", "华", "慧", "建国", "晓燕", "子涵", "浩然", "雨桐"]
EN_FIRST = ["James", "Olivia", "Emma", "Liam", "Noah", "Ava", "Sophia", "Mason", "Isabella",
            "Lucas", "Mia", "Ethan", "Amelia", "Harry", "Grace", "Oliver", "Charlotte", "Jack"]
EN_LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
           "Taylor", "Clarke", "Walker", "Wright", "Thompson", "Evans", "Hughes", "Green"]

# province, city, district, street, postcode
CN_ADDRESSES = [
    ("上海市", "上海市", "浦东新区", "世纪大道1001号 2栋1502室", "200120"),
    ("上海市", "上海市", "徐汇区", "漕溪北路88号 圣爱大厦12楼", "200030"),
    ("北京市", "北京市", "朝阳区", "建国路93号院 万达广场8号楼1206", "100022"),
    ("北京市", "北京市", "海淀区", "中关村大街27号 中关村大厦5层", "100080"),
    ("广东省", "广州市", "天河区", "天河路208号 天河城东塔21楼", "510620"),
    ("广东省", "深圳市", "南山区", "科技园科苑路15号 科兴科学园B座", "518057"),
    ("浙江省", "杭州市", "西湖区", "文三路90号 东部软件园3号楼", "310012"),
    ("浙江省", "宁波市", "鄞州区", "天童南路588号 宁波文化广场", "315100"),
    ("江苏省", "南京市", "鼓楼区", "中山路18号 德基广场二期", "210005"),
    ("江苏省", "苏州市", "工业园区", "星湖街328号 创意产业园5幢", "215123"),
    ("四川省", "成都市", "武侯区", "天府大道北段1480号 拉德方斯大厦", "610041"),
    ("湖北省", "武汉市", "洪山区", "珞喻路1037号 华中科技大学东校区", "430074"),
    ("陕西省", "西安市", "雁塔区", "高新路52号 高科大厦9层", "710075"),
    ("福建省", "厦门市", "思明区", "鹭江道8号 国际银行大厦", "361001"),
]
US_ADDRESSES = [
    ("CA", "San Francisco", "", "1 Market St, Apt 2104", "94105", "415"),
    ("NY", "New York", "Brooklyn", "245 Bedford Ave, Apt 3F", "11211", "718"),
    ("WA", "Seattle", "", "1100 2nd Ave, Unit 801", "98101", "206"),
    ("TX", "Austin", "", "600 Congress Ave, Suite 1400", "78701", "512"),
    ("IL", "Chicago", "", "233 S Wacker Dr, Apt 45B", "60606", "312"),
]
GB_ADDRESSES = [
    ("England", "London", "Camden", "12 Parkway", "NW1 7AA", "20"),
    ("England", "Manchester", "", "45 Deansgate", "M3 2BW", "161"),
    ("Scotland", "Edinburgh", "", "8 Rose Street", "EH2 2PR", "131"),
]

CN_MESSAGES = ["请尽快发货，谢谢！", "不要放快递柜，送货上门", "送人的礼物，请不要放发票",
               "周末不在家，工作日送", "麻烦包装结实一点，易碎"]
EN_MESSAGES = ["Please leave at the front door.", "It's a birthday gift, no invoice please.",
               "Ring the bell twice, thanks!", "Could you ship before Friday?"]
TAGS = ["VIP", "repeat-buyer", "gift-wrap", "fragile", "加急", "大促"]
CN_CARRIERS = [("SF", "SF"), ("ZTO", "ZT"), ("YTO", "YT"), ("JD", "JD")]
INTL_CARRIERS = [("DHL", "DHL"), ("UPS", "1Z"), ("YUNEXPRESS", "YT")]

HOLD_REASONS = ["买家要求改地址，待确认 Buyer wants a new address", "Payment under dispute",
                "等待买家确认规格 Waiting for the buyer to confirm the variant"]
CANCEL_REASONS = ["买家拍错了，申请取消 Ordered by mistake", "Buyer asked to cancel",
                  "Payment timed out"]
REVIEW_REASONS = ["Risk: new buyer, high order value", "收货地址与历史不符 Address differs from "
                  "earlier orders", "B2B credit limit exceeded"]

# How many of the generated orders end in each state (weights for the rest).
STATE_WEIGHTS = {
    S.PENDING_PAYMENT: 10, S.PAID: 6, S.REVIEW: 6, S.OUT_OF_STOCK: 6, S.READY_TO_PICK: 16,
    S.PICKING: 8, S.PICKED: 8, S.SHIPPED: 20, S.DELIVERED: 14, S.COMPLETED: 40,
    S.CANCELLED: 10, S.ON_HOLD: 6,
}
# How long an order has typically sat in its final state, at most (hours).
DWELL_HOURS = {
    S.PENDING_PAYMENT: 20, S.PAID: 1, S.REVIEW: 30, S.OUT_OF_STOCK: 100, S.READY_TO_PICK: 20,
    S.PICKING: 2, S.PICKED: 6, S.SHIPPED: 72, S.DELIVERED: 150, S.ON_HOLD: 60,
}
# Delay before each transition (min, max hours).
STEP_HOURS = {
    "pay": (0.02, 0.5), "mark_ready": (0.05, 1), "mark_out_of_stock": (0.05, 1),
    "restock": (6, 72), "hold_review": (0.05, 1), "approve": (0.5, 20), "claim": (1, 12),
    "finish": (0.1, 1), "ship": (1, 6), "deliver": (24, 96), "complete": (168, 170),
    "hold": (0.2, 8), "release": (1, 24), "cancel": (0.1, 30), "intercept": (0.5, 6),
}


@dataclass
class OrderSpec:
    channel_code: str
    external_id: str
    state: str
    path: list[str]
    placed_at: dt.datetime
    fields: dict
    lines: list[dict]
    tags: list[str]
    warehouse_code: str | None
    carrier: str
    tracking_number: str
    step_times: list[dt.datetime] = field(default_factory=list)


def _path_to(state: str, rng: random.Random) -> list[str]:
    """The transitions that bring a new order to ``state``, with some detours."""
    to_paid = ["pay"]
    if rng.random() < 0.15:
        to_paid = ["pay", "hold_review", "approve"]
    to_ready = [*to_paid, "mark_ready"]
    if rng.random() < 0.1:
        to_ready = [*to_paid, "mark_out_of_stock", "restock"]
    through = [*to_ready, "claim", "finish", "ship"]
    if rng.random() < 0.1:
        through = [*to_ready, "hold", "release", "claim", "finish", "ship"]
    match state:
        case S.PENDING_PAYMENT:
            return []
        case S.PAID:
            return ["pay"]
        case S.REVIEW:
            return ["pay", "hold_review"]
        case S.OUT_OF_STOCK:
            return [*to_paid, "mark_out_of_stock"]
        case S.READY_TO_PICK:
            return to_ready
        case S.PICKING:
            return [*to_ready, "claim"]
        case S.PICKED:
            return [*to_ready, "claim", "finish"]
        case S.SHIPPED:
            return through
        case S.DELIVERED:
            return [*through, "deliver"]
        case S.COMPLETED:
            return [*through, "deliver", "complete"]
        case S.ON_HOLD:
            return rng.choice([["pay"], to_ready, [*to_ready, "claim"]]) + ["hold"]
        case S.CANCELLED:
            return rng.choice([["cancel"], ["cancel"], ["pay", "cancel"],
                               [*to_ready, "cancel"],
                               [*to_ready, "claim", "hold", "intercept"]])
    raise ValueError(state)


def _ean13(first12: int) -> str:
    digits = f"{first12:012d}"
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return f"{digits}{check}"


def _phone(rng: random.Random, country: str, area: str = "") -> str:
    for _attempt in range(50):
        if country == "CN":
            raw = f"1{rng.choice('358')}{rng.randint(0, 9)}{rng.randrange(10**8):08d}"
        elif country == "US":
            raw = f"+1{area}{rng.randint(200, 989)}{rng.randrange(10**4):04d}"
        else:
            raw = f"+447{rng.choice(['4', '5', '7', '8', '9'])}{rng.randrange(10**8):08d}"
        parsed = phonenumbers.parse(raw, country)
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise RuntimeError(f"no valid {country} phone number generated")  # pragma: no cover


def _tracking(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(str(rng.randrange(10)) for _ in range(12))


def build_specs(count: int, now: dt.datetime) -> list[OrderSpec]:
    """Every demo order, generated from the fixed seed without touching the database."""
    rng = random.Random(SEED)
    states = list(STATE_WEIGHTS)
    # Every state at least twice, the rest by weight.
    finals = states * 2 + rng.choices(states, weights=list(STATE_WEIGHTS.values()),
                                      k=max(0, count - 2 * len(states)))
    finals = finals[:count]
    rng.shuffle(finals)
    specs = []
    for n, state in enumerate(finals, start=1):
        code, _name, platform, prefix, countries, currency = CHANNELS[n % len(CHANNELS)]
        country = rng.choice(countries)
        external_id = {
            "amazon": f"{prefix}{1000000 + n * 7919:07d}-{4200000 + n * 104729 % 999983:07d}",
            "taobao": f"{prefix}{3900000000000 + n * 1234567:013d}",
            "csv": f"{prefix}2024-{n:04d}",
        }.get(platform, f"{prefix}{1000 + n}")

        if country == "CN":
            name = rng.choice(CN_SURNAMES) + rng.choice(CN_GIVEN)
            province, city, district, street, postcode = rng.choice(CN_ADDRESSES)
            phone = _phone(rng, "CN")
            message = rng.choice(CN_MESSAGES) if rng.random() < 0.3 else ""
            email = ""
        else:
            first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
            name = f"{first} {last}"
            addresses = US_ADDRESSES if country == "US" else GB_ADDRESSES
            province, city, district, street, postcode, area = rng.choice(addresses)
            phone = _phone(rng, country, area)
            message = rng.choice(EN_MESSAGES) if rng.random() < 0.25 else ""
            email = f"{first}.{last}{n}@example.com".lower()

        kind, priority = Order.Kind.B2C, Order.Priority.NORMAL
        if platform == "csv":
            kind = Order.Kind.B2B
        elif rng.random() < 0.05:
            kind = Order.Kind.AFTER_SALES
        roll = rng.random()
        if platform == "csv" and roll < 0.2:
            kind, priority = Order.Kind.ASN_DIRECT, Order.Priority.ASN
        elif roll < 0.12:
            priority = Order.Priority.H4
        elif roll < 0.3:
            priority = Order.Priority.H24

        lines = []
        for sku, title, cny, usd in rng.sample(CATALOGUE, k=rng.choice([1, 1, 1, 2, 2, 3, 4])):
            bulk = kind in (Order.Kind.B2B, Order.Kind.ASN_DIRECT)
            quantity = rng.randint(10, 60) if bulk else rng.choice([1, 1, 1, 2, 3])
            lines.append({"sku_code": sku, "name": title, "quantity": quantity,
                          "unit_price": cny if currency == "CNY" else usd})
        if rng.random() < 0.2:
            sku, title = rng.choice(GIFTS)
            lines.append({"sku_code": sku, "name": title, "quantity": 1, "unit_price": "0",
                          "is_gift": True})

        shipping_fee = Decimal("0.00")
        if currency == "USD":
            shipping_fee = Decimal(rng.choice(["0.00", "4.99", "9.99"]))
        elif kind == Order.Kind.B2C and rng.random() < 0.3:
            shipping_fee = Decimal("10.00")

        path = _path_to(state, rng)
        # Lay the path out backwards from now: the order has sat in its final
        # state for a while, and every step took a plausible time.
        step_hours = [rng.uniform(*STEP_HOURS[step]) for step in path]
        busy = dt.timedelta(hours=sum(step_hours))
        max_dwell = DWELL_HOURS.get(state, max(1.0, 29 * 24 - busy.total_seconds() / 3600))
        placed_at = now - busy - dt.timedelta(hours=rng.uniform(0, max_dwell))
        placed_at = placed_at.replace(microsecond=0)
        times, t = [], placed_at
        for hours in step_hours:
            t += dt.timedelta(hours=hours)
            times.append(t.replace(microsecond=0))

        carriers = CN_CARRIERS if country == "CN" else INTL_CARRIERS
        carrier, tracking_prefix = rng.choice(carriers)
        tags = rng.sample(TAGS, k=rng.choice([0, 0, 0, 1, 1, 2]))
        specs.append(OrderSpec(
            channel_code=code,
            external_id=external_id,
            state=state,
            path=path,
            placed_at=placed_at,
            fields={
                "kind": kind, "priority": priority, "currency": currency,
                "buyer_name": name, "buyer_phone": phone, "buyer_email": email,
                "buyer_message": message,
                "ship_name": name, "ship_phone": phone, "ship_country": country,
                "ship_province": province, "ship_city": city, "ship_district": district,
                "ship_street": street, "ship_postcode": postcode,
                "shipping_fee": shipping_fee,
            },
            lines=lines,
            tags=tags,
            warehouse_code=rng.choice(WAREHOUSES)[0],
            carrier=carrier,
            tracking_number=_tracking(rng, tracking_prefix),
            step_times=times,
        ))
    return specs


def _reason(step: str, rng: random.Random) -> str:
    if step == "hold":
        return rng.choice(HOLD_REASONS)
    if step in ("cancel", "intercept"):
        return rng.choice(CANCEL_REASONS)
    if step == "hold_review":
        return rng.choice(REVIEW_REASONS)
    return ""


class Command(BaseCommand):
    help = (
        "Load demo data: a user per role, channels, warehouses and about 200 orders in every "
        "state. Safe to run again: only what is missing is created. Never run on production."
    )

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=200, help="number of demo orders")

    def handle(self, *args, orders: int, **options):
        if orders < 0:
            raise CommandError("--orders must be 0 or more")
        users = self._users()
        channels = self._channels()
        warehouses = self._warehouses()
        self._catalogue(warehouses)
        customers = self._customers()
        created, skipped = self._orders(orders, channels, warehouses, customers)
        self._app_demos()
        self.stdout.write(
            f"Demo data: {len(channels)} channels, {len(warehouses)} warehouses, "
            f"{created} orders created, {skipped} already there."
        )
        self.stdout.write("")
        self.stdout.write("Demo logins (for demos only, change or delete them on any real site):")
        self.stdout.write(f"  {'username':<10} {'password':<14} {'role':<8} admin site")
        for username, password, role, is_staff in USERS:
            note = "" if username in users else "  (existing user: password unchanged)"
            self.stdout.write(
                f"  {username:<10} {password:<14} {role:<8} {'yes' if is_staff else 'no'}{note}"
            )

    def _demo(self, label: str):
        """The ``demo`` module of the app labelled ``label``, found by name.

        The core imports no app: what only an app can seed (stock through the
        stock ledger, allocation) lives in that app's ``demo.py``.
        """
        name = f"{apps.get_app_config(label).name}.demo"
        return importlib.import_module(name)

    def _app_demos(self) -> None:
        """Let each app add its own demo records (``<app>.demo.seed(stdout)``, idempotent)."""
        for config in apps.get_app_configs():
            try:
                module = importlib.import_module(f"{config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.demo":
                    raise
                continue
            if hasattr(module, "seed"):  # some only offer helpers to the steps above
                module.seed(self.stdout)

    def _users(self) -> set[str]:
        """Create the demo users; returns the usernames created now."""
        User = get_user_model()
        created = set()
        for username, password, role, is_staff in USERS:
            user, new = User.objects.get_or_create(
                username=username,
                defaults={"is_staff": is_staff, "is_superuser": role == "admin",
                          "email": f"{username}@orderhub.example"},
            )
            if new:
                user.set_password(password)
                user.save(update_fields=["password"])
                created.add(username)
            user.groups.add(Group.objects.get(name=role))
        return created

    def _channels(self) -> dict:
        """The demo channels; the API ones poll the hub's own /sandbox/ over HTTP."""
        Channel = apps.get_model("channels", "Channel")
        SkuMapping = apps.get_model("channels", "SkuMapping")
        base = os.environ.get(
            "ORDERHUB_SANDBOX_URL", f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}"
        ).rstrip("/")
        sandbox = {
            "shopify": ({"shop_url": f"{base}/sandbox/shopify"},
                        {"access_token": "sandbox-token", "webhook_secret": "sandbox-secret"}),
            "woocommerce": ({"site_url": f"{base}/sandbox/woocommerce"},
                            {"consumer_key": "ck_sandbox", "consumer_secret": "cs_sandbox",
                             "webhook_secret": "sandbox-secret"}),
            "amazon": ({"endpoint": f"{base}/sandbox/amazon",
                        "lwa_url": f"{base}/sandbox/amazon/auth/o2/token",
                        "marketplace_ids": ["ATVPDKIKX0DER"]},
                       {"refresh_token": "Atzr|sandbox", "client_id": "sandbox",
                        "client_secret": "sandbox"}),
        }
        out = {}
        for code, name, platform, *_rest in CHANNELS:
            channel, created = Channel.objects.get_or_create(
                code=code, defaults={"name": name, "platform": platform}
            )
            if created and platform in sandbox:
                channel.config, channel.credentials = sandbox[platform]
                channel.save()
            if platform in sandbox:
                for platform_sku, hub_sku in SANDBOX_SKU_MAP.items():
                    SkuMapping.objects.get_or_create(
                        channel=channel, platform_sku=platform_sku, defaults={"hub_sku": hub_sku}
                    )
            out[code] = channel
        return out

    def _catalogue(self, warehouses) -> None:
        """SKUs with barcodes, a bin each, and opening stock: the warehouse app's demo does it."""
        self._demo("warehouse").seed_catalogue(warehouses)

    def _warehouses(self) -> dict:
        Warehouse = apps.get_model("warehouse", "Warehouse")
        out = {}
        for code, name, address in WAREHOUSES:
            out[code], _ = Warehouse.objects.get_or_create(
                code=code, defaults={"name": name, "address": address}
            )
        return out

    def _customers(self) -> list[Customer]:
        companies = [
            ("杭州悦家贸易有限公司", "+8613957112345", Decimal("50000.00")),
            ("深圳优品供应链有限公司", "+8618664238888", Decimal("80000.00")),
        ]
        return [
            Customer.objects.get_or_create(
                name=name, defaults={"phone": phone, "tier": Customer.Tier.B2B,
                                     "credit_limit": limit},
            )[0]
            for name, phone, limit in companies
        ]

    def _orders(self, count, channels, warehouses, customers) -> tuple[int, int]:
        now = timezone.now()
        specs = build_specs(count, now)
        existing = set(
            Order.objects.filter(channel__in=channels.values())
            .values_list("channel__code", "external_id")
        )
        rng = random.Random(SEED + 1)
        created = skipped = 0
        for i, spec in enumerate(specs):
            if (spec.channel_code, spec.external_id) in existing:
                skipped += 1
                continue
            # One transaction per order: an interrupted run leaves whole orders only.
            with transaction.atomic():
                self._create_order(spec, channels, warehouses, customers[i % len(customers)], rng)
            created += 1
        return created, skipped

    def _create_order(self, spec: OrderSpec, channels, warehouses, customer, rng) -> None:
        fields = dict(spec.fields)
        if fields["kind"] != Order.Kind.B2C and fields["currency"] == "CNY":
            fields["customer"] = customer
        order = order_create(
            channel=channels[spec.channel_code], actor=ACTOR, lines=spec.lines, tags=spec.tags,
            external_id=spec.external_id, placed_at=spec.placed_at, **fields,
        )
        # Each action writes one version of the order; remember when it "happened".
        version_times = [spec.placed_at]
        edit_times = []
        for step, at in zip(spec.path, spec.step_times, strict=True):
            if step in ("mark_ready", "restock"):
                # Routing chose a warehouse and a carrier, then stock was reserved there.
                changes = {"warehouse": warehouses[spec.warehouse_code], "carrier": spec.carrier}
                if "ship" in spec.path:
                    changes["tracking_number"] = spec.tracking_number
                order = order_update(order=order, actor=ACTOR, changes=changes,
                                     reason="routing (demo)")
                edit_at = at - dt.timedelta(minutes=5)
                version_times.append(edit_at)
                edit_times.append(edit_at)
                result = self._demo("warehouse").allocate(
                    order=order, warehouse=changes["warehouse"], actor=ACTOR)
                if not result.ok:
                    raise CommandError(f"demo stock ran out for {order.number}: {result.error}")
                order = result.order
            else:
                order = order_transition(order=order, name=step, actor=ACTOR,
                                         reason=_reason(step, rng))
            version_times.append(at)
        self._backdate(order, spec, version_times, edit_times)
        if order.shipped_at:
            self._history_was_written_back(order)

    def _history_was_written_back(self, order: Order) -> None:
        """Demo history predates the hub: the platform learnt of these shipments back then.

        Without this every seeded shipment would be pushed to the sandbox, which
        has never heard of the seeded orders, and show up as a failed write-back.
        """
        ShipmentPush = apps.get_model("channels", "ShipmentPush")
        shipped_at = Order.objects.filter(pk=order.pk).values_list("shipped_at", flat=True).get()
        ShipmentPush.objects.filter(order=order, status=ShipmentPush.Status.PENDING).update(
            status=ShipmentPush.Status.SENT, sent_at=shipped_at)

    def _backdate(self, order: Order, spec: OrderSpec, version_times, edit_times) -> None:
        step_at = dict(zip(spec.path, spec.step_times, strict=True))
        stamps = {
            "created_at": spec.placed_at,
            "paid_at": step_at.get("pay"),
            "shipped_at": step_at.get("ship"),
            "delivered_at": step_at.get("deliver"),
            "completed_at": step_at.get("complete"),
            "cancelled_at": step_at.get("cancel") or step_at.get("intercept"),
        }
        Order.objects.filter(pk=order.pk).update(updated_at=version_times[-1], **stamps)
        # Row by row: a handful of rows per order, and plain UPDATEs are far
        # cheaper than bulk_update's CASE expressions.
        log_ids = OrderTransitionLog.objects.filter(order=order).order_by("id")
        for log_id, at in zip(log_ids.values_list("id", flat=True), spec.step_times, strict=True):
            OrderTransitionLog.objects.filter(pk=log_id).update(created_at=at)
        event_ids = OrderEvent.objects.filter(order=order).order_by("id")
        for event_id, at in zip(event_ids.values_list("id", flat=True),
                                [spec.placed_at, *edit_times], strict=True):
            OrderEvent.objects.filter(pk=event_id).update(created_at=at)
        # The model's own manager: each ``Order.history`` access builds a new manager class.
        versions = Order.history.model._default_manager
        for version, at in zip(versions.filter(id=order.pk).order_by("history_id"),
                               version_times, strict=True):
            # A version shows the stamps it had then: those set by then, moved back too.
            moved = {name: value for name, value in stamps.items()
                     if getattr(version, name) is not None}
            versions.filter(pk=version.pk).update(history_date=at, **moved)
        OrderLine.history.filter(order_id=order.pk).update(history_date=spec.placed_at)
