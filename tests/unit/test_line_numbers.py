"""Device numbers and half-duplex lines in the configuration, as a technician meets them: `number:` checked with
file:line:col, and `hotline check-config` / `hotline flow check` refusing a flow that queues or transfers on a
route answered by a half-duplex line (a voice modem; here the sim card with duplex: half)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from hotline.daemon.box.config import parse_config
from hotline.daemon.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SHIPPED = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())

# A flow a half-duplex line can run: a menu, say, voicemail (the line switches to record).
HALF_OK = """\
flow: modem_line
title: {zh_CN: 调制解调器线路, en_US: Modem line}
languages: [zh_CN, en_US]
start: main
blocks:
  main:
    - answer
    - say: {value: "${dialed}", as: digits}
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

# The same line offering an agent: queue and transfer need a full-duplex line.
HALF_BAD = """\
flow: modem_line
title: {zh_CN: 调制解调器线路, en_US: Modem line}
languages: [zh_CN, en_US]
start: main
blocks:
  main:
    - answer
    - menu: {prompt: anything_else, options: {"0": agent, "1": operator, "9": bye}}
  agent:
    - play: agent_transfer
    - queue: {name: service, no_agent: bye}
  operator:
    - transfer: {extension: "1001"}
  bye:
    - hangup: goodbye
"""

MODEM = {"name": "modem0", "driver": "sim", "trunks": 1, "stations": [], "duplex": "half", "number": "8005"}


