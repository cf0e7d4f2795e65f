"""The class 1 test bed: spandsp's own T.31 modem emulation on a pty (drivers/modem/virtual/t31.py), its line to a
spandsp fax terminal, checked by efax in class 1 (real class 1 software: it runs T.30 over +FTM/+FRM/+FTH/+FRH).
This is the independent modem Hotline's class 1 driver is tested against (test_fax_class1.py)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hotline.drivers.modem.virtual.t31 import CALL, T31Line
from hotline.fax.documents import Resolution, to_fax_tiff
from hotline.fax.t4 import read_t4_pages, write_t4_tiff
from hotline.fax.tiff import page_bitmaps

SPEED = 2.0   # line time runs at twice real time: efax keeps T.30's timing in real time, more makes T.30 time out


def test_efax_class1_sends_a_page_through_spandsp_t31(tmp_path: Path) -> None:
    """efax -o1 dials through the T.31 modem, trains, sends one normal-resolution page; the far spandsp terminal
    ends T.30 with OK and its TIFF holds the page (below efax's 20-line header)."""
    efax = shutil.which("efax")
    if not efax:
        pytest.fail("efax is not installed: run scripts/setup-env test (it installs efax)")
    (tmp_path / "doc.txt").write_text("Hotline class 1 test page\n" * 10)
    to_fax_tiff(tmp_path / "doc.txt", tmp_path / "doc.tif", Resolution.NORMAL)
    (page,) = read_t4_pages(tmp_path / "doc.tif")
    write_t4_tiff(tmp_path / "page.tif", [page])
    line = T31Line(receive_tiff=str(tmp_path / "far.tif"), speed=SPEED)
    try:
        proc = subprocess.run([efax, "-d", line.path, "-o1", "-v", "ewinc", "-l", "+86 10 1234", "-t", "5550100",
                               str(tmp_path / "page.tif")], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert line.wait_far(10) == 0, f"far T.30 ended with {line.far_code}"
        assert (CALL, "5550100") in line.controls
        assert "received MCF - page OK" in proc.stderr and "+FTM=" in proc.stderr
    finally:
        line.close()
    (sent,) = page_bitmaps(tmp_path / "page.tif")
    (got,) = page_bitmaps(tmp_path / "far.tif")
    assert 0 < got.shape[0] - sent.shape[0] <= 20 and got.shape[1] == 1728   # efax's header lines on top
    assert got[:got.shape[0] - sent.shape[0]].any()
    assert np.array_equal(got[-1100:], sent[-1100:])         # the page itself, row for row
