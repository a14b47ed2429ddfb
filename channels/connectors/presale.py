"""The promised ship date a connector keeps for a presale order.

``warehouse.services.presale`` reads it from ``Order.platform_data`` under
``PROMISED_SHIP_DATE`` (an ISO date-time) before falling back to the SKUs'
presale dates. A date the platform sends garbled is left out rather than
failing the order: the SKU date, or a date set by hand, still applies.
"""

from __future__ import annotations

import datetime as dt

from channels.connectors.base import NormalizationError

# Same key as warehouse.services.presale.PLATFORM_KEY (a test keeps them equal;
# not imported, so the connectors stay free of the warehouse app).
PROMISED_SHIP_DATE = "promised_ship_date"


def promised_ship(parse, value, what: str) -> dict:
    """``{PROMISED_SHIP_DATE: ISO date-time}`` from ``parse(value, what)``, or ``{}``."""
    try:
        when = parse(value, what)
    except NormalizationError:
        return {}
    if not isinstance(when, dt.datetime):
        return {}
    return {PROMISED_SHIP_DATE: when.isoformat()}
