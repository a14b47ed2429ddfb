"""Spreadsheet-safe cells: text from buyers and platforms never runs as a formula.

Every CSV or XLSX the hub writes passes its cells through here (one place, so a
new export cannot forget it). A buyer name such as ``=HYPERLINK("http://…","Click")``
would otherwise become a live formula when finance opens the file in Excel or
LibreOffice (CSV injection, OWASP).

- CSV: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return gets a leading apostrophe, as OWASP advises; spreadsheets show the text
  and do not evaluate it.
- XLSX: text is written as an explicit string cell (never a formula or an error
  value), and such a cell also carries Excel's "quote prefix" style, the same as
  typing ``'=…`` by hand: the value stays exactly what the buyer typed and stays
  text even when someone edits the cell.
- Numbers (``int``, ``Decimal``, ``float``) stay numbers, and text that is only a
  number (``-12.50``, ``+86``) is left alone: it cannot hold a formula.

defusedcsv does the CSV half but not the OWASP list (no tab or carriage return)
and rewrites ``|`` inside cells, so the few lines are ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Plain numbers, optionally signed, with thousands commas, decimals or an exponent.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def is_formula_like(value: str) -> bool:
    """True for text a spreadsheet could take for a formula when the file is opened."""
    return value[:1] in FORMULA_STARTS and _PLAIN_NUMBER.fullmatch(value) is None


def csv_cell(value):
    """One CSV cell, neutralised: formula-like text gets a leading apostrophe."""
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value


def csv_row(row: Iterable) -> list:
    return [csv_cell(value) for value in row]


def xlsx_row(sheet, row: Iterable) -> list:
    """One row for a write-only ``sheet``: text stays text, numbers stay numbers.

    Most cells are passed through (openpyxl writes ordinary text as a string
    cell already); only text openpyxl would turn into a formula or an error
    value, or that looks like a formula, becomes an explicit, quote-prefixed
    string cell: a cell object for every value would slow the million-row
    export for nothing.
    """
    cells = []
    for value in row:
        if isinstance(value, str) and (is_formula_like(value) or value in ERROR_CODES):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            cell.quotePrefix = True
            value = cell
        cells.append(value)
    return cells
