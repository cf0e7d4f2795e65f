"""Flows and prompts through the panel's HTTP API, against a real daemon: invalid flows are refused at their line,
publish / roll back change what callers get (audited), dry runs run a flow through the simulated card, prompt
uploads are checked and converted, downloads cannot leave the prompts directory, record by phone saves the
prompt."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from hotline.daemon.box.abuse_probes import big_flow
from hotline.daemon.box.procwork import BIG
from hotline.daemon.media.wavio import parse_wav, wav_bytes

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-9"


@pytest.fixture(scope="session")
def tts_cache(tmp_path_factory) -> Path:
    """Speech made by espeak-ng once per run (each box links its prompts/cache here)."""
    return tmp_path_factory.mktemp("tts-cache")


@pytest.fixture
def panel(daemon_factory, tmp_path, hotline_bin, tts_cache, client, espeak):
    """A box with the shipped flows, routes (8001-8003) and prompt texts, its own prompts directory and the user
    admin; returns a logged-out client (``panel.add_user(name, role)`` adds more)."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "cache").symlink_to(tts_cache, target_is_directory=True)
    cfg = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())
    cfg["paths"].update(prompts=str(prompts), flows=str(REPO / "etc" / "flows"),
                        prompt_manifest=str(REPO / "etc" / "prompts" / "manifest.yaml"))
    config = tmp_path / "hotline.yaml"
    config.write_text(yaml.safe_dump(cfg))
    d = daemon_factory(config=config)

    def add_user(name: str, role: str) -> None:
        subprocess.run([hotline_bin, "-c", str(config), "user", "add", name, "--role", role, "--password-stdin",
                        "--language", "en_US"], input=PASSWORD + "\n", env=d.env, capture_output=True, text=True,
                       check=True, timeout=60)
    add_user("admin", "admin")
    panel = client(d.url)
    panel.add_user = add_user
    return panel


