"""Which hub SKU a platform line stands for.

Everything that decides "is this SKU known?" lives behind ``SkuResolver`` so the
check can move to the warehouse's SKU catalogue without touching the pipeline:
today a line is known when the channel maps it (platform SKU or listing id), or
when the warehouse app has a SKU model holding that code.
"""

from __future__ import annotations

from django.apps import apps
from django.db.models import Q

from channels.models import SkuMapping


def listing_key(listing_id: str) -> str:
    return f"listing:{listing_id}" if listing_id else ""


def hub_skus_existing(codes: set[str]) -> set[str]:
    """The subset of ``codes`` that the hub's SKU catalogue knows (empty if no catalogue yet)."""
    if not codes:
        return set()
    try:
        sku_model = apps.get_model("warehouse", "Sku")
    except LookupError:
        return set()
    return set(sku_model.objects.filter(code__in=codes).values_list("code", flat=True))


class SkuResolver:
    """Resolve platform lines of one channel; caches the lookups of one batch."""

    def __init__(self, channel):
        self.channel = channel
        self._mapped: dict[str, str] = {}
        self._hub: dict[str, bool] = {}

    def prefetch(self, lines) -> None:
        keys = set()
        for line in lines:
            if line.platform_sku:
                keys.add(line.platform_sku)
            if line.listing_id:
                keys.add(listing_key(line.listing_id))
        missing = keys - set(self._mapped)
        if missing:
            rows = SkuMapping.objects.filter(
                Q(channel=self.channel) & Q(platform_sku__in=missing)
            ).values_list("platform_sku", "hub_sku")
            found = dict(rows)
            for key in missing:
                self._mapped[key] = found.get(key, "")
        plain = {line.platform_sku for line in lines if line.platform_sku} - set(self._hub)
        if plain:
            known = hub_skus_existing(plain)
            for code in plain:
                self._hub[code] = code in known

    def resolve(self, line) -> str | None:
        """The hub SKU code for ``line``, or None when nobody knows it."""
        self.prefetch([line])
        if line.platform_sku and self._mapped.get(line.platform_sku):
            return self._mapped[line.platform_sku]
        if line.listing_id and self._mapped.get(listing_key(line.listing_id)):
            return self._mapped[listing_key(line.listing_id)]
        if line.platform_sku and self._hub.get(line.platform_sku):
            return line.platform_sku
        return None

    @staticmethod
    def label(line) -> str:
        return line.platform_sku or listing_key(line.listing_id) or line.external_line_id
