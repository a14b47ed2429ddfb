"""System texts stored in the source language, shown in the viewer's language.

Ticket titles, waybill errors, transition reasons and seeded carrier names are
written by background code (Celery, receivers, demo data) in the site language
(``settings.LANGUAGE_CODE``, English by default) and stored as plain text.
Storing a message key + parameters would need a model change in every app that
writes such texts (tickets, shipping, orderhub's transition log) at once; until
then they are translated when DISPLAYED by matching the stored English source:

- a text that is itself an msgid ("paid on the platform") goes through gettext;
- a text built from a declared parametrised msgid ("Parcel stalled: %(number)s
  (%(tracking)s)") is matched back to it, and the translated msgid is filled with
  the same parameters (those named in ``TRANSLATED_PARAMS`` — labels, not data —
  are translated themselves).

Existing rows keep working; a text that matches nothing is shown as stored.
Apps declare their parametrised msgids with ``register_stored_texts`` (wrapped
in ``gettext_noop`` so makemessages keeps them in the catalogue).
"""

import functools
import re

from django.utils.translation import gettext

_PATTERNS: list[str] = []
# Parameters holding a label (an order status, a pick problem's kind, a seeded
# carrier name) or a nested system text (a pause reason), not data.
TRANSLATED_PARAMS = frozenset({"status", "problem", "carrier", "reason"})
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def register_stored_texts(*msgids: str) -> None:
    """Declare parametrised English msgids that are stored filled in."""
    for msgid in msgids:
        if msgid not in _PATTERNS:
            _PATTERNS.append(msgid)
            _compiled.cache_clear()


@functools.cache
def _compiled() -> tuple:
    compiled = []
    for msgid in _PATTERNS:
        parts, pos, names = [], 0, []
        for match in _PLACEHOLDER.finditer(msgid):
            parts.append(re.escape(msgid[pos:match.start()]))
            name = match.group(1)
            # A name used twice must hold the same text both times.
            parts.append(f"(?P={name})" if name in names else f"(?P<{name}>.+?)")
            names.append(name)
            pos = match.end()
        parts.append(re.escape(msgid[pos:]))
        compiled.append((re.compile("".join(parts) + r"\Z", re.DOTALL), msgid))
    # The most specific (longest literal text) first: "Sync paused: %(name)s" must
    # not be taken by a shorter pattern that also matches.
    compiled.sort(key=lambda item: -len(_PLACEHOLDER.sub("", item[1])))
    return tuple(compiled)


def translate_stored(text) -> str:
    """``text`` (stored in English) in the active language; unchanged if unknown."""
    if not text:
        return text or ""
    text = str(text)
    translated = gettext(text)
    if translated != text:
        return translated
    # Of the declared texts that match, take the reading that leaves the least text
    # untranslated: "%(reason)s — sync problems: %(url)s" around a pause reason beats
    # "... Last error: %(error)s" swallowing the link into its error.
    best = None
    for pattern, msgid in _compiled():
        match = pattern.match(text)
        if match is None:
            continue
        raw = sum(len(value) for name, value in match.groupdict().items()
                  if name not in TRANSLATED_PARAMS)
        if best is None or raw < best[0]:
            best = (raw, msgid, match)
    if best is not None:
        _raw, msgid, match = best
        params = {name: (translate_stored(value) if name in TRANSLATED_PARAMS else value)
                  for name, value in match.groupdict().items()}
        try:
            return gettext(msgid) % params
        except (KeyError, ValueError, TypeError):
            # A translation that lost a placeholder: the stored text is still right.
            return text
    return text


def translate_change_reason(text) -> str:
    """A version's change reason ("pay: paid on the platform": a transition's code,
    kept, and its stored reason, translated)."""
    head, sep, tail = str(text or "").partition(": ")
    if sep and head.isidentifier():
        return f"{head}: {translate_stored(tail)}"
    return translate_stored(text)


# The order timeline's parametrised reasons and messages, written by the ingest,
# review, payment, change-request and stock services (their exact-text reasons,
# e.g. "paid on the platform", need no declaration: gettext finds them as they are).
register_stored_texts(
    "updated on the platform: %(fields)s",
    "approved by %(user)s",
    "paused by %(user)s",
    "Not paid within %(minutes)s minutes.",
    "Change request #%(id)s: %(reason)s",
    "Intercept request #%(id)s approved: %(reason)s",
    "Verified at the packing bench: %(n)s units.",
    "The platform could not be told about the shipment: %(error)s",
    "Authentication failed: %(error)s",
    "%(n)s polls in a row failed. Last error: %(error)s",
    "The platform cancelled this order after picking started (%(status)s). Stop the parcel "
    "and cancel it with “intercept”.",
    "order %(number)s",
)