def write_box(tmp_path: Path, flow: str, modem: dict | None = None, routes: dict | None = None) -> Path:
    """The shipped configuration plus a half-duplex sim device answering 8005, routed to ``flow``."""
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    (flows / "modem_line.yaml").write_text(flow)
    cfg = yaml.safe_load(yaml.safe_dump(SHIPPED))
    cfg["paths"].update(state=str(tmp_path / "state"), flows=str(flows),
                        prompt_manifest=str(REPO / "etc" / "prompts" / "manifest.yaml"))
    cfg["devices"].append(dict(MODEM, **(modem or {})))
    cfg["routes"] = [{"dialed": k, "flow": v} for k, v in (routes or {"8005": "modem_line"}).items()]
    path = tmp_path / "hotline.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    return path


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def run(hotline_bin: str, config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    return subprocess.run([hotline_bin, "-c", str(config), *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_check_config_names_each_step_a_half_duplex_line_cannot_run(hotline_bin: str, tmp_path: Path) -> None:
    config = write_box(tmp_path, HALF_BAD)
    flow = tmp_path / "flows" / "modem_line.yaml"
    proc = run(hotline_bin, config, "check-config")
    assert proc.returncode == 78, proc.stdout + proc.stderr
    q, t = line_of(HALF_BAD, "- queue:"), line_of(HALF_BAD, "- transfer:")
    lines = proc.stderr.splitlines()
    assert (f"{flow}:{q}:7: blocks.agent[1].queue: route 8005 answers on half-duplex line modem0: step 'queue' "
            "needs a full-duplex line") in proc.stderr, proc.stderr
    assert any(ln.startswith(f"{flow}:{t}:7: blocks.operator[0].transfer: route 8005") for ln in lines), lines
    assert lines[-1] == "hotline: 2 configuration problem(s)" and "OK" not in proc.stdout
    # `hotline flow check` says the same about the file (it knows the lines from the configuration)
    check = run(hotline_bin, config, "flow", "check", str(flow))
    assert check.returncode == 1 and f"{flow}:{q}:7: blocks.agent[1].queue: route 8005" in check.stdout, check.stdout
    # and `hotline flow publish` refuses it: the running version stays
    pub = run(hotline_bin, config, "flow", "publish", str(flow))
    assert pub.returncode == 1 and "step 'queue' needs a full-duplex line" in pub.stderr, pub.stderr


def test_a_flow_without_queue_or_transfer_passes_on_a_half_duplex_line(hotline_bin: str, tmp_path: Path) -> None:
    proc = run(hotline_bin, write_box(tmp_path, HALF_OK), "check-config")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("OK (2 device(s))") and "warning" not in proc.stdout, proc.stdout
    check = run(hotline_bin, tmp_path / "hotline.yaml", "flow", "check", str(tmp_path / "flows" / "modem_line.yaml"))
    assert check.returncode == 0 and "OK (flow modem_line" in check.stdout, check.stdout + check.stderr


def test_the_same_flow_on_a_full_duplex_line_passes(hotline_bin: str, tmp_path: Path) -> None:
    proc = run(hotline_bin, write_box(tmp_path, HALF_BAD, modem={"duplex": "full"}), "check-config")
    assert proc.returncode == 0, proc.stderr


def test_a_half_duplex_line_without_a_routed_number_warns_about_the_catch_all_route(hotline_bin: str,
                                                                                   tmp_path: Path) -> None:
    """Its calls fall back to route *: the queue there is a warning (calls with a dialled number may come from
    full-duplex lines), the file still passes."""
    config = write_box(tmp_path, HALF_BAD, modem={"number": None}, routes={"*": "modem_line"})
    proc = run(hotline_bin, config, "check-config")
    assert proc.returncode == 0, proc.stderr
    q = line_of(HALF_BAD, "- queue:")
    assert (f"{tmp_path / 'flows' / 'modem_line.yaml'}:{q}:7: blocks.agent[1].queue: calls on half-duplex line "
            "modem0 (no routed number) take route *") in proc.stdout and "(warning)" in proc.stdout, proc.stdout


def config_text(modem: dict, routes: str = '  - {dialed: "8005", flow: modem_line}\n') -> str:
    """A small configuration: sim0 with two stations, one more device, the routes."""
    extra = "".join(f"    {k}: {v!r}\n".replace("'", '"') for k, v in modem.items())
    return ("devices:\n  - name: sim0\n    driver: sim\n    stations: [\"1001\", \"1002\"]\n    number: \"8005\"\n"
            f"  - name: modem0\n    driver: sim\n    stations: []\n{extra}routes:\n{routes}")


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "hotline.yaml", env={})
    return [str(p) for p in err.value.problems]


def test_device_numbers_are_checked_with_file_line_and_key() -> None:
    # not a number
    got = problems_of(config_text({"number": "80a5"}))
    assert len(got) == 1 and got[0].startswith("hotline.yaml:9:13: devices[1].number: '80a5' does not match"), got
    # a station's extension: an internal call to it would be ambiguous
    got = problems_of(config_text({"number": "1002"}))
    assert got == ["hotline.yaml:9:13: devices[1].number: number 1002 is also the extension of a station on "
                   "device sim0: an internal call to it would be ambiguous"], got
    # one number on a full-duplex and a half-duplex device: a caller could land on either kind
    got = problems_of(config_text({"number": "8005", "duplex": "half"}))
    assert len(got) == 1 and got[0].startswith("hotline.yaml:9:13: devices[1].number: number 8005 is also answered "
                                               "by device sim0 (full duplex, this one is half)"), got
    # two lines alike on one number (a hunt group) are fine
    cfg = parse_config(config_text({"number": "8005"}), "hotline.yaml", env={})
    assert [d.get("number") for d in cfg["devices"]] == ["8005", "8005"] and cfg.warnings == []
    # an unquoted number is read as the digits written
    cfg = parse_config(config_text({"number": 8006}, routes='  - {dialed: "8006", flow: x}\n  - {dialed: "8005", '
                                                            'flow: y}\n'), "hotline.yaml", env={})
    assert cfg["devices"][1]["number"] == "8006"


def test_a_number_no_route_matches_is_a_warning() -> None:
    cfg = parse_config(config_text({"number": "8009"}), "hotline.yaml", env={})
    assert [str(w) for w in cfg.warnings] == [
        'hotline.yaml:9:13: devices[1].number: no route has dialed: "8009": calls on this device take the '
        'built-in reception']
    cfg = parse_config(config_text({"number": "8009"}, routes='  - {dialed: "*", flow: x}\n  - {dialed: "8005", '
                                                              'flow: y}\n'), "hotline.yaml", env={})
    assert [w.message for w in cfg.warnings] == ['no route has dialed: "8009": calls on this device take the route '
                                                 'for *']
    # a half-duplex device there would end up at the reception, which connects to the operator: said so
    cfg = parse_config(config_text({"number": "8009", "duplex": "half"}), "hotline.yaml", env={})
    assert len(cfg.warnings) == 1 and "half-duplex device modem0: its calls reach the built-in reception" in \
        cfg.warnings[0].message and 'add a route for dialed: "8009"' in cfg.warnings[0].message
