"""A small fake platform for channel-service tests: a live order store and a connector.

The connector subclasses the shared ``Connector`` and keeps the ``FetchedPage``
cursor contract the honest way, so the poll's cursor rules can be tested without
any real platform's connector (those are being changed elsewhere).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from channels.connectors.base import (
    PAID,
    Connector,
    ConnectorError,
    FetchedPage,
    NormalizationError,
    NormalizedLine,
    NormalizedOrder,
    ShipmentResult,
    timestamp,
)


class FakeStore:
    """A platform's orders, changed while a scan runs; its clock moves a second per write."""

    def __init__(self, start: dt.datetime):
        self.now = start
        self.orders: dict[int, dict] = {}

    def put(self, order_id: int, street: str = "世纪大道100号") -> dict:
        self.now += dt.timedelta(seconds=1)
        order = {"id": order_id, "updated_at": self.now.isoformat(), "street": street,
                 "sku": "CUP-1", "qty": 1}
        self.orders[order_id] = order
        return order

    def changed_since(self, since: dt.datetime | None, until: dt.datetime | None = None):
        for order_id in sorted(self.orders):
            order = self.orders[order_id]
            updated = dt.datetime.fromisoformat(order["updated_at"])
            if (since is None or updated >= since) and (until is None or updated < until):
                yield dict(order)


class FakeConnector(Connector):
    """Pages through the store's orders changed since ``since``, sorted by id.

    ``mode="scan"``: offset pages over the live list; only the last page carries a
    watermark (the time the scan began). ``mode="windows"``: consecutive time
    windows of ``window`` seconds up to the scan's start, each page's watermark its
    window's end. ``between_pages(n)`` runs after page ``n`` (1-based) was handed
    out: the platform's data changes mid-scan. ``stop_after`` ends the fetch early
    (a spent rate budget); ``fail_after`` raises ``fail_with`` instead of the next
    page.
    """

    platform = "shopify"

    def __init__(self, channel, store: FakeStore, *, mode: str = "scan", page_size: int = 2,
                 window: int = 60, between_pages=None, stop_after: int | None = None,
                 fail_after: int | None = None, fail_with: Exception | None = None,
                 watermark_shift: dt.timedelta = dt.timedelta(0)):
        super().__init__(channel)
        self.store = store
        self.mode = mode
        self.page_size = page_size
        self.window = dt.timedelta(seconds=window)
        self.between_pages = between_pages or (lambda n: None)
        self.stop_after = stop_after
        self.fail_after = fail_after
        self.fail_with = fail_with or ConnectorError("HTTP 503", status_code=503)
        self.watermark_shift = watermark_shift
        self.calls: list[dt.datetime | None] = []
        self.pushes: list[dict] = []
        self.push_results: list = []
        self.confirms: list = []
        self.confirm_results: list = []

    def fetch_orders(self, *, since):
        self.calls.append(since)
        began = self.store.now
        pages = self._scan(since, began) if self.mode == "scan" else self._windows(since, began)
        for number, page in enumerate(pages, start=1):
            if self.fail_after is not None and number > self.fail_after:
                raise self.fail_with
            if page.watermark is not None:
                page.watermark += self.watermark_shift
            yield page
            self.between_pages(number)
            if self.stop_after is not None and number >= self.stop_after:
                return

    def _scan(self, since, began):
        offset = 0
        while True:
            # The list is read again for every page, as a platform serves it.
            live = list(self.store.changed_since(since))
            page = live[offset:offset + self.page_size]
            offset += self.page_size
            last = offset >= len(live)
            yield FetchedPage(orders=page, watermark=began if last else None)
            if last:
                return

    def _windows(self, since, began):
        start = since
        while start < began:
            end = min(start + self.window, began)
            yield FetchedPage(orders=list(self.store.changed_since(start, end)), watermark=end)
            start = end

    def external_id(self, raw):
        return str(raw["id"])

    def updated_at(self, raw):
        return timestamp(raw.get("updated_at"), "updated_at")

    def normalize(self, raw):
        if not isinstance(raw, dict) or "id" not in raw or "sku" not in raw:
            raise NormalizationError("order has no “id” or “sku”")
        placed = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
        return NormalizedOrder(
            external_id=str(raw["id"]), status=PAID, updated_at=self.updated_at(raw),
            placed_at=placed, paid_at=placed,
            lines=[NormalizedLine(external_line_id="1", platform_sku=raw["sku"], name="保温杯",
                                  quantity=int(raw["qty"]), unit_price=Decimal("59.00"))],
            total=Decimal("59.00") * int(raw["qty"]), buyer_name="张三",
            buyer_phone="13800138000", ship_name="张三", ship_phone="13800138000",
            ship_country="CN", ship_province="上海市", ship_city="上海市",
            ship_district="浦东新区", ship_street=raw["street"], ship_postcode="200120")

    # --- write-back ------------------------------------------------------------------

    CARRIER_NAMES = {"SF": "Fake-SF", "ZTO": "Fake-ZTO"}

    def push_shipment(self, *, external_id, carrier, tracking_number, tracking_url="",
                      lines=None, platform_data=None):
        self.pushes.append({"external_id": external_id, "carrier": carrier,
                            "tracking_number": tracking_number, "lines": lines,
                            "platform_data": platform_data})
        result = self.push_results.pop(0) if self.push_results else ShipmentResult(
            ok=True, status_code=201)
        if isinstance(result, Exception):
            raise result
        return result

    def confirm_shipment(self, *, external_id, tracking_number, platform_data=None):
        self.confirms.append({"external_id": external_id, "tracking_number": tracking_number,
                              "platform_data": platform_data})
        result = self.confirm_results.pop(0) if self.confirm_results else None
        if isinstance(result, Exception):
            raise result
        return result

    def count_orders(self, *, start, end):
        return None
