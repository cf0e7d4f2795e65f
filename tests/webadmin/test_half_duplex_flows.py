"""The flow editor on a box with a half-duplex line (the sim card with duplex: half, a voice modem's stand-in)
answering 8005: a version that queues or transfers on that route is refused with 400 naming the step at its line
and column, nothing is saved; a version a half-duplex line can run (menu, say, voicemail) is saved."""
from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-9"

MODEM_LINE = """\
flow: modem_line
title: {zh_CN: 调制解调器线路, en_US: Modem line}
languages: [zh_CN, en_US]
start: main
blocks:
  main:
    - answer
    - menu:
        prompt: anything_else
        options: {"1": message, "9": bye}
        fallback: message
  message:
    - voicemail: {mailbox: service, greeting: voicemail_greeting}
    - hangup: goodbye
  bye:
    - hangup: goodbye
"""


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_flow_editor_refuses_a_queue_on_a_half_duplex_route(daemon_factory, tmp_path: Path, hotline_bin: str,
                                                               client) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "modem_line.yaml").write_text(MODEM_LINE)
    cfg = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())
    cfg["paths"].update(flows=str(flows), prompt_manifest=str(REPO / "etc" / "prompts" / "manifest.yaml"))
    cfg["devices"].append({"name": "modem0", "driver": "sim", "trunks": 1, "stations": [], "duplex": "half",
                           "number": "8005"})
    cfg["routes"] = [{"dialed": "8005", "flow": "modem_line"}]
    config = tmp_path / "hotline.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    d = daemon_factory(config=config)
    subprocess.run([hotline_bin, "-c", str(config), "user", "add", "admin", "--role", "admin", "--password-stdin",
                    "--language", "en_US"], input=PASSWORD + "\n", env=d.env, capture_output=True, text=True,
                   check=True, timeout=60)
    p = client(d.url)
    p.login("admin", PASSWORD)
    assert p.api("GET", "/flows/modem_line").json()["routes"] == ["8005"]

    bad = MODEM_LINE.replace('options: {"1": message, "9": bye}', 'options: {"0": agent, "1": message, "9": bye}') \
        + "  agent:\n    - queue: {name: service, no_agent: bye}\n"
    n = line_of(bad, "- queue:")
    for publish in (True, False):  # a draft is refused too: it could be published later
        r = p.api("POST", "/flows/modem_line/versions", {"source": bad, "publish": publish})
        assert r.status == 400, r.text
        body = r.json()
        assert body["error"].startswith(f"line {n}, column 7: blocks.agent[0].queue: route 8005 answers on half-duplex "
                                        "line modem0: step 'queue' needs a full-duplex line"), body["error"]
        assert body["error"].endswith("nothing was saved")
        assert [(x["line"], x["column"], x["key"]) for x in body["problems"]] == [(n, 7, "blocks.agent[0].queue")]
    checked = p.api("POST", "/flows/modem_line/validate", {"source": bad}).json()
    assert not checked["ok"] and "step 'queue' needs a full-duplex line" in checked["problems"][0]["message"]
    after = p.api("GET", "/flows/modem_line").json()
    assert after["active_version"] == 1 and [v["version"] for v in after["versions"]] == [1]

    # what a half-duplex line can do is saved and published: say the caller's number back, then the menu
    good = MODEM_LINE.replace("    - answer\n", '    - answer\n    - say: {value: "${caller_id}", as: digits}\n')
    r = p.api("POST", "/flows/modem_line/versions", {"source": good, "publish": True})
    assert r.status == 201 and r.json()["version"] == 2 and r.json()["published"], r.text
