"""External inventory (ERP) adapters: one class per kind, one narrow interface.

``adapter_for(source)`` picks the class by ``StockSource.kind``; domain code
only ever calls ``fetch_on_hand()``.
"""

from warehouse.adapters.base import StockAdapter, StockSourceError
from warehouse.adapters.kingdee import KingdeeAdapter
from warehouse.adapters.rest import RestAdapter

ADAPTERS: dict[str, type[StockAdapter]] = {
    "kingdee": KingdeeAdapter,
    "rest": RestAdapter,
}


def adapter_for(source, **kwargs) -> StockAdapter:
    try:
        cls = ADAPTERS[source.kind]
    except KeyError as exc:
        raise StockSourceError(f"No stock adapter for kind {source.kind!r}") from exc
    return cls(source, **kwargs)


__all__ = ["ADAPTERS", "StockAdapter", "StockSourceError", "adapter_for"]
