"""Human labels for the kinds of ``OrderEvent`` the timeline shows.

The core knows its own kinds only. Each app that writes order events declares
its kinds' labels in an ``order_events`` module of its own, calling
``register_event_kinds``; the modules are found at start-up like ``admin``
modules are (``autodiscover``), so the core shows every kind translated
without importing the apps.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.module_loading import autodiscover_modules

_LABELS: dict[str, str | Promise] = {}


def register_event_kinds(labels: dict[str, str | Promise]) -> None:
    """Declare labels (``gettext_lazy``) for event kinds; a kind is declared once."""
    for kind, label in labels.items():
        if kind in _LABELS and _LABELS[kind] != label:
            raise ValueError(f"order event kind {kind!r} is already declared")
        _LABELS[kind] = label


def event_kind_label(kind: str) -> str:
    """The kind's label in the active language; an undeclared kind reads as words."""
    label = _LABELS.get(kind)
    return str(label) if label is not None else kind.replace("_", " ")


def declared_event_kinds() -> dict[str, str | Promise]:
    return dict(_LABELS)


def autodiscover() -> None:
    """Import every installed app's ``order_events`` module (called from ``ready``)."""
    autodiscover_modules("order_events")