def wait_until(fn, timeout: float = 15.0, what: str = "condition"):
    """Poll fn() until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def steps(p, call_id: str) -> list[dict]:
    """The ivr.step data of a simulated call so far."""
    r = p.api("GET", f"/sim/calls/{call_id}")
    assert r.status == 200, r.text
    return [e["data"] for e in r.json()["events"] if e["kind"] == "ivr.step"]


def tone_wav(seconds: float, rate: int, channels: int = 1, freq: float = 440.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    mono = (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return wav_bytes(np.repeat(mono[:, None], channels, axis=1).reshape(-1), rate, channels)


def admin(panel):
    panel.login("admin")
    return panel


def line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def test_an_invalid_flow_is_refused_at_its_line_and_nothing_is_published(panel) -> None:
    p = admin(panel)
    flow = p.api("GET", "/flows/printer_support").json()
    assert flow["active_version"] == 1 and flow["routes"] == ["8001"] and flow["tree"]["start"] == "main"
    source = flow["source"]
    bad = source.replace('"2": dealers', '"2": dealerz')
    n = line_of(bad, "dealerz")
    r = p.api("POST", "/flows/printer_support/versions", {"source": bad, "publish": True})
    assert r.status == 400, r.text
    body = r.json()
    assert f"line {n}," in body["error"] and "nothing was saved" in body["error"]
    assert body["problems"][0]["line"] == n and "did you mean 'dealers'" in body["problems"][0]["message"]
    checked = p.api("POST", "/flows/printer_support/validate", {"source": bad}).json()
    assert not checked["ok"] and [x["line"] for x in checked["problems"]] == [n] and checked["tree"] is None
    # a YAML syntax error is reported at its line too
    broken = source.replace("  help:\n", "  help: [\n")
    m = line_of(broken, "help: [")
    r = p.api("POST", "/flows/printer_support/versions", {"source": broken, "publish": True})
    assert r.status == 400 and "YAML syntax error" in r.text and any(x["line"] >= m for x in r.json()["problems"])
    # another flow id in the file would create another flow: refused at the flow: line
    r = p.api("POST", "/flows/printer_support/versions", {"source": source.replace("flow: printer_support",
                                                                                   "flow: other_flow")})
    assert r.status == 400 and "line 2," in r.json()["error"], r.text
    after = p.api("GET", "/flows/printer_support").json()
    assert after["active_version"] == 1 and [v["version"] for v in after["versions"]] == [1]
    assert p.api("GET", "/audit?action=flow.").json()["total"] == 0
    # the pages show the flows and the editor (with the source escaped into the textarea)
    page = p.get("/config/flows")
    assert page.status == 200 and "printer_support" in page.text and "8001" in page.text
    edit = p.get("/config/flows/printer_support")
    assert edit.status == 200 and "&quot;2&quot;: dealers" in edit.text and 'id="keypad"' in edit.text
    assert p.get("/config/flows/no_such_flow").status == 404
    assert p.get("/config/flows?sort=name").status == 400
    for name, role in (("sup", "supervisor"), ("qa1", "qa")):
        panel.add_user(name, role)
        other = type(panel)(panel.base)
        other.login(name)
        assert other.get("/config/flows").status == 403 and other.api("GET", "/flows").status == 403


def test_publish_and_rollback_change_what_callers_get_and_are_audited(panel) -> None:
    p = admin(panel)
    source = p.api("GET", "/flows/printer_support").json()["source"]
    v2 = source.replace("    - time: {schedule: office, closed: after_hours, holiday: holiday}\n",
                        "    - hangup: goodbye\n")
    r = p.api("POST", "/flows/printer_support/versions", {"source": v2, "publish": True})
    assert r.status == 201, r.text
    assert r.json()["version"] == 2 and r.json()["published"] and r.json()["warnings"]  # unreachable blocks

    def call_8001() -> list[dict]:
        cid = p.api("POST", "/sim/calls", {"from": "13900000001", "to": "8001"}).json()["id"]
        trail = wait_until(lambda: [s for s in steps(p, cid) if s["step"] in ("time", "hangup")], what="the trail")
        p.api("DELETE", f"/sim/calls/{cid}")
        return trail
    assert call_8001()[0]["step"] == "hangup"                   # the new version answers new calls at once
    r = p.api("POST", "/flows/printer_support/activate", {"version": 1})
    assert r.status == 200 and r.json()["action"] == "flow.rolled_back" and r.json()["active_version"] == 1
    assert call_8001()[0]["step"] == "time"                     # back to the first version
    # a draft is saved without changing the active version; publishing it later makes it active
    v3 = source.replace('"9": help', '"9": faq')
    r = p.api("POST", "/flows/printer_support/versions", {"source": v3})
    assert r.status == 201 and r.json()["version"] == 3 and not r.json()["published"]
    assert r.json()["active_version"] == 1
    assert p.api("POST", "/flows/printer_support/versions", {"source": v3}).json()["created"] is False
    assert p.api("GET", "/flows/printer_support/versions/3").json()["source"] == v3
    r = p.api("POST", "/flows/printer_support/activate", {"version": 3})
    assert r.json()["action"] == "flow.published" and [v["active"] for v in r.json()["versions"]] == [False, False,
                                                                                                      True]
    listed = {f["name"]: f for f in p.api("GET", "/flows").json()["flows"]}
    assert listed["printer_support"]["active_version"] == 3 and listed["printer_support"]["versions"] == 3
    assert listed["printer_support"]["active_author"] == "admin" and listed["sales_desk"]["active_author"] == "file"
    audit = p.api("GET", "/audit?action=flow.&target=printer_support").json()["entries"]
    seen = [(e["action"], (e["before"] or {}).get("active_version"), (e["after"] or {}).get("active_version"))
            for e in reversed(audit) if e["action"] != "flow.saved"]
    assert seen == [("flow.published", 1, 2), ("flow.rolled_back", 2, 1), ("flow.published", 1, 3)]
    assert all(e["user"] == "admin" and e["address"] for e in audit)
    assert sum(1 for e in audit if e["action"] == "flow.saved") == 2
    assert p.api("POST", "/flows/printer_support/activate", {"version": 9}).status == 404
    assert p.api("POST", "/flows/printer_support/activate", {"version": "1"}).status == 400


def test_a_new_flow_from_a_template_runs_in_a_dry_run(panel) -> None:
    p = admin(panel)
    bad = p.post("/config/flows", {"name": "Bad Name", "template": "menu"})
    assert bad.status == 400 and "name: use 1-48 lower-case letters" in bad.text and 'value="Bad Name"' in bad.text
    taken = p.post("/config/flows", {"name": "sales_desk", "template": "menu"})
    assert taken.status == 400 and "exists already" in taken.text
    ok = p.post("/config/flows", {"name": "repair_line", "template": "menu", "title_zh": "维修热线",
                                  "title_en": "Repair line"})
    assert ok.status == 302 and ok.headers["Location"] == "/config/flows/repair_line", ok.text[:300]
    flow = p.api("GET", "/flows/repair_line").json()
    assert flow["active_version"] == 1 and flow["routes"] == [] and "维修热线" in flow["source"]
    menu = next(b for b in flow["tree"]["blocks"] if b["name"] == "menu")
    assert {t["key"]: t["block"] for t in menu["steps"][0]["targets"] if t["key"]} == \
        {"1": "menu", "0": "operator", "9": "bye"}
    assert p.api("POST", "/flows/repair_line/dry-run", {"from": "12"}).status == 400
    assert p.api("POST", "/flows/repair_line/dry-run", {"colour": "red"}).status == 400
    assert p.api("POST", "/flows/repair_line/dry-run", {"version": 7}).status == 404
    r = p.api("POST", "/flows/repair_line/dry-run", {"language": "en_US"})
    assert r.status == 201, r.text
    cid = r.json()["id"]
    assert r.json()["media"] == f"/api/v1/sim/calls/{cid}/media"
    wait_until(lambda: any(s["step"] == "answer" for s in steps(p, cid)), what="the answer")
    time.sleep(0.3)
    p.api("POST", f"/sim/calls/{cid}/dtmf", {"digits": "9"})
    trail = wait_until(lambda: [s for s in steps(p, cid) if s["step"] == "menu.key"], what="the menu choice")
    assert trail[0]["key"] == "9" and trail[0]["target"] == "bye" and trail[0]["flow"] == "repair_line"
    ended = wait_until(lambda: p.api("GET", f"/sim/calls/{cid}").json()["state"] == "ended" and
                       p.api("GET", f"/sim/calls/{cid}").json(), timeout=20, what="the end of the call")
    kinds = [e["kind"] for e in ended["events"]]
    assert "recording.skipped" in kinds and "recording.started" not in kinds   # dry runs are not recorded
    played = [e["data"] for e in ended["events"] if e["kind"] == "media.played"]
    assert played[-1] == {"prompt": "goodbye", "language": "en_US"}
    created = p.api("GET", "/audit?action=flow.&target=repair_line").json()["entries"]
    assert {e["action"] for e in created} == {"flow.created", "flow.saved", "flow.published"}


def test_prompt_uploads_are_checked_converted_and_audited(panel) -> None:
    p = admin(panel)

    def upload(pid: str, body: bytes, ctype: str = "audio/wav", lang: str = "en_US"):
        return p.request("POST", f"/api/v1/prompts/{lang}/{pid}/upload", body,
                         {"Content-Type": ctype, "X-XSRFToken": p.xsrf(), "Accept": "application/json"})
    listed = p.api("GET", "/prompts?language=en_US&q=goodbye").json()["prompts"]
    bye = next(x for x in listed if x["id"] == "goodbye")
    assert bye["source"] == "tts" and bye["text"] == "Thank you for calling. Goodbye." and "printer_support" in \
        bye["used_by"]
    r = upload("goodbye", b"Thank you for calling.\n", "text/plain")
    assert r.status == 400 and "file: a WAV file is needed" in r.json()["error"]
    r = upload("goodbye", b"Thank you for calling, but this is text.\n")
    assert r.status == 400 and "not a RIFF/WAVE file" in r.json()["error"]
    r = upload("goodbye", b"RIFF" + bytes(11 * 1024 * 1024))
    assert r.status == 413 and "at most 10 MB" in r.json()["error"]
    r = upload("goodbye", tone_wav(1.0, 4000))
    assert r.status == 400 and "4000 Hz" in r.json()["error"]
    r = upload("goodbye", tone_wav(0.05, 8000))
    assert r.status == 400 and "a prompt lasts" in r.json()["error"]
    r = upload("../../etc", tone_wav(1.0, 8000))
    assert r.status in (400, 404)
    r = upload("goodbye", tone_wav(1.5, 44100, channels=2))
    assert r.status == 200, r.text
    assert r.json()["prompt"]["source"] == "recorded" and abs(r.json()["prompt"]["seconds"] - 1.5) < 0.05
    assert r.json()["original_rate"] == 44100
    got = p.get("/api/v1/prompts/en_US/goodbye.wav")
    assert got.status == 200 and got.headers["Content-Type"] == "audio/wav"
    audio = parse_wav(got.body)
    assert audio.rate == 8000 and audio.channels == 1 and abs(audio.duration_s - 1.5) < 0.05
    entry = p.api("GET", "/audit?action=prompt.uploaded").json()["entries"][0]
    assert entry["target"] == "en_US/goodbye" and entry["before"]["source"] == "tts" and \
        entry["after"]["source"] == "recorded" and "44100 Hz, 2 channel(s)" == entry["after"]["original"]
    # speech again: the recording is kept aside, the prompt is spoken from its text
    r = p.api("POST", "/prompts/en_US/goodbye/tts", {})
    assert r.status == 200 and r.json()["prompt"]["source"] == "tts" and r.json()["seconds"] > 0.5, r.text
    spoken = parse_wav(p.get("/api/v1/prompts/en_US/goodbye.wav").body)
    assert spoken.rate == 8000 and abs(spoken.duration_s - r.json()["seconds"]) < 0.05
    assert p.api("GET", "/audit?action=prompt.tts").json()["entries"][0]["before"]["source"] == "recorded"
    # a new prompt id is created by an upload and shows in the list
    assert upload("holiday_notice", tone_wav(1.0, 16000), lang="zh_CN").status == 200
    mine = p.api("GET", "/prompts?language=zh_CN&source=recorded").json()["prompts"]
    assert [x["id"] for x in mine] == ["holiday_notice"]
    assert p.api("GET", "/prompts?order=id").status == 400 and p.api("GET", "/prompts?source=x").status == 400
    page = p.get("/config/prompts?language=en_US&q=goodbye")
    assert page.status == 200 and "Thank you for calling. Goodbye." in page.text


def test_prompt_downloads_cannot_leave_the_prompts_directory(panel) -> None:
    p = admin(panel)
    assert p.get("/api/v1/prompts/zh_CN/printer_welcome.wav").status == 200
    vectors = [
        "/api/v1/prompts/zh_CN/../../hotline.db.wav",
        "/api/v1/prompts/zh_CN/..%2f..%2fhotline.db.wav",
        "/api/v1/prompts/zh_CN/%2e%2e%2f%2e%2e%2fhotline.wav",
        "/api/v1/prompts/%2e%2e/printer_welcome.wav",
        "/api/v1/prompts/zh_CN/%2Fetc%2Fpasswd.wav",
        "/api/v1/prompts/%2Fetc/passwd.wav",
        "/api/v1/prompts/zh_CN/printer_welcome%00.wav",
        "/api/v1/prompts/zh_CN%00/printer_welcome.wav",
        "/api/v1/prompts/cache/printer_welcome.wav",
        "/api/v1/prompts/zh_CN/%2e%2e.wav",
        "/api/v1/prompts/zh_CN/no_such_prompt.wav",
    ]
    for path in vectors:
        r = p.get(path)
        assert r.status == 404, (path, r.status, r.text[:200])
        assert b"RIFF" not in r.body[:4] and b"SQLite" not in r.body
    assert p.get("/api/v1/prompts/zh_CN/printer_welcome.wav?x=1").status == 400
    anonymous = type(panel)(panel.base)
    assert anonymous.get("/api/v1/prompts/zh_CN/printer_welcome.wav").status == 401


def test_record_a_prompt_by_phone(panel) -> None:
    p = admin(panel)
    assert p.api("POST", "/prompts/en_US/goodbye/record", {"extension": "9999"}).status == 400
    r = p.api("POST", "/prompts/en_US/goodbye/record", {"extension": "1002"})
    assert r.status == 202 and r.json()["call"], r.text
    assert p.api("POST", "/prompts/en_US/goodbye/record", {"extension": "1002"}).status == 409   # busy

    def station() -> dict:
        return next(s for s in p.api("GET", "/sim/stations").json()["stations"] if s["extension"] == "1002")
    wait_until(lambda: station()["state"] == "ringing", what="the station to ring")
    assert p.api("POST", "/sim/stations/1002/answer", {}).status == 200
    time.sleep(0.9)                                                   # the beep
    speech = tone_wav(1.2, 8000, freq=523.0)
    assert p.request("POST", "/api/v1/sim/stations/1002/audio", speech,
                     {"Content-Type": "audio/wav", "X-XSRFToken": p.xsrf()}).status == 200
    time.sleep(1.4)
    p.api("POST", "/sim/stations/1002/dtmf", {"digits": "#"})        # stop; then 1 keeps it (after the playback)
    time.sleep(0.5)
    p.api("POST", "/sim/stations/1002/dtmf", {"digits": "1"})
    row = wait_until(lambda: next((x for x in p.api("GET", "/prompts?language=en_US&q=goodbye").json()["prompts"]
                                   if x["id"] == "goodbye" and x["source"] == "recorded"), None),
                     timeout=20, what="the recorded prompt")
    assert 1.0 < row["seconds"] < 4.0
    audio = parse_wav(p.get("/api/v1/prompts/en_US/goodbye.wav").body)
    assert np.sqrt(np.mean(audio.samples[:, 0] ** 2)) > 500        # the tone we spoke, not silence
    entry = wait_until(lambda: p.api("GET", "/audit?action=prompt.recorded").json()["entries"], what="the audit")[0]
    assert entry["target"] == "en_US/goodbye" and entry["after"]["extension"] == "1002" and \
        entry["before"]["source"] == "tts"
    wait_until(lambda: station()["state"] == "idle", what="the call to end")


def test_a_big_flow_is_checked_and_built_in_the_worker_process_and_answers_calls(panel) -> None:
    """A flow over 64 KB goes to the worker process (daemon/box/procwork.py) to be checked and, once published,
    built for the running box: a problem at its last steps is still reported at its line, and the published
    version answers the next call."""
    p = admin(panel)
    source = big_flow("printer_support", 2300)
    assert len(source) > BIG
    bad = source.replace("{value: '2299', as: digits}", "{value: '2299', as: digitz}")
    n = line_of(bad, "digitz")
    checked = p.api("POST", "/flows/printer_support/validate", {"source": bad}).json()
    assert not checked["ok"] and [x["line"] for x in checked["problems"]] == [n], checked["problems"]
    r = p.api("POST", "/flows/printer_support/versions", {"source": source, "publish": True})
    assert r.status == 201 and r.json()["version"] == 2 and r.json()["published"], r.text
    tree = p.api("GET", "/flows/printer_support").json()["tree"]
    assert len(tree["blocks"][0]["steps"]) == 2 * 2300 + 2
    cid = p.api("POST", "/sim/calls", {"from": "13900000002", "to": "8001"}).json()["id"]
    trail = wait_until(lambda: [s for s in steps(p, cid) if s["step"] == "say"], what="the big flow's steps")
    p.api("DELETE", f"/sim/calls/{cid}")
    assert trail[0]["step"] == "say"
