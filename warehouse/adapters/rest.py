"""A generic JSON REST stock API: configurable URL and field paths.

Options (``StockSource.options``), paths are dotted (``data.items``):
- ``items_path``: where the list of stock rows is (empty: the body is the list).
- ``sku_field`` (default ``sku``) and ``quantity_field`` (default ``quantity``).
- Paging, one of: ``next_path`` (a next-page URL in the body; absent/null ends),
  or ``page_param`` (+ optional ``page_size_param``/``page_size``; an empty or
  short page ends).
- ``auth_header`` (default ``Authorization``) and ``auth_prefix`` (default
  ``Bearer ``); the token is ``StockSource.secret``.
- ``params``: extra query parameters.
"""

from __future__ import annotations

from collections import defaultdict

import httpx

from warehouse.adapters.base import (
    MAX_PAGES,
    StockAdapter,
    StockSourceError,
    dig,
    status_error,
    to_units,
    unreachable,
)


class RestAdapter(StockAdapter):
    def _headers(self) -> dict:
        headers = {"Accept": "application/json"}
        secret = self.secret
        if secret:
            name = self.options.get("auth_header", "Authorization")
            headers[name] = self.options.get("auth_prefix", "Bearer ") + secret
        return headers

    def _get(self, url: str, params: dict | None):
        try:
            response = self.client.get(url, params=params, headers=self._headers(),
                                       **self.request_timeout("Stock API"))
        except httpx.HTTPError as exc:
            raise unreachable("Stock API", exc) from exc
        if response.status_code != 200:
            raise status_error("Stock API", response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise StockSourceError("Stock API answered something that is not JSON") from exc

    def fetch_on_hand(self) -> dict[str, int]:
        opts = self.options
        sku_field = opts.get("sku_field", "sku")
        qty_field = opts.get("quantity_field", "quantity")
        page_param = opts.get("page_param")
        page_size = int(opts.get("page_size", 0) or 0)
        params = dict(opts.get("params") or {})
        if page_param and opts.get("page_size_param") and page_size:
            params[opts["page_size_param"]] = page_size
        url = self.source.base_url
        totals: dict[str, int] = defaultdict(int)
        page = int(opts.get("first_page", 1))
        for _n in range(MAX_PAGES):
            if page_param:
                params[page_param] = page
            body = self._get(url, params or None)
            items = dig(body, opts.get("items_path", ""))
            if not isinstance(items, list):
                raise StockSourceError(
                    f"Stock API: no list at {opts.get('items_path') or 'the top level'}"
                )
            for n, item in enumerate(items):
                code = dig(item, sku_field)
                if code in (None, ""):
                    raise StockSourceError(f"Stock API row {n}: no {sku_field}")
                totals[str(code)] += to_units(dig(item, qty_field), where=f"Stock API {code}")
            if opts.get("next_path"):
                url = dig(body, opts["next_path"])
                if not url:
                    return dict(totals)
                params = {}  # the next link carries its own query
            elif page_param:
                if not items or (page_size and len(items) < page_size):
                    return dict(totals)
                page += 1
            else:
                return dict(totals)
        raise StockSourceError("Stock API kept sending pages; stopped")
