"""Connectors: one class per platform, chosen by the channel's ``platform``."""

from __future__ import annotations

from django.utils.module_loading import import_string

from channels.connectors.base import (
    AuthError,
    Connector,
    ConnectorError,
    FetchedPage,
    NormalizationError,
    NormalizedLine,
    NormalizedOrder,
    PermanentError,
    ShipmentResult,
)

CONNECTORS = {
    "shopify": "channels.connectors.shopify.ShopifyConnector",
    "woocommerce": "channels.connectors.woocommerce.WooCommerceConnector",
    "amazon": "channels.connectors.amazon.AmazonConnector",
    "taobao": "channels.connectors.taobao.TaobaoConnector",
    "pinduoduo": "channels.connectors.pinduoduo.PinduoduoConnector",
    "douyin": "channels.connectors.douyin.DouyinConnector",
    "youzan": "channels.connectors.youzan.YouzanConnector",
}


# Channels fed by files: their payloads are normalized by a class named here (by import
# path, so this package imports nothing above it), not by an API connector.
NORMALIZERS = {
    "csv": "channels.csv_import.CsvNormalizer",
}


class NoConnector(Exception):
    pass


def get_connector(channel, **kwargs) -> Connector:
    """The connector for ``channel``'s platform (kwargs: client, sleep... for tests)."""
    path = CONNECTORS.get(channel.platform)
    if not path:
        raise NoConnector(f"No API connector for platform “{channel.platform}”.")
    return import_string(path)(channel, **kwargs)


def normalizer_for(channel):
    """The object that turns this channel's payloads into NormalizedOrders."""
    path = NORMALIZERS.get(channel.platform)
    if path:
        return import_string(path)(channel)
    return get_connector(channel)


__all__ = [
    "AuthError",
    "Connector",
    "ConnectorError",
    "FetchedPage",
    "NoConnector",
    "NormalizationError",
    "NormalizedLine",
    "NormalizedOrder",
    "PermanentError",
    "ShipmentResult",
    "get_connector",
    "normalizer_for",
]
