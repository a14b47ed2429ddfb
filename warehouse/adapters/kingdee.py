"""Kingdee K/3 Cloud (金蝶云星空) WebAPI: login with a cookie session, then
``ExecuteBillQuery`` on ``STK_Inventory`` (即时库存), paged by StartRow/Limit.

Options (``StockSource.options``):
- ``acctid`` (required): the data centre (账套) id.
- ``auth``: ``"password"`` (default, ValidateUser) or ``"appsecret"`` (LoginByAppSecret,
  with ``appid`` in options and the app secret in ``StockSource.secret``).
- ``stock_number``: only this K/3 warehouse (``FStockId.FNumber``); all when empty.
- ``page_size``: rows per page, at most 2000.

``fetch_on_hand_for(codes)`` asks the same query for a few material numbers
only (``FMaterialId.FNumber in (...)``): the per-order stock check at allocation.
"""

from __future__ import annotations

from collections import defaultdict

import httpx

from warehouse.adapters.base import (
    MAX_PAGES,
    StockAdapter,
    StockSourceError,
    status_error,
    to_units,
    unreachable,
)

SERVICE = "Kingdee.BOS.WebApi.ServicesStub"
LOGIN_PASSWORD = f"{SERVICE}.AuthService.ValidateUser.common.kdsvc"
LOGIN_APPSECRET = f"{SERVICE}.AuthService.LoginByAppSecret.common.kdsvc"
QUERY = f"{SERVICE}.DynamicFormService.ExecuteBillQuery.common.kdsvc"
FIELD_KEYS = "FMaterialId.FNumber,FBaseQty,FStockId.FNumber"
LCID_ZH_CN = 2052


class KingdeeAdapter(StockAdapter):
    def __init__(self, source, **kwargs):
        super().__init__(source, **kwargs)
        base = source.base_url.rstrip("/")
        if not base.endswith("/k3cloud"):
            base += "/k3cloud"
        self.base = base + "/"
        self.logged_in = False

    def _post(self, service: str, body: dict):
        try:
            response = self.client.post(self.base + service, json=body,
                                        **self.request_timeout("Kingdee"))
        except httpx.HTTPError as exc:
            raise unreachable("Kingdee", exc) from exc
        if response.status_code != 200:
            raise status_error("Kingdee", response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise StockSourceError("Kingdee answered something that is not JSON") from exc

    def login(self) -> None:
        acctid = self.options.get("acctid")
        if not acctid:
            raise StockSourceError("Kingdee needs the data centre id (options.acctid)")
        if self.options.get("auth") == "appsecret":
            service = LOGIN_APPSECRET
            body = {"acctid": acctid, "username": self.source.username,
                    "appid": self.options.get("appid", ""), "appsecret": self.secret,
                    "lcid": LCID_ZH_CN}
        else:
            service = LOGIN_PASSWORD
            body = {"acctid": acctid, "username": self.source.username,
                    "password": self.secret, "lcid": LCID_ZH_CN}
        result = self._post(service, body)
        if not isinstance(result, dict) or result.get("LoginResultType") != 1:
            message = result.get("Message") if isinstance(result, dict) else None
            raise StockSourceError(f"Kingdee login failed: {message or 'unknown reason'}")
        # The session lives in the client's cookie jar (kdservice-sessionid, ASP.NET_SessionId).
        self.logged_in = True

    def query_page(self, start: int, limit: int, codes: list[str] | None = None) -> list[list]:
        stock = self.options.get("stock_number", "")
        filters = ["FBaseQty<>0"]
        if stock:
            filters.append(f"FStockId.FNumber={quoted(stock)}")
        if codes is not None:
            filters.append(f"FMaterialId.FNumber in ({','.join(quoted(c) for c in codes)})")
        body = {"data": {
            "FormId": "STK_Inventory", "FieldKeys": FIELD_KEYS,
            "FilterString": " and ".join(filters), "OrderString": "FMaterialId.FNumber",
            "TopRowCount": 0, "StartRow": start, "Limit": limit,
        }}
        rows = self._post(QUERY, body)
        raise_for_errors(rows)
        if not isinstance(rows, list):
            raise StockSourceError("Kingdee query answered an unexpected shape")
        return rows

    def fetch_on_hand(self) -> dict[str, int]:
        return self._read(None)

    def fetch_on_hand_for(self, codes: list[str]) -> dict[str, int]:
        if not codes:
            return {}
        figures = self._read(sorted(set(codes)))
        # The query skips zero rows: a code it did not list holds nothing.
        return {code: figures.get(code, 0) for code in codes}

    def _read(self, codes: list[str] | None) -> dict[str, int]:
        if not self.logged_in:
            self.login()
        limit = max(1, min(int(self.options.get("page_size", 2000)), 2000))
        totals: dict[str, int] = defaultdict(int)
        for page in range(MAX_PAGES):
            rows = self.query_page(page * limit, limit, codes)
            for n, row in enumerate(rows):
                if not isinstance(row, list) or len(row) < 2 or not row[0]:
                    raise StockSourceError(f"Kingdee row {page * limit + n}: unexpected {row!r}")
                totals[str(row[0])] += to_units(row[1], where=f"Kingdee {row[0]}")
            if len(rows) < limit:
                return dict(totals)
        raise StockSourceError("Kingdee kept sending pages; stopped")


def quoted(value: str) -> str:
    """A string literal for Kingdee's SQL-like FilterString."""
    return "'{}'".format(str(value).replace("'", "''"))


def raise_for_errors(payload) -> None:
    """Kingdee reports failures inside the result array, with HTTP 200:
    ``[[{"Result": {"ResponseStatus": {"IsSuccess": false, "Errors": [...]}}}]]``
    (also seen without the outer list, or as a bare ``{"Result": ...}``).
    """
    node = payload
    while isinstance(node, list) and len(node) == 1:
        node = node[0]
    if isinstance(node, list) and node and isinstance(node[0], dict):
        node = node[0]
    if not isinstance(node, dict):
        return
    status = (node.get("Result") or {}).get("ResponseStatus") or node.get("ResponseStatus")
    if status and not status.get("IsSuccess", False):
        messages = [e.get("Message") for e in status.get("Errors") or [] if e.get("Message")]
        code = status.get("ErrorCode")
        raise StockSourceError(f"Kingdee error {code}: {'; '.join(messages) or 'no message'}")
