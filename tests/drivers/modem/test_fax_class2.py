"""Class 2 / 2.0 fax in the virtual modem, checked by efax (real fax software nobody here wrote) on the emulator's
pty: efax sends a 2-page document to the far fax machine and receives one from it, in both classes, and every
page arrives pixel for pixel. Plus the spelling rules of the two classes, byte by byte."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from hotline.drivers.modem import virtual
from hotline.drivers.modem.virtual.far_fax import FarFax
from hotline.drivers.modem.virtual.ptyrun import PtyModem
from hotline.fax.documents import Resolution, to_fax_tiff
from hotline.fax.t4 import read_t4_pages, write_t4_tiff
from hotline.fax.tiff import page_bitmaps, read_pages

EFAX_HEADER_ROWS = 20    # efax puts 20 scan lines above each sent page
EFAX_HEADER_END = 28     # and ORs its header text into scan lines 4-27 (the first 8 rows of the image too)


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> tuple[Path, list[Path], list[np.ndarray]]:
    """A 2-page TIFF-F made by ghostscript, the same pages one file each (as efax wants), and their bitmaps."""
    work = tmp_path_factory.mktemp("class2doc")
    (work / "doc.txt").write_text("Hotline class 2 test, page one\n" * 12 + "\f" + "and this is page two\n" * 7)
    tiff = work / "doc.tif"
    to_fax_tiff(work / "doc.txt", tiff, Resolution.FINE)
    singles = []
    for n, page in enumerate(read_t4_pages(tiff), 1):
        singles.append(work / f"page{n}.tif")
        write_t4_tiff(singles[-1], [page])
    return tiff, singles, page_bitmaps(tiff)


@pytest.fixture(scope="module")
def efax() -> str:
    path = shutil.which("efax")
    if not path:
        pytest.fail("efax is not installed: run scripts/setup-env test (it installs efax)")
    return path


def _run_efax(argv: list[str], runner: PtyModem) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"efax failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.parametrize("profile,option", [("conexant", "2"), ("usr", "0")], ids=["class2", "class2.0"])
def test_efax_sends_two_pages_through_the_emulator(profile: str, option: str, document, efax: str,
                                                    tmp_path: Path) -> None:
    """efax -t: dials, the far machine answers with CSI/DIS, efax sends 2 pages, both arrive unchanged."""
    tiff, singles, source = document
    runner = PtyModem(profile, f"efax-send-{profile}")
    try:
        runner.far.fax = FarFax(ident="+86 10 5555 0100")
        proc = _run_efax([efax, "-d", runner.path, f"-o{option}", "-v", "ewinc", "-l", "+86 10 1234",
                          "-t", "5550100", *map(str, singles)], runner)
        assert runner.far.dialled == ["5550100"]
        assert runner.far.fax.wait_finished(1, 5)
        assert 'remote ID -> "+86 10 5555 0100"' in proc.stderr
        assert f"in class {'2.0' if option == '0' else '2'}" in proc.stderr
        assert runner.far.fax.save_received(tmp_path / "got.tif") == 2
    finally:
        runner.close()
    got = page_bitmaps(tmp_path / "got.tif")
    assert [p.y_dpi for p in read_pages(tmp_path / "got.tif")] == [196.0, 196.0]
    for sent, page in zip(source, got):
        assert page.shape == (sent.shape[0] + EFAX_HEADER_ROWS, 1728)
        assert page[:EFAX_HEADER_ROWS].any(), "efax's header line is missing"
        overlap = EFAX_HEADER_END - EFAX_HEADER_ROWS
        assert np.array_equal(page[EFAX_HEADER_END:], sent[overlap:])
        assert not (sent[:overlap] & ~page[EFAX_HEADER_ROWS:EFAX_HEADER_END]).any()


@pytest.mark.parametrize("profile,option", [("conexant", "2r"), ("usr", "0")], ids=["class2", "class2.0"])
def test_efax_receives_two_pages_from_the_emulator(profile: str, option: str, document, efax: str,
                                                   tmp_path: Path) -> None:
    """efax -r answers a ringing fax call: +FCON/+FTSI/+FDCS, two +FDR pages with DLE shielding, +FHNG:0.

    Class 2 runs with efax's -o r: this emulator follows +FBOR=0 both ways (efax's default expects the bit
    reversal of old Rockwell class 2 receivers)."""
    tiff, _singles, source = document
    runner = PtyModem(profile, f"efax-recv-{profile}")
    try:
        runner.far.fax = FarFax(ident="+86 10 5555 0199")
        assert runner.far.fax.load(tiff) == 2
        runner.far.ring(caller_id=None, rings=20)
        proc = _run_efax([efax, "-d", runner.path, f"-o{option}", "-v", "ewinc", "-r", str(tmp_path / "rx")],
                         runner)
        assert runner.far.fax.wait_finished(1, 5)
        assert 'remote ID -> "+86 10 5555 0199"' in proc.stderr
        assert proc.stderr.count("received 2292 lines, 0 errors") == 2
    finally:
        runner.close()
    files = sorted(tmp_path.glob("rx.*"))
    assert [f.name for f in files] == ["rx.001", "rx.002"]
    for sent, name in zip(source, files):
        (page,) = page_bitmaps(name)
        assert np.array_equal(page, sent)


# -- the two spellings, byte by byte (no pty) -----------------------------------------------------------------
def _at(port: serial.SerialBase, command: str, wait: float = 0.3) -> str:
    port.write(command.encode() + b"\r")
    deadline = time.monotonic() + wait
    out = b""
    while time.monotonic() < deadline and not out.rstrip().endswith((b"OK", b"ERROR", b"NO CARRIER")):
        out += port.read(256)
    return out.decode("latin-1")


def test_class2_and_class20_spellings_are_kept_apart() -> None:
    """+FDCC/+FLID/+FK exist only in class 2, +FCC/+FLI/+FKS only in 2.0; a chipset without a class refuses it."""
    virtual.register()
    try:
        conexant = serial.serial_for_url("virtualmodem://conexant?name=spell2", timeout=0.05)
        usr = serial.serial_for_url("virtualmodem://usr?name=spell20", timeout=0.05)
        assert "OK" in _at(conexant, "ATE0")
        assert "OK" in _at(usr, "ATE0")
        assert "ERROR" in _at(conexant, "AT+FCLASS=2.0")      # this chipset has class 2, not 2.0
        assert "ERROR" in _at(usr, "AT+FCLASS=2")
        assert "OK" in _at(conexant, "AT+FCLASS=2")
        assert "OK" in _at(usr, "AT+FCLASS=2.0")
        assert "OK" in _at(conexant, "AT+FDCC=0,3,0,2,0,0,0,0")
        assert "0,3,0,2,0,0,0,0" in _at(conexant, "AT+FDIS?")
        assert "ERROR" in _at(conexant, "AT+FCC=1")
        assert "ERROR" in _at(usr, "AT+FDCC=1")
        assert "OK" in _at(usr, 'AT+FLI="+86 1"')
        assert '"+86 1"' in _at(usr, "AT+FLI?")
        assert "ERROR" in _at(usr, 'AT+FLID="+86 1"')
        assert "ERROR" in _at(conexant, "AT+FDT")             # no call: nothing to send to
        # a voice caller answers the fax call: no T.30, T1 expires; class 2 says it in decimal, 2.0 in hex
        for port, name, expect in ((conexant, "spell2", "+FHNG:11"), (usr, "spell20", "+FHS:0B")):
            far = virtual.far_end(name)
            port.write(b"ATDT5\r")
            assert far.wait_dialled(5) == "5"
            far.answer()
            deadline, out = time.monotonic() + 5, b""
            while b"NO CARRIER" not in out and time.monotonic() < deadline:
                out += port.read(256)
            assert expect.encode() in out and b"NO CARRIER" in out, out
        conexant.close()
        usr.close()
    finally:
        virtual.forget("spell2")
        virtual.forget("spell20")
