"""Recording truth: disk full or an unwritable folder ends the recording with ``recording.failed`` and the length
the file really holds; the call goes on, the hang-up does not wait, the row is never left open."""
from __future__ import annotations

import signal
import subprocess
import time
import wave
from pathlib import Path

import pytest


@pytest.fixture
def small_disk(tmp_path: Path):
    """Mount a tmpfs of a given size (a disk that fills up, or turns read-only); unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size_kb: int) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"this test mounts a small tmpfs (needs root / CAP_SYS_ADMIN): {done.stderr.strip()}")
        mounted.append(where)
        return where
    yield mount
    for where in reversed(mounted):
        subprocess.run(["mount", "-o", "remount,rw", str(where)], capture_output=True)
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _box_on(make_box, disk: Path, state: Path | None = None):
    return make_box({"paths": {"recordings": str(disk)}, "engine": {"recording_min_free_mb": 0}}, state=state)


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def _row(box, call_uuid: str) -> dict:
    with box.db() as con:
        row = con.execute("SELECT * FROM recordings WHERE call_uuid = ?", (call_uuid,)).fetchone()
    return dict(row) if row is not None else {}


def _hang_up_timed(box, cid: str) -> float:
    started = time.monotonic()
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)
    box.cdr(cid, timeout=15)
    return time.monotonic() - started


def test_disk_full_mid_call_ends_the_recording_with_its_true_length_and_the_call_goes_on(make_box,
                                                                                      small_disk) -> None:
    """The finding: disk full, the row said 17.3 s while the file held 7.7 s and no event said so. Now the
    journal says recording.failed (no space) with the seconds the WAV holds, the row says the same, the call
    stays up, and its CDR points at the kept audio."""
    disk = small_disk(160)
    box = _box_on(make_box, disk)
    cid = box.call(frm="13700000091")
    box.wait(cid, "answered")
    failed = box.wait_event(cid, "recording.failed", timeout=30)["data"]
    assert "No space left" in failed["reason"], failed
    assert box.state(cid)["state"] == "answered", "the call did not go on"
    assert _hang_up_timed(box, cid) < 5
    path = Path(failed["path"])
    held = _wav_seconds(path)
    assert failed["kept"] is True and held > 2.0, failed
    row = _row(box, cid)
    assert row["state"] == "failed" and abs(row["duration"] - held) < 0.01, (row, held)
    assert abs(failed["seconds"] - held) < 0.01
    assert box.cdr(cid)["recording"] == str(path)
    assert not list(disk.rglob("*.part"))
    kinds = [e["kind"] for e in box.state(cid)["events"]]
    assert "recording.closed" not in kinds and kinds[-1] == "call.ended"


def test_unwritable_recordings_folder_fails_the_recording_at_once_and_rows_are_never_left_open(
        make_box, small_disk, hotline_bin, tmp_path) -> None:
    """The finding: with the folder unwritable rows stayed open (even after restart), delete answered 409 and
    each hang-up waited 10 s for its CDR. Now the recording fails with the reason, hang-ups are quick, the
    row is failed and deletable, and rows a crash left open are settled at the next start."""
    disk = small_disk(1024)
    state = tmp_path / "state"
    box = _box_on(make_box, disk, state)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    cids = []
    for i in range(2):
        cid = box.call(frm=f"1370000009{i}")
        box.wait(cid, "answered")
        failed = box.wait_event(cid, "recording.failed", timeout=20)["data"]
        assert "Read-only" in failed["reason"] and failed["kept"] is False, failed
        assert _hang_up_timed(box, cid) < 5, "the hang-up waited for the recording"
        assert _row(box, cid)["state"] == "failed"
        cids.append(cid)
    out = subprocess.run([hotline_bin, "-c", str(box.d.config), "user", "add", "sue", "--role", "supervisor",
                          "--token"], env=box.d.env, capture_output=True, text=True, check=True).stdout
    sup = type(box)(box.d, out.strip().splitlines()[-1])
    got = sup.api("DELETE", f"/recordings/{_row(box, cids[0])['id']}")
    assert got["_status"] == 200 and got["state"] == "deleted", got

    box.d.proc.send_signal(signal.SIGKILL)
    box.d.proc.wait(10)
    subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    kept = disk / "2020" / "01" / "01" / "kept.wav"  # a recording closed just before a crash lost its row update
    kept.parent.mkdir(parents=True)
    with wave.open(str(kept), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 12000)
    with box.db() as con:
        for uuid, path in (("left-open-missing", disk / "2020" / "01" / "01" / "gone.wav"), ("left-open-kept", kept)):
            con.execute("INSERT INTO recordings (call_uuid, path, started_at, channels, state) VALUES (?, ?, ?, 1, "
                        "'open')", (uuid, str(path), time.time() - 60))
    box2 = _box_on(make_box, disk, state)
    with box2.db() as con:
        states = {r[0]: (r[1], r[2]) for r in con.execute("SELECT call_uuid, state, duration FROM recordings")}
    assert states["left-open-missing"] == ("failed", 0.0)
    assert states["left-open-kept"] == ("closed", 1.5)
    assert not [u for u, (s, _) in states.items() if s == "open"], states
    with box2.db() as con:
        kinds = [r[0] for r in con.execute("SELECT kind FROM events WHERE call_uuid = 'left-open-missing'")]
    assert kinds == ["recording.failed"]
