"""File imports: platform-native JSON (streamed), JSON lines, and CSV/XLSX exports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext as _

from channels.connectors import NormalizationError, normalizer_for
from channels.csv_import import csv_import
from channels.ingest.batch import ingest_items
from channels.ingest.raw import quarantine, store_raw
from channels.ingest.results import REJECTED, IngestResult
from channels.models import Channel, RawPayload


def _jsonl_items(path: Path) -> Iterator[str]:
    with path.open("rb") as fh:
        for line in fh:
            line = line.strip()
            if line:
                yield line.decode("utf-8", errors="replace")


def _first_byte(path: Path) -> bytes:
    with path.open("rb") as fh:
        while chunk := fh.read(4096):
            chunk = chunk.lstrip(b" \t\r\n\xef\xbb\xbf")  # a BOM is common from Windows tools
            if chunk:
                return chunk[:1]
    return b""


@dataclass
class StreamFailure:
    error: Exception | None = None


# Read this much of a file at a time when streaming a JSON list.
STREAM_CHUNK_CHARS = 1 << 20


def json_list_items(path: Path, failure: StreamFailure) -> Iterator:
    """The items of a file holding one JSON list, decoded one at a time.

    Each item goes through the standard library's decoder, so it comes out
    exactly as ``json.loads`` gives it (numbers of any size, floats...) and a
    payload's stored text and hash are the same as when it arrives by poll.
    Memory holds one chunk of the file and the item being read, never the
    whole file. A syntax error (a truncated file) ends the stream and is kept
    in ``failure``; the items before it were yielded.
    """
    decoder = json.JSONDecoder()
    with path.open("r", encoding="utf-8-sig") as fh:
        buf, pos, eof = "", 0, False

        def more() -> bool:
            nonlocal buf, pos, eof
            chunk = "" if eof else fh.read(STREAM_CHUNK_CHARS)
            eof = not chunk
            buf, pos = buf[pos:] + chunk, 0
            return bool(chunk)

        def next_char() -> str:
            # The next non-blank character (not consumed), or "" at the end of the file.
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf) or not more():
                    return buf[pos:pos + 1]

        count = 0
        try:
            if next_char() != "[":
                raise ValueError("the file does not start with a JSON list")
            pos += 1
            if next_char() == "]":
                pos += 1
            else:
                while True:
                    next_char()
                    while True:
                        try:
                            item, end = decoder.raw_decode(buf, pos)
                        except json.JSONDecodeError:
                            if more():
                                continue  # the item goes on in the next chunk
                            raise
                        if not buf[end:].strip("0123456789.eE+-") and more():
                            continue  # the chunk may have cut a number: "12" of "12.5"
                        break
                    pos = end
                    count += 1
                    yield item
                    separator = next_char()
                    pos += 1
                    if separator == "]":
                        break
                    if separator != ",":
                        raise ValueError(f"expected “,” or “]” after an item, not {separator!r}"
                                         if separator else "the file ends inside the list")
            if next_char():
                raise ValueError("extra data after the list")
        except (ValueError, UnicodeDecodeError) as exc:
            failure.error = ValueError(f"{exc} (orders read before it: {count})")


def json_list_problem(path: Path) -> Exception | None:
    """Read a JSON list file to its end without keeping anything: the error that ends it
    early (a truncated file, a broken item, extra data), or None when it reads whole."""
    failure = StreamFailure()
    for _item in json_list_items(path, failure):
        pass
    return failure.error


def _reject_file(channel: Channel, path: Path, error, *, nothing_imported: bool = True
                 ) -> IngestResult:
    # Kept whole, so a person can see (and replay after a fix) what the file held.
    raw, _created = store_raw(channel=channel, body=path.read_bytes(),
                              source=RawPayload.Source.IMPORT)
    if raw.status != RawPayload.Status.PROCESSED:
        message = _("The file %(name)s cannot be read: %(error)s") % {
            "name": path.name, "error": error}
        if nothing_imported:
            message = "{} {}".format(message, _("Nothing from it was imported."))
        quarantine(raw, message)
    result = IngestResult()
    result.add(REJECTED, raw=raw)
    return result


def _read_items_files(paths) -> list:
    """The parsed item files (``import_orders --items``), each whole."""
    loaded = []
    for item_path in paths:
        try:
            loaded.append(json.loads(Path(item_path).read_bytes()))
        except (OSError, ValueError) as exc:
            raise NormalizationError(
                _("The items file %(name)s cannot be read: %(error)s")
                % {"name": Path(item_path).name, "error": exc}) from exc
    return loaded


def import_file(*, channel: Channel, path: Path, all_or_nothing: bool = False,
                workers: int = 1, items_paths=()) -> IngestResult:
    """Import a file of platform-native orders (JSON list / list response / one order /
    JSON lines).

    JSON lines and a top-level JSON list are streamed, a batch of orders at a
    time, so memory stays flat however big the file is. A platform list
    response (an object holding one page of orders) or a single order object
    is read whole. A JSON list is read to its end once before anything is
    taken in: a truncated or broken one imports nothing and is rejected whole,
    saying where it broke (a JSON lines file is a set of separate records: a
    broken line is rejected alone and reported with its reason, the others are
    imported). ``workers`` > 1 ingests the batches in that many processes
    (PostgreSQL only). ``items_paths``: files of the platform's separate item
    responses (Amazon getOrderItems), joined to their orders before ingest;
    raises NormalizationError when the channel's platform has no such files or
    one cannot be read (nothing is imported then).
    """
    if channel.platform == Channel.Platform.CSV:
        outcome = csv_import(channel=channel, path=path, all_or_nothing=all_or_nothing)
        outcome.result.archived = outcome.archived
        outcome.result.archived_unchanged = outcome.archived_unchanged
        return outcome.result
    normalizer = normalizer_for(channel)
    join_items = None
    if items_paths:
        if not hasattr(normalizer, "attach_items"):
            raise NormalizationError(_("This channel's orders carry their own items: "
                                       "--items is only for Amazon channels."))
        items_data = _read_items_files(items_paths)

        def join_items(orders):
            return normalizer.attach_items(orders, items_data)
    else:
        def join_items(orders):
            return orders

    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return ingest_items(channel=channel, items=join_items(_jsonl_items(path)),
                            source=RawPayload.Source.IMPORT, normalizer=normalizer,
                            workers=workers)
    if _first_byte(path) == b"[":
        # All or nothing: a file cut off in the middle (an interrupted copy or
        # download) must not leave its first orders in and the rest silently out.
        # The extra read costs ~2% of the import: decoding only, ~15 µs an order
        # against ~850 µs to take it in.
        problem = json_list_problem(path)
        if problem is not None:
            return _reject_file(channel, path, problem)
        failure = StreamFailure()
        result = ingest_items(channel=channel, items=join_items(json_list_items(path, failure)),
                              source=RawPayload.Source.IMPORT, normalizer=normalizer,
                              workers=workers)
        if failure.error is not None:  # the file changed between the two reads
            result.merge(_reject_file(channel, path, failure.error, nothing_imported=False))
        return result
    body = path.read_bytes()
    try:
        data = json.loads(body)
    except ValueError as exc:
        return _reject_file(channel, path, exc)
    try:
        orders = normalizer.orders_from_file(data)
    except NormalizationError as exc:
        if not isinstance(data, dict):
            return _reject_file(channel, path, exc)
        # Not a list response the connector knows: one order object, for every platform
        # (normalize then says clearly what is wrong if it is not an order either).
        orders = [data]
    return ingest_items(channel=channel, items=join_items(orders),
                        source=RawPayload.Source.IMPORT, normalizer=normalizer)


