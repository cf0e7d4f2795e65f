"""The systemd unit, sysusers/tmpfiles snippets and the install/uninstall scripts, checked with systemd's tools."""
from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hotline.daemon.cli import main as cli
from hotline.daemon.box.config import load_config

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "hotline.service"
SYSUSERS = REPO / "systemd" / "hotline.sysusers"
TMPFILES = REPO / "systemd" / "hotline.tmpfiles"
SHIPPED_EXEC = "/opt/hotline/venv/bin/hotline"
HOTLINE = str(Path(sys.executable).parent / "hotline")


def tool(name: str) -> str:
    """A systemd tool; missing means the test environment is incomplete: fail, never skip."""
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: run ./scripts/test (scripts/setup-env installs Debian's systemd)")
    return path


def directives(text: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value (unit files repeat keys such as DeviceAllow=)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"directive outside a section: {raw!r}"
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return out


def one(sec: dict[str, list[str]], key: str) -> str:
    """The single value of a directive."""
    values = sec.get(key)
    assert values and len(values) == 1, f"{key}= should appear exactly once, got {values}"
    return values[0]


@pytest.fixture
def testable_unit(tmp_path: Path):
    """The shipped unit with ExecStart= on this checkout's hotline (verify checks the binary exists).

    Nothing else is changed. systemd 252's verify does not resolve User=/Group=, so User=hotline
    is checked as shipped; that the user and its groups come out right is checked through
    systemd-sysusers below.
    """
    assert os.access(HOTLINE, os.X_OK), f"{HOTLINE} missing: run scripts/test (it installs the project)"
    text = UNIT.read_text()
    assert text.count(SHIPPED_EXEC) == 1, f"ExecStart should name {SHIPPED_EXEC} once"

    def make(extra: str = "") -> Path:
        path = tmp_path / "hotline.service"
        path.write_text(text.replace(SHIPPED_EXEC, HOTLINE) + extra)
        return path
    return make


def verify(path: Path) -> tuple[int, list[str]]:
    """systemd-analyze verify on one unit file: status and the lines about that unit."""
    proc = subprocess.run([tool("systemd-analyze"), "verify", "--recursive-errors=no", "--man=no", str(path)],
                          capture_output=True, text=True, timeout=60)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if path.name in ln]
    return proc.returncode, lines


def test_unit_passes_systemd_analyze_verify(testable_unit):
    """systemd parses every directive: status 0 and not one warning about the unit."""
    status, about_unit = verify(testable_unit())
    assert status == 0 and about_unit == [], "\n".join(about_unit)


def test_verify_would_catch_a_typo(testable_unit):
    """The check above is real: an unknown directive is reported (systemd still exits 0 for it)."""
    _, about_unit = verify(testable_unit("Restrat=always\n"))
    assert any("Unknown key" in ln and "Restrat" in ln for ln in about_unit), about_unit


def test_unit_hardening_exposure_stays_low(testable_unit):
    """systemd-analyze security rates the sandbox 'OK' (≤ 2.5 of 10); dropping hardening fails this."""
    path = testable_unit()
    proc = subprocess.run([tool("systemd-analyze"), "security", "--offline=yes", "--threshold=25", str(path)],
                          capture_output=True, text=True, timeout=60)
    summary = [ln for ln in proc.stdout.splitlines() if "Overall exposure" in ln]
    assert proc.returncode == 0, f"exposure above 2.5: {summary}\n{proc.stdout[-3000:]}{proc.stderr}"


def test_unit_key_directives():
    """The directives the daemon and the appliance rely on."""
    unit = directives(UNIT.read_text())
    svc = unit["Service"]
    assert one(svc, "Type") == "notify"
    assert one(svc, "NotifyAccess") == "main"
    assert one(svc, "ExecStart") == f"{SHIPPED_EXEC} -c /etc/hotline/hotline.yaml run"
    assert one(svc, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(svc, "RestartPreventExitStatus") == str(cli.EX_CONFIG) == "78"
    assert one(svc, "Restart") == "on-failure"
    assert int(one(svc, "WatchdogSec")) == 30
    assert one(svc, "User") == one(svc, "Group") == "hotline"
    assert one(svc, "SupplementaryGroups") == "dialout"
    for kind in ("StateDirectory", "ConfigurationDirectory", "RuntimeDirectory", "CacheDirectory"):
        assert one(svc, kind) == "hotline"
    assert one(svc, "Environment") == "HOTLINE_STATE_DIR=/var/lib/hotline"
    assert one(svc, "WorkingDirectory") == "/var/lib/hotline"
    assert one(svc, "ProtectSystem") == "strict"
    for flag in ("ProtectHome", "PrivateTmp", "NoNewPrivileges", "ProtectKernelTunables", "ProtectKernelModules",
                 "ProtectControlGroups", "RestrictSUIDSGID", "LockPersonality", "RestrictRealtime",
                 "RestrictNamespaces"):
        assert one(svc, flag) == "yes", flag
    assert one(svc, "SystemCallArchitectures") == "native"
    assert one(svc, "CapabilityBoundingSet") == ""
    assert "PrivateDevices" not in svc, "PrivateDevices= would hide the serial ports and cards"
    assert one(svc, "DevicePolicy") == "closed"
    allowed = set(svc.get("DeviceAllow", []))
    for dev in ("char-ttyS rw", "char-ttyUSB rw", "char-ttyACM rw", "char-usb_device rw", "char-dahdi rw"):
        assert dev in allowed, f"DeviceAllow={dev} missing"
    assert one(unit["Install"], "WantedBy") == "multi-user.target"


def test_unit_agrees_with_the_shipped_configuration():
    """Stop timeout covers the drain; the state directory the unit pins is the configured one."""
    cfg = load_config(str(REPO / "etc" / "hotline.yaml"), env={})
    svc = directives(UNIT.read_text())["Service"]
    drain = cfg["engine"]["drain_timeout"]
    assert int(one(svc, "TimeoutStopSec")) >= drain + 10, "TimeoutStopSec must leave the drain time plus a margin"
    assert cfg["paths"]["state"] == "/var/lib/hotline" == one(svc, "WorkingDirectory")
    assert cfg["database"]["url"] is None, "the shipped config should use SQLite in the state directory"


def _fake_root(tmp: Path) -> Path:
    """A tiny root with only root and dialout, for sysusers/tmpfiles --root (no real accounts copied)."""
    etc = tmp / "root" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\ndialout:x:20:\n")
    for name in ("shadow", "gshadow"):
        (etc / name).write_text("root:*::::::\n" if name == "shadow" else "root:*::\n")
        (etc / name).chmod(0o600)
    return tmp / "root"


def test_sysusers_and_tmpfiles_create_the_user_and_directories(tmp_path):
    """systemd-sysusers makes a nologin user in dialout; systemd-tmpfiles makes its 0750 directories."""
    root = _fake_root(tmp_path)
    for prog, src in (("systemd-sysusers", SYSUSERS), ("systemd-tmpfiles", TMPFILES)):
        args = [tool(prog), f"--root={root}"] + (["--create"] if prog == "systemd-tmpfiles" else []) + ["-"]
        proc = subprocess.run(args, input=src.read_text(), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{prog}: {proc.stdout}{proc.stderr}"
    users = {ln.split(":")[0]: ln.split(":") for ln in (root / "etc/passwd").read_text().splitlines()}
    groups = {ln.split(":")[0]: ln.split(":") for ln in (root / "etc/group").read_text().splitlines()}
    assert "hotline" in users and "hotline" in groups
    _, _, uid, gid, gecos, home, shell = users["hotline"]
    assert int(uid) < 1000, "a system user"
    assert gid == groups["hotline"][2] and home == "/var/lib/hotline" and shell.endswith("nologin")
    assert gecos == "Hotline call center"
    assert "hotline" in groups["dialout"][3].split(","), "hotline must be in dialout for the serial modems"
    for sub in ("", "recordings", "prompts", "spool"):
        st = (root / "var/lib/hotline" / sub).stat()
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750, sub
        assert (st.st_uid, st.st_gid) == (int(uid), int(gid)), sub


# ---------------------------------------------------------------- scripts/install and scripts/uninstall

WATCHED = ["/opt/hotline", "/etc/hotline", "/var/lib/hotline", "/var/cache/hotline",
           "/etc/systemd/system/hotline.service", "/usr/lib/sysusers.d/hotline.conf",
           "/usr/lib/tmpfiles.d/hotline.conf", "/etc/udev/rules.d/70-hotline-modems.rules",
           "/srv/hotline-test-prefix"]


def system_state() -> dict:
    """What install/uninstall could change: the files, the user, leftovers in /tmp, the checkout."""
    out: dict = {}
    for p in map(Path, WATCHED):
        if p.exists():
            st = p.stat()
            out[str(p)] = (st.st_mode, st.st_uid, st.st_mtime_ns,
                           sorted(x.name for x in p.iterdir()) if p.is_dir() else st.st_size)
        else:
            out[str(p)] = None
    try:
        out["user"] = tuple(pwd.getpwnam("hotline"))
    except KeyError:
        out["user"] = None
    out["tmp"] = sorted(p.name for p in Path("/tmp").glob("hotline-install.*"))
    out["checkout"] = sorted(p.name for p in REPO.iterdir() if p.name in ("build", "dist"))
    return out


def run_script(name: str, *args: str) -> str:
    """Run scripts/<name> with arguments; its stdout (status 0 required)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    proc = subprocess.run([str(REPO / "scripts" / name), *args], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, f"scripts/{name} {' '.join(args)}: status {proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def assert_in_order(out: str, *patterns: str) -> None:
    """Each regex matches a line of the output, in this order."""
    lines = out.splitlines()
    at = 0
    for pat in patterns:
        for i in range(at, len(lines)):
            if re.search(pat, lines[i]):
                at = i + 1
                break
        else:
            raise AssertionError(f"no line matching {pat!r} after line {at}:\n{out}")


INSTALL_STEPS = (
    r"dry run: nothing will be changed",
    r"^==> Debian packages: .*python3-venv.*espeak-ng.*sox",
    r"^(\+ apt-get install .*|    all installed)$",
    r"^\+ install -D -m 0644 .*/systemd/hotline\.sysusers /usr/lib/sysusers\.d/hotline\.conf$",
    r"^\+ install -D -m 0644 .*/systemd/hotline\.tmpfiles /usr/lib/tmpfiles\.d/hotline\.conf$",
    r"^\+ (systemd-sysusers /usr/lib/sysusers\.d/hotline\.conf|useradd --system .* hotline)$",
    r"^\+ (systemd-tmpfiles --create /usr/lib/tmpfiles\.d/hotline\.conf|install -d .* /var/lib/hotline)$",
    r"^(\+ \S+ -m venv (--clear )?{venv}|    virtualenv exists: upgrading in place)$",
    r"^\+ {venv}/bin/python -m pip install -q --upgrade \S+/src\[postgresql\]$",
    r"^(\+ install -m 0640 -o root -g hotline \S+/etc/hotline\.yaml /etc/hotline/hotline\.yaml"
    r"|    keeping /etc/hotline/hotline\.yaml)$",
    r"^\+ write \S+ with ExecStart={venv}/bin/hotline$",
    r"^\+ install -D -m 0644 \S+ /etc/systemd/system/hotline\.service$",
    r"^\+ install -D -m 0644 \S+/etc/udev/70-hotline-modems\.rules /etc/udev/rules\.d/70-hotline-modems\.rules$",
    r"^\+ runuser -u hotline -- .* {venv}/bin/hotline -c /etc/hotline/hotline\.yaml check-config$",
    r"^\+ runuser -u hotline -- .*HOTLINE_STATE_DIR=/var/lib/hotline {venv}/bin/hotline "
    r"-c /etc/hotline/hotline\.yaml db upgrade$",
)


@pytest.mark.parametrize("init", ["systemd", "none"])
def test_install_dry_run_prints_every_step_and_changes_nothing(init):
    """`scripts/install --dry-run` lists the whole install in order and leaves the box as it was."""
    before = system_state()
    out = run_script("install", "--dry-run", f"--init={init}")
    assert system_state() == before, "a dry run changed the system"
    venv = re.escape("/opt/hotline/venv")
    steps = [p.replace("{venv}", venv) for p in INSTALL_STEPS]
    if init == "systemd":
        assert_in_order(out, *steps[:12], r"^\+ systemctl daemon-reload$", *steps[12:],
                        r"^\+ systemctl enable hotline$", r"^\+ systemctl start hotline$", r"^==> done$")
    else:
        assert_in_order(out, *steps, r"^==> no systemd", r"hotline -c /etc/hotline/hotline\.yaml run --daemon$",
                        r"^==> done$")
        assert "systemctl" not in out


def test_install_dry_run_prefix_and_no_start():
    """--prefix moves the virtualenv and the unit's ExecStart; --no-start enables without starting."""
    before = system_state()
    out = run_script("install", "--dry-run", "--init=systemd", "--no-start", "--prefix", "/srv/hotline-test-prefix")
    assert system_state() == before
    assert_in_order(out, r"-m venv /srv/hotline-test-prefix/venv$|virtualenv exists",
                    r"^\+ write \S+ with ExecStart=/srv/hotline-test-prefix/venv/bin/hotline$",
                    r"/srv/hotline-test-prefix/venv/bin/hotline -c /etc/hotline/hotline\.yaml db upgrade$",
                    r"^\+ systemctl enable hotline$")
    assert "+ systemctl start" not in out and "+ systemctl stop" not in out


def test_install_rejects_unknown_options():
    """A typo in an option is refused before anything happens."""
    proc = subprocess.run([str(REPO / "scripts" / "install"), "--dryrun"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "unknown option --dryrun" in proc.stderr


@pytest.mark.parametrize("purge", [False, True])
def test_uninstall_dry_run_prints_every_step_and_changes_nothing(purge):
    """`scripts/uninstall --dry-run [--purge]` lists the removal; data is kept unless purging."""
    before = system_state()
    out = run_script("uninstall", "--dry-run", "--init=systemd", *(["--purge"] if purge else []))
    assert system_state() == before, "a dry run changed the system"

    def gone(path: str, flag: str = "-f") -> str:
        return rf"^(\+ rm {flag} -- {re.escape(path)}|    {re.escape(path)}: not present)$"
    steps = [r"dry run: nothing will be changed", r"^==> stop the service$",
             r"^(\+ systemctl disable --now hotline|    hotline\.service is not installed)$",
             gone("/etc/systemd/system/hotline.service"), gone("/usr/lib/sysusers.d/hotline.conf"),
             gone("/usr/lib/tmpfiles.d/hotline.conf"), gone("/etc/udev/rules.d/70-hotline-modems.rules"),
             r"^\+ systemctl daemon-reload$",
             gone("/opt/hotline", "-rf")]
    if purge:
        assert_in_order(out, *steps, r"^==> purge", gone("/etc/hotline", "-rf"), gone("/var/lib/hotline", "-rf"),
                        r"^(\+ userdel hotline|    user hotline: not present)$", r"^==> done$")
    else:
        assert_in_order(out, *steps, r"^==> kept: /etc/hotline .* /var/lib/hotline", r"^==> done$")
        assert "rm -rf -- /etc/hotline" not in out and "rm -rf -- /var/lib/hotline" not in out
        assert "userdel" not in out


def test_uninstall_without_systemd_looks_for_a_daemon_by_its_pidfile():
    """--init=none stops a 'hotline run --daemon' through its pid file instead of systemctl."""
    out = run_script("uninstall", "--dry-run", "--init=none")
    assert "systemctl" not in out
    assert re.search(r"^(\+ kill -TERM \d+|    no running 'hotline run --daemon' .*hotline\.pid\))$", out, re.M), out
