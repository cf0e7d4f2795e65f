"""The streamed XLSX of a report export: the same sheet as the one-piece writer, readable as a zip, in chunks."""
from __future__ import annotations

import io
import zipfile

from hotline.webadmin.xlsx import StreamingSheet, sheet_xml, workbook


def test_a_sheet_written_in_chunks_is_the_sheet_written_at_once() -> None:
    header = ["Time", "Caller", "Duration (s)", "Short", "Note", "Empty", "Last"]
    rows = [["2026-03-04 09:15:30", "13800000001", 65.5, False, "a <b> & c", None, 3],
            ["2026-03-04 09:15:23", "13800000002", 12, True, "中文", "", 0.1]] * 700
    sheet = StreamingSheet("Calls", "2026-03-04 – 2026-03-04 (Asia/Shanghai)", header)
    body = b"".join(sheet.rows(rows[k:k + 500]) for k in range(0, len(rows), 500)) + sheet.close()
    z = zipfile.ZipFile(io.BytesIO(body))
    assert z.testzip() is None
    streamed = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
    whole = sheet_xml("Calls", "2026-03-04 – 2026-03-04 (Asia/Shanghai)", header, rows)
    start = "<sheetData>"
    assert streamed[streamed.index(start):] == whole[whole.index(start):]
    once = zipfile.ZipFile(io.BytesIO(workbook([("Calls", "x", header, rows)])))
    assert sorted(z.namelist()) == sorted(once.namelist())
    assert z.read("xl/workbook.xml") == once.read("xl/workbook.xml")
