"""Class 2 / 2.0 fax in the virtual modem, checked by efax (real fax software nobody here wrote) on the emulator's
pty: efax sends a 2-page document to the far fax machine and receives one from it, in both classes, and every
page arrives pixel for pixel. Plus the spelling rules of the two classes, byte by byte."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from hotline.drivers.modem import virtual
from hotline.drivers.modem.virtual import CallState
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


@pytest.mark.parametrize("profile,option", [("conexant", "2"), ("usr", "0")], ids=["class2", "class2.0"])
def test_efax_receives_two_pages_from_the_emulator(profile: str, option: str, document, efax: str,
                                                   tmp_path: Path) -> None:
    """efax -r answers a ringing fax call: +FCON/+FTSI/+FDCS, two +FDR pages with DLE shielding, +FHNG:0.

    The Rockwell profile sends class 2 page data MSB first as those chipsets do (efax's default expects it);
    class 2.0 follows +FBO=0."""
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


# -- HylaFAX's faxgetty receives (class 2) ----------------------------------------------------------------------
FAXGETTY_CONFIG = """\
ModemType: Class2
Class2Cmd: AT+FCLASS=2
Class2BORCmd: AT+FBOR=0
Class2AbortCmd: AT+FK
Class2DCCQueryCmd: AT+FDCC=?
Class2TBCCmd: AT+FTBC=0
Class2CRCmd: AT+FCR=1
Class2PHCTOCmd: AT+FPHCTO=30
Class2BUGCmd: AT+FBUG=1
Class2LIDCmd: AT+FLID
Class2DCCCmd: AT+FDCC
Class2DISCmd: AT+FDIS
Class2CIGCmd: AT+FCIG
Class2PTSCmd: AT+FPTS
Class2SPLCmd: AT+FSPL
CountryCode: 86
AreaCode: 10
FAXNumber: +86.10.5555.0123
LongDistancePrefix: 0
InternationalPrefix: 00
LocalIdentifier: "+86 10 5555 0123"
ServerTracing: 0xFFF
SessionTracing: 0xFFF
RingsBeforeAnswer: 1
ModemRate: 38400
ModemFlowControl: xonxoff
ModemResetDelay: 100
ModemSoftResetCmdDelay: 100
FaxRcvdCmd: /bin/true
"""


def test_faxgetty_receives_two_pages_from_the_emulator(document, tmp_path: Path) -> None:
    """HylaFAX's faxgetty (run directly on a throwaway spool, as TEST-PEERS.md says) initialises the class 2
    modem with its stock class 2 commands, answers the ringing fax call, takes 2 pages (MCF each) and files
    them in recvq as one TIFF equal to the document, pixel for pixel."""
    import os
    import pwd

    faxgetty = shutil.which("faxgetty") or "/usr/sbin/faxgetty"
    assert os.path.exists(faxgetty), "faxgetty missing: run scripts/setup-env test (it installs hylafax-server)"
    assert os.geteuid() == 0, "faxgetty needs root (a /dev link, /var/lock, a spool owned by uucp)"
    tiff, _singles, source = document
    dev = f"ttyVMfg{os.getpid()}"
    top = Path(tempfile.mkdtemp(prefix="hotline-faxgetty-"))   # faxgetty runs as uucp: a path it can walk
    top.chmod(0o755)
    spool = top / "spool"
    for sub in ("etc", "recvq", "log", "status", "tmp", "info", "client", "bin"):
        (spool / sub).mkdir(parents=True)
    (spool / "etc" / f"config.{dev}").write_text(FAXGETTY_CONFIG)
    uucp = pwd.getpwnam("uucp")
    for path in [spool, *spool.rglob("*")]:
        os.chown(path, uucp.pw_uid, uucp.pw_gid)
    lock = Path(f"/var/lock/LCK..{dev}")
    lock.unlink(missing_ok=True)
    runner = PtyModem("conexant", f"faxgetty-{dev}", link=f"/dev/{dev}")
    proc = subprocess.Popen([faxgetty, "-q", str(spool), f"/dev/{dev}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    status = spool / "status" / dev
    try:
        runner.far.fax = FarFax(ident="+86 10 5555 0199")
        runner.far.fax.load(tiff)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if status.exists() and "idle" in status.read_text(errors="replace").lower():
                break
            time.sleep(0.05)
        assert "idle" in status.read_text().lower(), f"faxgetty never got the modem ready: {status.read_text()!r}"
        runner.far.ring(caller_id="5551234", rings=20)
        assert runner.far.fax.wait_finished(1, 20), "the far machine never got +FHNG:0 after EOP"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not list((spool / "recvq").glob("fax*.tif")):
            time.sleep(0.05)
        received = [tmp_path / "received.tif"]
        for path in (spool / "recvq").glob("fax*.tif"):
            shutil.copyfile(path, received[0])
        log = "\n".join(p.read_text(errors="replace") for p in (spool / "log").glob("c*"))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            proc.wait(10)
        runner.close()
        lock.unlink(missing_ok=True)
        shutil.rmtree(top, ignore_errors=True)
    assert received[0].exists(), log[-3000:]
    assert log.count("RECV send MCF") == 2 and 'REMOTE TSI "+86 10 5555 0199"' in log
    assert "RECV: 2292 total lines, 0 bad lines" in log
    got = page_bitmaps(received[0])
    assert len(got) == 2 and all(np.array_equal(a, b) for a, b in zip(source, got))


# -- Hotline's driver receiving from the emulator (no pty: the pyserial URL) ----------------------------------------
@pytest.mark.parametrize("profile", ["conexant", "usr"], ids=["class2", "class2.0"])
def test_the_driver_receives_two_pages_from_a_ringing_call(profile: str, document) -> None:
    """Class2Fax.receive: ATA in the fax class, two +FDR pages, +FHNG:0 / +FHS:00; pages pixel for pixel (the
    Rockwell profile's MSB-first class 2 data turned back by the profile's quirk)."""
    from hotline.drivers.common.t4 import write_t4_tiff as write
    from hotline.drivers.modem.faxclass2 import Class2Fax
    from hotline.drivers.modem.port import Port
    from hotline.drivers.modem.profiles import PROFILES, Quirk

    tiff, _singles, source = document
    virtual.register()
    name = f"drv-rx-{profile}"
    far = virtual.far_end(name)
    far.fax = FarFax(ident="+86 10 5555 0188")
    far.fax.load(tiff)
    port = Port(f"virtualmodem://{profile}?name={name}")
    port.open()
    try:
        far.ring(caller_id=None, rings=20)
        result = Class2Fax(port).receive(rx_msb=bool(PROFILES[profile].quirks & Quirk.CLASS2_RX_MSB))
    finally:
        port.close()
        virtual.forget(name)
    assert (result.fclass, result.hangup, result.remote_ident) == ({"conexant": "2", "usr": "2.0"}[profile], 0,
                                                                  "+86 10 5555 0188")
    out = Path(tempfile.mkdtemp()) / "rx.tif"
    write(out, result.received)
    got = page_bitmaps(out)
    assert len(got) == 2 and all(np.array_equal(a, b) for a, b in zip(source, got))


def test_the_emulator_switches_a_voice_call_to_fax_on_ata() -> None:
    """On a call answered in voice, the far machine's CNG is DLE c; the DTE's AT+FCLASS=2 and ATA
    start the answering fax handshake on the same call (+FCON, +FTSI); with no fax machine there ATA is T1."""
    virtual.register()
    port = serial.serial_for_url("virtualmodem://conexant?name=switch2", timeout=0.05)
    far = virtual.far_end("switch2")
    try:
        assert "OK" in _at(port, "ATE0")
        assert "OK" in _at(port, "AT+FCLASS=8")
        far.ring(caller_id=None, rings=20)
        time.sleep(0.1)
        assert "OK" in _at(port, "AT+VLS=1") and far.state is CallState.CONNECTED    # off hook in voice
        far.fax = FarFax(to_send=[])
        far.cng()
        deadline, heard = time.monotonic() + 3, b""
        while time.monotonic() < deadline and b"\x10c" not in heard:
            heard += port.read(256)
        assert b"\x10c" in heard, "no DLE c for the far machine's CNG"
        assert "OK" in _at(port, "AT+FCLASS=2")
        assert "+FHNG:11" in _at(port, "ATA")          # a fax machine with nothing to send: T1
        assert far.state is CallState.IDLE
        far.fax = FarFax(ident="+86 1", to_send=[_a_page()])
        far.ring(caller_id=None, rings=20)
        time.sleep(0.1)
        assert "OK" in _at(port, "AT+FCLASS=8") and "OK" in _at(port, "AT+VLS=1")
        assert far.state is CallState.CONNECTED
        assert "OK" in _at(port, "AT+FCLASS=2")
        answer = _at(port, "ATA")
        assert "+FCON" in answer and '+FTSI:"+86 1"' in answer, answer
    finally:
        port.close()
        virtual.forget("switch2")


def _a_page():
    from hotline.drivers.common.t4 import T4Page
    return T4Page(bytes(8), 1728, True)
