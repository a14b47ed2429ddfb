"""Amazon orders in the hub's shape: OrderStatus, items, buyer and address (Orders v0).

The mapping half of the Amazon connector (``AmazonOrderMapping``, mixed into
``AmazonConnector``): turning one order, as getOrders/getOrder and getOrderItems
answer it, into a ``NormalizedOrder``, and reading saved responses from files.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from channels.connectors.base import (
    CANCELLED,
    NOT_SHIPPED,
    PAID,
    PARTIALLY_SHIPPED,
    SHIPPED,
    UNPAID,
    NormalizationError,
    NormalizedLine,
    NormalizedOrder,
    is_gift_line,
    line_items,
    money,
    quantity,
    require,
    required_time,
    text,
    timestamp,
)
from channels.connectors.presale import promised_ship

# OrderStatus -> (hub status, how far the platform itself shipped it). The
# descriptions are the Orders v0 model's.
STATUS = {
    # Payment not authorized yet (PendingAvailability: a pre-order before release).
    "PendingAvailability": (UNPAID, NOT_SHIPPED),
    "Pending": (UNPAID, NOT_SHIPPED),
    "Unshipped": (PAID, NOT_SHIPPED),
    # "One or more (but not all) items ... shipped": each item's QuantityShipped says which.
    "PartiallyShipped": (PAID, PARTIALLY_SHIPPED),
    "Shipped": (PAID, SHIPPED),
    # "All items in the order have been shipped", only the invoice is unconfirmed: the
    # goods are gone, so the hub must never pick them again.
    "InvoiceUnconfirmed": (PAID, SHIPPED),
    "Canceled": (CANCELLED, NOT_SHIPPED),
    # "The order cannot be fulfilled" (Amazon-fulfilled orders placed off Amazon's site):
    # nobody will ship it, so it leaves every queue like a cancelled order, with a reason.
    "Unfulfillable": (CANCELLED, NOT_SHIPPED),
}


def quantity_shipped(value, what: str) -> int:
    if isinstance(value, bool) or not str(value).isdigit():
        raise NormalizationError(f"{what}.QuantityShipped is not a quantity: {value!r}"[:200])
    return int(str(value))


class AmazonOrderMapping:
    """``normalize`` and file import for ``AmazonConnector`` (needs ``gift_keywords``
    and ``pii_problem`` from it)."""

    pii_problem = ""

    def external_id(self, raw: dict) -> str:
        return text(require(raw, "AmazonOrderId"))

    def updated_at(self, raw: dict) -> dt.datetime | None:
        return timestamp(raw.get("LastUpdateDate"), "LastUpdateDate")

    def normalize(self, raw: dict) -> NormalizedOrder:
        external_id = self.external_id(raw)
        status_text = text(raw.get("OrderStatus"))
        if status_text not in STATUS:
            known = ", ".join(STATUS)
            raise NormalizationError(f"unknown OrderStatus “{status_text}” (Amazon documents "
                                     f"{known})"[:300])
        status, fulfillment = STATUS[status_text]
        amazon_fulfilled = text(raw.get("FulfillmentChannel")) == "AFN"
        if amazon_fulfilled and status == PAID:
            # Fulfilled by Amazon (FBA): Amazon's warehouse ships it, never the seller's.
            fulfillment = SHIPPED
        keywords = self.gift_keywords()
        lines, items = [], raw.get("OrderItems")
        for what, item in line_items(raw, "OrderItems", missing=(
                "order has no OrderItems: give its getOrderItems response "
                "(import_orders --items FILE)")):
            qty = quantity(item.get("QuantityOrdered"), f"{what}.QuantityOrdered")
            price = item.get("ItemPrice")
            if price is not None and not isinstance(price, dict):
                raise NormalizationError(f"{what}.ItemPrice is not an object")
            # ItemPrice is the total for the quantity; absent while the order is Pending.
            priced = bool(price) and price.get("Amount") not in (None, "")
            line_total = money((price or {}).get("Amount"), f"{what}.ItemPrice")
            unit = (line_total / qty).quantize(money(0, ""))
            shipped = item.get("QuantityShipped")
            shipped = 0 if shipped in (None, "") else quantity_shipped(shipped, what)
            if fulfillment == SHIPPED:
                shipped = qty  # the whole order is gone (or Amazon ships it: FBA)
            name = text(item.get("Title"))
            lines.append(NormalizedLine(
                external_line_id=text(require(item, "OrderItemId", what)),
                platform_sku=text(item.get("SellerSKU")),
                listing_id=text(item.get("ASIN")),
                name=name,
                quantity=qty,
                unit_price=unit,
                shipped_quantity=min(shipped, qty),
                # A zero price only counts once Amazon sent prices (none while Pending).
                is_gift=is_gift_line(name, unit, keywords) or (priced and unit == 0),
            ))
        # Amazon links no gift to an item: it comes with the order's first paid item.
        main = next((ln.external_line_id for ln in lines if not ln.is_gift), "")
        for line in lines:
            if line.is_gift:
                line.gift_for = main
        total = raw.get("OrderTotal") or {}
        address = raw.get("ShippingAddress") or {}
        buyer = raw.get("BuyerInfo") or {}
        if not all(isinstance(x, dict) for x in (total, address, buyer)):
            raise NormalizationError("OrderTotal / ShippingAddress / BuyerInfo is not an object")
        placed = required_time(timestamp(raw.get("PurchaseDate"), "PurchaseDate"),
                               "PurchaseDate")
        currency = text(total.get("CurrencyCode") or next(
            ((it.get("ItemPrice") or {}).get("CurrencyCode") for it in items
             if (it.get("ItemPrice") or {}).get("CurrencyCode")), "USD"))
        marketplace = text(raw.get("MarketplaceId"))
        # OrderType "Preorder": its LatestShipDate (end of the window the seller
        # committed to ship in, ISO 8601) is the promised ship date.
        preorder = text(raw.get("OrderType")) == "Preorder"
        extra = {"fulfillment_channel": text(raw.get("FulfillmentChannel")),
                 "marketplace_id": marketplace, "order_status": status_text}
        if self.pii_problem and not address.get("AddressLine1"):
            extra["pii_problem"] = self.pii_problem
        return NormalizedOrder(
            external_id=external_id,
            status=status,
            fulfillment=fulfillment if status == PAID else NOT_SHIPPED,
            updated_at=self.updated_at(raw),
            placed_at=placed,
            lines=lines,
            currency=currency[:3],
            total=money(total.get("Amount"), "OrderTotal.Amount") if total else None,
            shipping_fee=sum((money((it.get("ShippingPrice") or {}).get("Amount"),
                                    "ShippingPrice") for it in items), start=money(0, "")),
            buyer_name=text(buyer.get("BuyerName")),
            buyer_email=text(buyer.get("BuyerEmail")),
            buyer_phone=text(address.get("Phone")),
            ship_name=text(address.get("Name")),
            ship_phone=text(address.get("Phone")),
            ship_country=text(address.get("CountryCode")),
            ship_province=text(address.get("StateOrRegion")),
            ship_city=text(address.get("City")),
            ship_district=text(address.get("District") or address.get("County")),
            ship_street=" ".join(p for p in (text(address.get(f"AddressLine{n}"))
                                             for n in (1, 2, 3)) if p),
            ship_postcode=text(address.get("PostalCode")),
            cancel_reason=("Amazon: the order cannot be fulfilled (Unfulfillable)"
                           if status_text == "Unfulfillable" else ""),
            extra=extra,
            # Amazon gives no tracking number in Orders v0: no shipments to report.
            platform_data={"marketplace_id": marketplace,
                           "fulfillment_channel": text(raw.get("FulfillmentChannel")),
                           **(promised_ship(timestamp, raw.get("LatestShipDate"),
                                            "LatestShipDate") if preorder else {})},
            presale=preorder,
        )

    def orders_from_file(self, data) -> list[dict]:
        """A getOrders response, a list of orders, a getOrder response or one order."""
        if isinstance(data, dict) and isinstance(data.get("payload"), dict):
            payload = data["payload"]
            if isinstance(payload.get("Orders"), list):
                return payload["Orders"]
            if payload.get("AmazonOrderId"):
                return [payload]
        if isinstance(data, dict) and data.get("AmazonOrderId"):
            return [data]
        return super().orders_from_file(data)

    def attach_items(self, orders, items_data: list) -> Iterator:
        """Give each order its items from saved getOrderItems responses (matched by
        AmazonOrderId; pages of one order are joined). Orders that already carry
        OrderItems keep them. The item files are checked at once (NormalizationError),
        before any order is read."""
        return self._join_items(orders, self._items_by_order(items_data))

    @staticmethod
    def _items_by_order(items_data: list) -> dict[str, list]:
        by_order: dict[str, list] = {}
        for data in items_data:
            for response in data if isinstance(data, list) else [data]:
                payload = response.get("payload") if isinstance(response, dict) else None
                if not isinstance(payload, dict) or not payload.get("AmazonOrderId") or \
                        not isinstance(payload.get("OrderItems"), list):
                    raise NormalizationError("an items file holds something other than "
                                             "getOrderItems responses (payload.AmazonOrderId "
                                             "and payload.OrderItems)")
                known = by_order.setdefault(str(payload["AmazonOrderId"]), [])
                ids = {item.get("OrderItemId") for item in known if isinstance(item, dict)}
                known.extend(item for item in payload["OrderItems"]
                             if not (isinstance(item, dict) and item.get("OrderItemId") in ids))
        return by_order

    @staticmethod
    def _join_items(orders, by_order: dict[str, list]) -> Iterator:
        for order in orders:
            if isinstance(order, str):
                try:
                    order = json.loads(order)
                except ValueError:
                    yield order  # quarantined as it is, with the parser's reason
                    continue
            if isinstance(order, dict) and not order.get("OrderItems") and \
                    str(order.get("AmazonOrderId")) in by_order:
                order = {**order, "OrderItems": by_order[str(order["AmazonOrderId"])]}
            yield order
