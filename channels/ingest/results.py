"""Ingest outcomes: the counters every ingest path returns, and the actor it writes as."""

from __future__ import annotations

from dataclasses import dataclass, field

from channels.models import Channel, RawPayload

CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"
# A payload older than what the order holds: archived, applied to nothing (counted unchanged).
STALE = "stale"


@dataclass
class IngestResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    order_ids: list[int] = field(default_factory=list)
    # Legacy imports only: orders older than the window, newly archived / already archived.
    archived: int = 0
    archived_unchanged: int = 0

    def add(self, outcome: str, *, raw: RawPayload | None = None, order_id=None) -> None:
        if outcome == STALE:
            outcome = UNCHANGED
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome == REJECTED and raw is not None:
            self.errors.append((raw.pk, raw.error))
        if order_id and outcome in (CREATED, UPDATED):
            self.order_ids.append(order_id)

    def merge(self, other: IngestResult) -> None:
        for name in (CREATED, UPDATED, UNCHANGED, REJECTED):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)
        self.order_ids.extend(other.order_ids)

    def as_dict(self) -> dict:
        return {CREATED: self.created, UPDATED: self.updated, UNCHANGED: self.unchanged,
                REJECTED: self.rejected}


def actor_for(channel: Channel) -> str:
    return f"system:ingest:{channel.code}"

