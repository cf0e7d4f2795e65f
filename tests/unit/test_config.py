"""Configuration errors a technician sees: exact ``file:line:col: key.path: message`` lines, all at once."""
from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from hotline.daemon.box.config import CORE, load_config
from hotline.daemon.errors import ConfigError
from hotline.drivers import registry

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "etc" / "hotline.yaml"
EX_CONFIG = 78
NOT_SYSTEMD = ("NOTIFY_SOCKET", "INVOCATION_ID", "WATCHDOG_USEC", "WATCHDOG_PID")
OVERRIDES = ("HOTLINE_CONFIG", "HOTLINE_STATE_DIR", "HOTLINE_DATABASE_URL", "HOTLINE_WEB_LISTEN")


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    """The problems load_config reports for a file, as printed."""
    with pytest.raises(ConfigError) as err:
        load_config(str(path), env={} if env is None else env)
    return [str(p) for p in err.value.problems]


def write(tmp_path: Path, text: str, name: str = "hotline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without systemd's variables or Hotline overrides, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_SYSTEMD + OVERRIDES}
    env.update(extra)
    return env


# ---- one kind of mistake per file --------------------------------------------------------------

CASES = {
    "yaml_tab": (
        "web:\n\tlisten: 127.0.0.1:8080\n",
        ["{f}:2:1: YAML syntax error: found character '\\t' that cannot start any token"],
    ),
    "yaml_unclosed_quote": (
        """
        locale:
          language: "en_US
          timezone: UTC
        """,
        ["{f}:4:1: YAML syntax error: found unexpected end of stream "
         "(while scanning a quoted scalar at line 2, column 13)"],
    ),
    "yaml_bad_indent": (
        """
        web:
          listen: 127.0.0.1:8080
         tls_cert: /etc/hotline/cert.pem
        """,
        ["{f}:3:2: YAML syntax error: expected <block end>, but found '<block mapping start>' "
         "(while parsing a block mapping at line 1, column 1)"],
    ),
    "unknown_keys": (
        """
        paths:
          recordigns: /srv/recordings
        enigne:
          max_channels: 10
        colour: blue
        """,
        ["{f}:2:3: paths.recordigns: unknown key (did you mean 'recordings'?)",
         "{f}:3:1: enigne: unknown key (did you mean 'engine'?)",
         "{f}:5:1: colour: unknown key"],
    ),
    "fax_detect": (
        """
        routes:
          - {dialed: "8001", flow: printer_support, fax_detect: maybe}
          - {dialed: "8002", flow: water_utility, fax_detec: false}
        """,
        ["{f}:2:57: routes[0].fax_detect: expected true or false, got str 'maybe'",
         "{f}:3:43: routes[1].fax_detec: unknown key (did you mean 'fax_detect'?)"],
    ),
    "wrong_types": (
        """
        web: 8080
        database:
          auto_upgrade: "yes"
        devices:
          name: sim0
        engine:
          drain_timeout: ten
          max_channels: 2.5
        """,
        ["{f}:1:6: web: expected a mapping, got int 8080",
         "{f}:3:17: database.auto_upgrade: expected true or false, got str 'yes'",
         "{f}:5:3: devices: expected a list, got a mapping",
         "{f}:7:18: engine.drain_timeout: expected a number from 0 to 3600, got str 'ten'",
         "{f}:8:17: engine.max_channels: expected an integer from 1 to 5000, got float 2.5"],
    ),
    "out_of_range": (
        """
        engine:
          max_channels: 0
          drain_timeout: -1
        devices:
          - name: sim0
            driver: sim
            trunks: 5000
        """,
        ["{f}:2:17: engine.max_channels: expected an integer from 1 to 5000, got 0",
         "{f}:3:18: engine.drain_timeout: expected a number from 0 to 3600, got -1.0",
         "{f}:7:13: devices[0].trunks: expected an integer from 0 to 2000, got 5000"],
    ),
    "unknown_driver": (
        """
        devices:
          - name: card0
            driver: simm
          - name: card1
            driver: nosuchcard
        """,
        ["{f}:3:13: devices[0].driver: unknown driver 'simm' (did you mean 'sim'?)",
         "{f}:5:13: devices[1].driver: unknown driver 'nosuchcard' (known: {known})"],
    ),
    "driver_option_typo": (
        """
        devices:
          - name: sim0
            driver: sim
            trunk: 4
        """,
        ["{f}:4:5: devices[0].trunk: unknown key (did you mean 'trunks'?)"],
    ),
    "bad_choice": (
        """
        metrics:
          access: loopbak
        logging:
          level: verbose
          components:
            calls: debgu
        locale:
          language: en_GB
        """,
        ["{f}:2:11: metrics.access: expected one of loopback, token, public, got 'loopbak' "
         "(did you mean 'loopback'?)",
         "{f}:4:10: logging.level: expected one of debug, info, warning, error, got 'verbose'",
         "{f}:6:12: logging.components.calls: expected one of debug, info, warning, error, got 'debgu' "
         "(did you mean 'debug'?)",
         "{f}:8:13: locale.language: expected one of zh_CN, en_US, got 'en_GB' (did you mean 'en_US'?)"],
    ),
    "bad_timezone": (
        """
        locale:
          timezone: Mars/Olympus_Mons
        """,
        ["{f}:2:13: locale.timezone: unknown time zone 'Mars/Olympus_Mons' (expected a name like Asia/Shanghai)"],
    ),
    "bad_listen": (
        """
        web:
          listen: localhost
        """,
        ["{f}:2:11: web.listen: expected host:port with a port from 1 to 65535, got 'localhost'"],
    ),
    "bad_listen_port": (
        """
        web:
          listen: 127.0.0.1:99999
        """,
        ["{f}:2:11: web.listen: expected host:port with a port from 1 to 65535, got '127.0.0.1:99999'"],
    ),
    "bad_database_url": (
        """
        database:
          url: mysql://hotline@db/hotline
        """,
        ["{f}:2:8: database.url: expected sqlite:///PATH or postgresql://..., got 'mysql://hotline@db/hotline'"],
    ),
    "empty_state_path": (
        """
        paths:
          state: ""
        """,
        ["{f}:2:10: paths.state: expected a directory path, got an empty string"],
    ),
    "duplicate_device_name": (
        """
        devices:
          - name: sim0
            driver: sim
            stations: ["1001"]
          - name: sim0
            driver: sim
            stations: ["2001"]
        """,
        ["{f}:5:11: devices[1].name: device name 'sim0' is already used by devices[0]"],
    ),
    "duplicate_station_extension": (
        """
        devices:
          - name: sim0
            driver: sim
            stations: ["1001", "1002"]
          - name: sim1
            driver: sim
            stations: ["2001", "1002", "2001"]
        """,
        ["{f}:7:24: devices[1].stations[1]: extension 1002 is already used by device 'sim0'",
         "{f}:7:32: devices[1].stations[2]: extension 2001 is listed twice"],
    ),
    "duplicate_default_stations": (
        """
        devices:
          - name: sim0
            driver: sim
          - name: sim1
            driver: sim
        """,
        ["{f}:4:5: devices[1].stations: extension 1001 is already used by device 'sim0' "
         "(these are the driver's default stations: set stations: for this device)"],
    ),
    "tls_cert_without_key": (
        """
        web:
          listen: 0.0.0.0:8443
          tls_cert: /etc/hotline/cert.pem
        """,
        ["{f}:3:13: web.tls_key: is required when web.tls_cert is set"],
    ),
    "tls_key_without_cert": (
        """
        web:
          tls_cert:
          tls_key: /etc/hotline/key.pem
        """,
        ["{f}:3:12: web.tls_cert: is required when web.tls_key is set"],
    ),
    "duplicate_key": (
        """
        engine:
          max_channels: 10
          max_channels: 20
        """,
        ["{f}:3:3: engine.max_channels: appears twice"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_file_gives_exact_lines(case: str, tmp_path: Path) -> None:
    """Each kind of mistake is reported at its file, line and column, with the key path and what was expected."""
    text, expected = CASES[case]
    path = write(tmp_path, text)
    known = ", ".join(registry.names())
    assert problems(path) == [line.format(f=path, known=known) for line in expected]


def test_every_problem_reported_at_once_in_file_order(tmp_path: Path) -> None:
    """One file with many mistakes: every one is reported, top to bottom, in one run."""
    path = write(tmp_path, """
        paths:
          state: /srv/hotline
          recordigns: /srv/rec
        web:
          listen: 127.0.0.1:99999
          tls_cert: /etc/hotline/cert.pem
        database:
          auto_upgrade: "yes"
        devices:
          - name: sim0
            driver: simm
          - name: sim1
            driver: sim
            trunks: -1
            stations: ["1001", "1001"]
          - name: sim1
            driver: sim
            stations: ["1002"]
            sede: 3
        metrics:
          access: loopbak
        logging:
          level: verbose
        locale:
          timezone: Mars/Olympus
        engine:
          max_channels: 0
          drain_timeout: ten
        """)
    f = str(path)
    assert problems(path) == [
        f"{f}:3:3: paths.recordigns: unknown key (did you mean 'recordings'?)",
        f"{f}:5:11: web.listen: expected host:port with a port from 1 to 65535, got '127.0.0.1:99999'",
        f"{f}:6:13: web.tls_key: is required when web.tls_cert is set",
        f"{f}:8:17: database.auto_upgrade: expected true or false, got str 'yes'",
        f"{f}:11:13: devices[0].driver: unknown driver 'simm' (did you mean 'sim'?)",
        f"{f}:14:13: devices[1].trunks: expected an integer from 0 to 2000, got -1",
        f"{f}:15:24: devices[1].stations[1]: extension 1001 is listed twice",
        f"{f}:16:11: devices[2].name: device name 'sim1' is already used by devices[1]",
        f"{f}:19:5: devices[2].sede: unknown key (did you mean 'seed'?)",
        f"{f}:21:11: metrics.access: expected one of loopback, token, public, got 'loopbak' "
        "(did you mean 'loopback'?)",
        f"{f}:23:10: logging.level: expected one of debug, info, warning, error, got 'verbose'",
        f"{f}:25:13: locale.timezone: unknown time zone 'Mars/Olympus' (expected a name like Asia/Shanghai)",
        f"{f}:27:17: engine.max_channels: expected an integer from 1 to 5000, got 0",
        f"{f}:28:18: engine.drain_timeout: expected a number from 0 to 3600, got str 'ten'",
    ]


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    """An empty (or comment-only) file is valid and gives the documented defaults."""
    for text in ("", "# nothing here yet\n"):
        cfg = load_config(str(write(tmp_path, text)), env={})
        assert cfg.data == CORE.default_value()
        assert cfg["web"]["listen"] == "127.0.0.1:8080"
        assert cfg["devices"] == []
        assert cfg.state_dir == Path("/var/lib/hotline")
        assert cfg.database_url == "sqlite:////var/lib/hotline/hotline.db"


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    """A missing file, or a directory given as the file, is named in one clear problem."""
    missing = tmp_path / "nope.yaml"
    assert problems(missing) == [f"{missing}:0:0: file not found"]
    (tmp_path / "adir").mkdir()
    assert problems(tmp_path / "adir") == [f"{tmp_path / 'adir'}:0:0: cannot read: "
                                           f"[Errno 21] Is a directory: '{tmp_path / 'adir'}'"]


def test_shipped_config_validates_and_covers_every_section() -> None:
    """etc/hotline.yaml is valid, runs the simulated card, and shows every section a technician can set."""
    cfg = load_config(str(SHIPPED), env={})
    assert [(d["name"], d["driver"]) for d in cfg["devices"]] == [("sim0", "sim")]
    assert cfg["devices"][0]["trunks"] > 0 and cfg["devices"][0]["stations"]
    top = yaml.safe_load(SHIPPED.read_text())
    assert set(CORE.fields) <= set(top), f"sections missing from the shipped file: {set(CORE.fields) - set(top)}"


# ---- environment overrides -------------------------------------------------------------------

def test_env_overrides_apply(tmp_path: Path) -> None:
    """HOTLINE_STATE_DIR, HOTLINE_DATABASE_URL and HOTLINE_WEB_LISTEN replace the file's values."""
    env = {"HOTLINE_STATE_DIR": str(tmp_path / "st"), "HOTLINE_WEB_LISTEN": "127.0.0.1:9999",
           "HOTLINE_DATABASE_URL": "postgresql://hotline:pw@127.0.0.1:5432/hotline"}
    cfg = load_config(str(SHIPPED), env=env)
    assert cfg.state_dir == tmp_path / "st"
    assert cfg.path_for("recordings") == tmp_path / "st" / "recordings"
    assert cfg.listen == ("127.0.0.1", 9999)
    assert cfg.database_url == "postgresql://hotline:pw@127.0.0.1:5432/hotline"
    # without the database override, SQLite follows the state directory
    cfg = load_config(str(SHIPPED), env={"HOTLINE_STATE_DIR": str(tmp_path / "st")})
    assert cfg.database_url == f"sqlite:///{tmp_path / 'st' / 'hotline.db'}"


def test_empty_env_override_counts_as_unset(tmp_path: Path) -> None:
    """``HOTLINE_STATE_DIR=`` (empty) does not silently make the working directory the state directory."""
    cfg = load_config(str(SHIPPED), env={"HOTLINE_STATE_DIR": "", "HOTLINE_WEB_LISTEN": ""})
    assert cfg.state_dir == Path("/var/lib/hotline")
    assert cfg["web"]["listen"] == "127.0.0.1:8080"


def test_bad_env_override_names_the_variable(tmp_path: Path) -> None:
    """A bad override is a problem naming the variable, reported with the file's own problems."""
    path = write(tmp_path, "engine:\n  max_channels: 0\n")
    assert problems(path, {"HOTLINE_WEB_LISTEN": "localhost", "HOTLINE_DATABASE_URL": "mysql://db/x"}) == [
        f"{path}:2:17: engine.max_channels: expected an integer from 1 to 5000, got 0",
        "$HOTLINE_DATABASE_URL:1:1: database.url: expected sqlite:///PATH or postgresql://..., got 'mysql://db/x'",
        "$HOTLINE_WEB_LISTEN:1:1: web.listen: expected host:port with a port from 1 to 65535, got 'localhost'",
    ]


def test_relative_paths_are_fixed_when_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative state dir means relative to where the command ran, even after the daemon changes directory."""
    monkeypatch.chdir(tmp_path)
    cfg = load_config(str(SHIPPED), env={"HOTLINE_STATE_DIR": "var", "HOTLINE_DATABASE_URL": "sqlite:///db/h.db"})
    monkeypatch.chdir("/")
    assert cfg.state_dir == tmp_path / "var"
    assert cfg.path_for("spool") == tmp_path / "var" / "spool"
    assert cfg.database_url == f"sqlite:///{tmp_path / 'db' / 'h.db'}"
    # a reload from another directory (the detached daemon lives in its state dir) uses the first base
    again = load_config(str(SHIPPED), env={"HOTLINE_STATE_DIR": "var"}, base=cfg.base)
    assert again.state_dir == tmp_path / "var" and again.data["paths"] == cfg.data["paths"]


# ---- the commands ----------------------------------------------------------------------------

def test_check_config_prints_every_problem_and_fails(hotline_bin: str, tmp_path: Path) -> None:
    """``hotline check-config`` prints the problems on stderr and exits 78; a good file prints OK and exits 0."""
    bad = write(tmp_path, "web:\n  listen: localhost\nmetrics:\n  access: loopbak\n", "bad.yaml")
    proc = subprocess.run([hotline_bin, "check-config", "-c", str(bad)], env=clean_env(), capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == EX_CONFIG
    assert proc.stderr.splitlines() == [
        f"{bad}:2:11: web.listen: expected host:port with a port from 1 to 65535, got 'localhost'",
        f"{bad}:4:11: metrics.access: expected one of loopback, token, public, got 'loopbak' "
        "(did you mean 'loopback'?)",
        "hotline: 2 configuration problem(s)",
    ]
    proc = subprocess.run([hotline_bin, "-c", str(SHIPPED), "check-config"], env=clean_env(),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{SHIPPED}: OK (1 device(s))"


def test_run_with_bad_config_exits_78_and_touches_nothing(hotline_bin: str, tmp_path: Path) -> None:
    """``hotline run`` on a broken file exits 78 (systemd won't restart-loop) before creating any state."""
    bad = write(tmp_path, "engine:\n  drain_timout: 5\n")
    state = tmp_path / "state"
    proc = subprocess.run([hotline_bin, "-c", str(bad), "run"], capture_output=True, text=True, timeout=30,
                          env=clean_env(HOTLINE_STATE_DIR=str(state), HOTLINE_WEB_LISTEN="127.0.0.1:1"))
    assert proc.returncode == EX_CONFIG
    assert f"{bad}:2:3: engine.drain_timout: unknown key (did you mean 'drain_timeout'?)" in proc.stderr
    assert not state.exists()


def test_run_with_bad_env_override_exits_78(hotline_bin: str, tmp_path: Path) -> None:
    """A bad override at start is a configuration error too (exit 78), naming the variable."""
    proc = subprocess.run([hotline_bin, "-c", str(SHIPPED), "run"], capture_output=True, text=True, timeout=30,
                          env=clean_env(HOTLINE_STATE_DIR=str(tmp_path / "st"), HOTLINE_WEB_LISTEN="127.0.0.1"))
    assert proc.returncode == EX_CONFIG, proc.stderr
    assert "$HOTLINE_WEB_LISTEN:1:1: web.listen: expected host:port" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_command_prints_effective_config(hotline_bin: str, tmp_path: Path) -> None:
    """``hotline config`` (file from $HOTLINE_CONFIG) prints every setting with defaults and derived paths."""
    path = write(tmp_path, "engine:\n  drain_timeout: 5\n")
    env = clean_env(HOTLINE_CONFIG=str(path), HOTLINE_STATE_DIR="var", HOTLINE_WEB_LISTEN="127.0.0.1:8181")
    proc = subprocess.run([hotline_bin, "config"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"# effective configuration from {path}"
    eff = yaml.safe_load(proc.stdout)
    assert set(eff) == set(CORE.fields)
    state = tmp_path / "var"
    assert {k: eff["paths"][k] for k in ("state", "recordings", "prompts", "spool")} == {
        "state": str(state), "recordings": str(state / "recordings"), "prompts": str(state / "prompts"),
        "spool": str(state / "spool")}
    assert all(v is None or Path(v).is_absolute() for v in eff["paths"].values()), eff["paths"]
    assert eff["database"] == {"url": f"sqlite:///{state / 'hotline.db'}", "auto_upgrade": False}
    assert eff["web"]["listen"] == "127.0.0.1:8181"
    assert eff["engine"]["drain_timeout"] == 5.0 and eff["engine"]["max_channels"] == 1000
    assert eff["locale"] == {"language": "zh_CN", "timezone": "Asia/Shanghai", "tone_profile": "CN"}
    # -c wins over $HOTLINE_CONFIG
    proc = subprocess.run([hotline_bin, "config", "-c", str(SHIPPED)], env=env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0 and yaml.safe_load(proc.stdout)["devices"][0]["name"] == "sim0"
