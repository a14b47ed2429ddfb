"""Carrier adapters, chosen by ``CarrierAccount.kind``."""

from __future__ import annotations

from fulfillment.shipping.carriers.base import (
    Booking,
    CarrierAdapter,
    CarrierAuthError,
    CarrierError,
    CarrierRefused,
    CarrierTimeout,
    Parcel,
    Party,
    TrackEvent,
)
from fulfillment.shipping.carriers.kuaidi100 import Kuaidi100Adapter
from fulfillment.shipping.carriers.sf import SfAdapter


class ManualAdapter(CarrierAdapter):
    """A carrier without an API: a person books it and types the tracking number in."""

    kind = "manual"


def get_adapter(account, **kwargs) -> CarrierAdapter:
    adapters = {"sf": SfAdapter, "kuaidi100": Kuaidi100Adapter, "manual": ManualAdapter}
    try:
        return adapters[account.kind](account, **kwargs)
    except KeyError as exc:
        raise CarrierRefused(f"unknown carrier kind {account.kind!r}") from exc


__all__ = [
    "Booking", "CarrierAdapter", "CarrierAuthError", "CarrierError", "CarrierRefused",
    "CarrierTimeout", "ManualAdapter", "Parcel", "Party", "TrackEvent", "get_adapter",
]
