"""The column-at-a-time export encoders write exactly what a cell at a time writes: CSV cells through
``export_cell``, XLSX cells through ``_cell_body`` (formulas neutralised, XML escaped, bad characters dropped,
None and "" as empty cells), and a spreadsheet reader reads the same values back."""
from __future__ import annotations

import csv
import io
import zipfile

from hotline.webadmin.handlers.reports import CsvSink, export_cell, export_columns, export_lines
from hotline.webadmin.xlsx import StreamingSheet, _cell_body, columns_xml, rows_xml

TEXTS = ["plain", "=SUM(A1:A2)", "+1", "-3", "@x", "\tindent", "\rcr", "a\r\nb", "<b> & 'q' \"d\"", "中文", "",
         None, " lead", "x\x01y", "\x00", "'=quoted", "None", "100%", "%s %d %r"]
NUMBERS = [0, -1, 12, 2 ** 40, 0.1, -0.0, 1e-7, 65.5, None]
COLUMNS = {
    "texts": TEXTS,
    "safe texts": ["2026-03-04", "ann", "", None, "中文", "a & b"] * 3,
    "numbers": NUMBERS,
    "whole numbers": [1, 2, 3, 4, 5],
    "booleans": [True, False, None, True],
    "mixed": [1, "two", 3.5, None, True, "=4", {"k": "v"}, [1, 2], ""],
    "nested": [{"a": 1}, ["=x"], {}, None],
}


def _lines(columns: list[list]) -> list[list]:
    """Rows as long as the longest column (short columns padded with None)."""
    n = max(map(len, columns))
    return [[c[i] if i < len(c) else None for c in columns] for i in range(n)]


def _one_at_a_time_xml(rows: list[list], first: int) -> str:
    return "".join(f'<row r="{r}">' + "".join("<c/>" if v is None or v == "" else _cell_body(v) for v in row)
                   + "</row>" for r, row in enumerate(rows, first))


def test_every_kind_of_column_encodes_as_a_cell_at_a_time() -> None:
    for kind, column in COLUMNS.items():
        for others in ([], [NUMBERS], [TEXTS, NUMBERS]):
            rows = _lines([column, *others])
            columns = [list(c) for c in zip(*rows)]
            want = [[export_cell(v) for v in row] for row in rows]
            assert [list(r) for r in zip(*export_columns(columns))] == want, kind
            assert [list(r) for r in export_lines(rows)] == want, kind
            assert columns_xml(export_columns(columns), 5) == _one_at_a_time_xml(want, 5), kind
            assert rows_xml(want, 7) == _one_at_a_time_xml(want, 7), kind
    ragged = [["a", 1], ["=b"], [None, 2.5, "c"]]
    assert rows_xml(ragged, 5) == _one_at_a_time_xml(ragged, 5)
    assert export_lines(ragged) == [[export_cell(v) for v in row] for row in ragged]
    assert columns_xml([], 5) == "" and columns_xml([[]], 5) == "" and export_columns([]) == []


def test_a_csv_written_by_columns_is_the_csv_written_by_rows() -> None:
    rows = _lines(list(COLUMNS.values()))
    want = [[export_cell(v) for v in row] for row in rows]
    by_rows = CsvSink(["h"] * len(rows[0]))
    by_columns = CsvSink(["h"] * len(rows[0]))
    columns = [list(c) for c in zip(*rows)]
    half = len(rows) // 2
    assert (by_rows.rows(want[:half]) + by_rows.rows(want[half:])
            == by_columns.columns(export_columns([c[:half] for c in columns]))
            + by_columns.columns(export_columns([c[half:] for c in columns])))
    sink = CsvSink(["Name", "Calls"])
    table = list(csv.reader(io.StringIO(sink.columns(export_columns([["=1+1", "ann"], [2, None]])).decode("utf-8-sig"))))
    assert table == [["Name", "Calls"], ["'=1+1", "2"], ["ann", ""]]


def test_a_spreadsheet_reads_back_the_values_written_by_columns() -> None:
    from openpyxl import load_workbook
    texts = ["ann", "=HYPERLINK(\"x\")", "a < b & c", "中文", None, "", "\tx", "-5"]
    numbers = [1, 2.5, None, -3, 0, 10 ** 12, 0.25, 7]
    sheet = StreamingSheet("Agents", "2026-03-04 – 2026-03-04 (Asia/Shanghai)", ["Name", "Figure"])
    body = sheet.columns(export_columns([texts[:4], numbers[:4]])) + sheet.columns(
        export_columns([texts[4:], numbers[4:]])) + sheet.close()
    ws = load_workbook(io.BytesIO(body)).active
    got = [[c.value for c in row] for row in ws.iter_rows(min_row=5, max_col=2)]
    want = [[None if t in (None, "") else export_cell(t), n] for t, n in zip(texts, numbers)]
    assert got == want
    assert ws["A1"].value == "Agents" and ws["A4"].value == "Name" and ws.max_row == 4 + len(texts)
    assert zipfile.ZipFile(io.BytesIO(body)).testzip() is None
