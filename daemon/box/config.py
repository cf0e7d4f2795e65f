"""Bootstrap configuration: load hotline.yaml with line marks, validate it, apply env overrides."""
from __future__ import annotations

import os
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hotline.drivers import registry
from hotline.drivers.base import Duplex, Option

from ..calls.linebind import device_duplex
from ..errors import ConfigError, Problem
from ..store.service_models import TicketType
from hotline.dialplan import safe_yaml
from hotline.dialplan.schema import Ctx, Dispatch, ListOf, MapOf, Scalar, Section, Spec, TooManyProblems, load_node

DEFAULT_PATH = "/etc/hotline/hotline.yaml"
LEVELS = ("debug", "info", "warning", "error")
ENV_OVERRIDES = {
    "HOTLINE_STATE_DIR": ("paths", "state"),
    "HOTLINE_DATABASE_URL": ("database", "url"),
    "HOTLINE_WEB_LISTEN": ("web", "listen"),
}


_EMAIL = r"[^@\s,]+@[^@\s,]+"
_TICKET_TYPES = tuple(t.value for t in TicketType)


def _timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (expected a name like Asia/Shanghai)") from None
    return name


def _path(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a directory path, got an empty string")
    return value


def _listen(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"expected host:port with a port from 1 to 65535, got {value!r}")
    return value


def _network(value: str) -> str:
    import ipaddress
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"expected an IP address or network like 10.0.0.1 or 10.0.0.0/8, got {value!r}") from None
    return value


def _database_url(value: str) -> str:
    if not value.startswith(("sqlite:///", "postgresql://", "postgres://", "postgresql+psycopg2://")):
        raise ValueError(f"expected sqlite:///PATH or postgresql://..., got {value!r}")
    return value


class _TextOrMapping(Spec):
    """A list item that is a string or a mapping of known keys (a driver Option's ``item_fields``)."""

    def __init__(self, text: Scalar, mapping: Section) -> None:
        self.text, self.mapping = text, mapping

    def describe(self) -> str:
        return "a string or a mapping"

    def check(self, node: yaml.Node, ctx: Ctx, key: str) -> Any:
        return (self.mapping if isinstance(node, yaml.MappingNode) else self.text).check(node, ctx, key)


def option_spec(opt: Option) -> Spec:
    """Turn a driver's dependency-free Option into a schema element."""
    if opt.type is list:
        item: Spec = Scalar(str, pattern=opt.pattern, help=opt.help)
        if opt.item_fields:
            item = _TextOrMapping(item, Section({f.name: option_spec(f) for f in opt.item_fields},
                                                required=tuple(f.name for f in opt.item_fields if f.required)))
        return ListOf(item, default=list(opt.default or []), help=opt.help)
    default = opt.default
    if default is None and not opt.required:
        return Scalar(opt.type, default=None, nullable=True, min=opt.min, max=opt.max,
                      choices=opt.choices, pattern=opt.pattern, help=opt.help)
    return Scalar(opt.type, default=default, min=opt.min, max=opt.max, choices=opt.choices, pattern=opt.pattern,
                  help=opt.help)


def _driver_section(name: str) -> Section | None:
    cls = registry.get(name)
    if cls is None:
        return None
    fields = {o.name: option_spec(o) for o in cls.schema}
    return Section(fields, required=tuple(o.name for o in cls.schema if o.required))


NUMBER_PATTERN = r"\+?[0-9][0-9*#]{0,30}"  # a device's number: the route for it takes calls with no dialled number

DEVICE_COMMON: dict[str, Spec] = {
    "name": Scalar(str, pattern=r"[a-z][a-z0-9_-]{0,31}", help="lower-case letters, digits, - and _"),
    "driver": Scalar(str),
    "enabled": Scalar(bool, default=True),
    "number": Scalar(str, default=None, nullable=True, pattern=NUMBER_PATTERN,
                     help="digits (also * and #, a leading + allowed), like \"8001\""),
}

CORE = Section({
    "paths": Section({
        "state": Scalar(str, default="/var/lib/hotline", convert=_path,
                        help="databases, recordings, voicemail, spool"),
        "recordings": Scalar(str, default=None, nullable=True, convert=_path),
        "prompts": Scalar(str, default=None, nullable=True, convert=_path),
        "flows": Scalar(str, default=None, nullable=True, help="flow files (default: flows/ beside this file)"),
        "prompt_manifest": Scalar(str, default=None, nullable=True,
                                  help="prompt texts (default: prompts/manifest.yaml beside this file)"),
        "spool": Scalar(str, default=None, nullable=True, convert=_path),
    }),
    "web": Section({
        "listen": Scalar(str, default="127.0.0.1:8080", convert=_listen),
        "tls_cert": Scalar(str, default=None, nullable=True),
        "tls_key": Scalar(str, default=None, nullable=True),
        "trusted_proxies": ListOf(Scalar(str, convert=_network), default=[],
                                  help="reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed"),
    }),
    "database": Section({
        "url": Scalar(str, default=None, nullable=True, convert=_database_url),
        "auto_upgrade": Scalar(bool, default=False),
    }),
    "devices": ListOf(Dispatch("driver", DEVICE_COMMON, _driver_section, registry.names)),
    "routes": ListOf(Section({
        "dialed": Scalar(str, pattern=r"[0-9*#+]{1,32}|\*", help="a dialled number (DID), or * for any other"),
        "flow": Scalar(str, pattern=r"[a-z][a-z0-9_]{0,47}", help="a flow name"),
        "recording": Scalar(str, default=None, nullable=True, choices=("always", "on_demand", "never"),
                            help="calls on this number: always recorded, on_demand (paused until the agent "
                                 "starts it) or never; unset: engine.record_calls"),
        "fax_detect": Scalar(bool, default=True, help="a caller's fax calling tone (CNG) turns the call into a fax "
                             "receive (true, the default); false: calls on this number never take a fax"),
    }, required=("dialed", "flow"))),
    "metrics": Section({
        "enabled": Scalar(bool, default=True),
        "access": Scalar(str, default="loopback", choices=("loopback", "token", "public")),
    }),
    "logging": Section({
        "level": Scalar(str, default="info", choices=LEVELS),
        "components": MapOf(Scalar(str, choices=LEVELS), key_pattern=r"[a-z_.]+"),
    }),
    "mail": Section({
        "smtp_host": Scalar(str, default=None, nullable=True,
                            help="SMTP server for scheduled reports, fax and voicemail mail; unset: no mail"),
        "smtp_port": Scalar(int, default=25, min=1, max=65535),
        "starttls": Scalar(bool, default=False, help="upgrade the connection with STARTTLS (port 587)"),
        "ssl": Scalar(bool, default=False, help="TLS from the start (port 465)"),
        "username": Scalar(str, default=None, nullable=True),
        "password_file": Scalar(str, default=None, nullable=True, convert=_path,
                                help="a file holding the SMTP password (never the password itself in this file)"),
        "sender": Scalar(str, default="hotline@localhost", pattern=r"[^@\s]+@[^@\s]+"),
        "timeout": Scalar(float, default=30.0, min=1, max=300),
        "retry_seconds": Scalar(float, default=60.0, min=1, max=86400, help="a fax or voicemail mail the server did "
                                "not take is tried again after this long, doubling after each failed try"),
        "retry_max_seconds": Scalar(float, default=3600.0, min=1, max=86400),
        "max_attempts": Scalar(int, default=24, min=1, max=1000, help="tries before a fax or voicemail mail is "
                               "given up (marked failed with the reason; the fax or message stays in the panel)"),
    }),
    "report_schedules": ListOf(Section({
        "name": Scalar(str, pattern=r"[a-z][a-z0-9_]{0,47}"),
        "every": Scalar(str, choices=("day", "week", "month"), help="the period reported: yesterday, last week "
                        "(Monday to Sunday) or last month"),
        "at": Scalar(str, default="07:00", pattern=r"([01][0-9]|2[0-3]):[0-5][0-9]", help="local time to send"),
        "reports": ListOf(Scalar(str, choices=("volume", "queues", "agents", "lines", "ivr", "choices", "tickets",
                                               "faxes", "heatmap", "abandoned", "calls")),
                          default=["volume", "queues", "agents"]),
        "to": ListOf(Scalar(str, pattern=r"[^@\s]+@[^@\s]+")),
        "language": Scalar(str, default=None, nullable=True, choices=("zh_CN", "en_US")),
    }, required=("name", "every", "to"))),
    "locale": Section({
        "language": Scalar(str, default="zh_CN", choices=("zh_CN", "en_US")),
        "timezone": Scalar(str, default="Asia/Shanghai", convert=_timezone),
        "tone_profile": Scalar(str, default="CN", choices=("CN", "US")),
    }),
    "fax": Section({
        "sender": Scalar(str, default="none", pattern=r"[a-z][a-z0-9_-]{0,31}",
                         help="what speaks T.30: none (no fax engine: nothing is dialled, queued jobs say so), "
                              "spandsp (the software fax engine, when installed), class2 (a class 2/2.0 fax modem, "
                              "modem_port), class1 (a class 1 fax modem, modem_port: the box runs T.30), "
                              "qa-tones (QA, simulated lines only)"),
        "max_attempts": Scalar(int, default=4, min=1, max=20),
        "retry_seconds": Scalar(float, default=120.0, min=1, max=86400, help="wait before the first retry; doubles "
                                "after each failed attempt"),
        "retry_max_seconds": Scalar(float, default=1800.0, min=1, max=86400),
        "kill_hours": Scalar(float, default=24.0, min=0.0003, max=720, help="a job not sent this long after it "
                             "was queued fails (kill time)"),
        "dial_timeout": Scalar(float, default=60.0, min=5, max=300),
        "transmit_timeout": Scalar(float, default=900.0, min=10, max=7200),
        "concurrent": Scalar(int, default=2, min=1, max=64, help="faxes dialled at once (never more than free trunks)"),
        "ecm": Scalar(bool, default=True, help="spandsp sender: error correction (ECM) when the far machine has it"),
        "ident": Scalar(str, default="", pattern=r"[0-9+ ]{0,20}", help="spandsp sender: the box's fax number "
                        "sent to the far machine (TSI) and printed on the header line; digits, + and spaces"),
        "header_name": Scalar(str, default="Hotline", pattern=r"[ -~]{1,40}", help="spandsp sender: the box's name "
                              "on every sent page's header line (printable ASCII)"),
        "resolution": Scalar(str, default="fine", choices=("fine", "normal"), help="spandsp sender: page resolution"),
        "modem_port": Scalar(str, default=None, nullable=True, help="class1/class2 sender: the fax modem's device path, "
                             "/dev/serial/by-id name or pyserial URL"),
        "modem_class": Scalar(str, default="auto", choices=("auto", "2", "2.0"),
                              help="class2 sender: 2.0 when the modem offers it (auto), or force 2 / 2.0"),
        "modem_page_timeout": Scalar(float, default=180.0, min=10, max=1200,
                                     help="class2 sender: seconds the modem may take over one page"),
        "qa_answer_seconds": Scalar(float, default=10.0, min=0.5, max=120),
        "qa_ack_seconds": Scalar(float, default=10.0, min=0.5, max=120),
        "inbox": Section({
            "mail_to": ListOf(Scalar(str, pattern=_EMAIL), default=[], help="addresses each received fax is "
                              "mailed to (PDF attached); needs mail.smtp_host"),
            "language": Scalar(str, default=None, nullable=True, choices=("zh_CN", "en_US"),
                               help="language of the fax mail; unset: locale.language"),
            "new_ticket": Scalar(bool, default=False, help="open a ticket for a received fax when the caller has "
                                 "no open ticket"),
            "ticket_type": Scalar(str, default="other", choices=_TICKET_TYPES),
        }),
    }),
    "voicemail": Section({
        "mail_to": ListOf(Scalar(str, pattern=_EMAIL), default=[], help="addresses every new voicemail is mailed "
                          "to (audio attached); needs mail.smtp_host"),
        "mailboxes": MapOf(Section({
            "mail_to": ListOf(Scalar(str, pattern=_EMAIL), default=[]),
            "extension": Scalar(str, default=None, nullable=True, pattern=r"[0-9A-Za-z*#]{1,16}",
                                help="the station whose message-waiting lamp shows this mailbox's unread "
                                     "messages (default: the extension the mailbox is named after)"),
        }), key_pattern=r"[A-Za-z0-9_.\-]{1,64}", help="per mailbox (the voicemail step's mailbox:): its own "
            "addresses instead of voicemail.mail_to, the extension whose lamp it lights"),
        "attach": Scalar(str, default="wav", choices=("wav", "mp3"), help="mp3 needs lame (installed by "
                         "scripts/setup-env); without it the WAV is attached"),
        "language": Scalar(str, default=None, nullable=True, choices=("zh_CN", "en_US")),
    }),
    "engine": Section({
        "max_channels": Scalar(int, default=1000, min=1, max=5000),
        "drain_timeout": Scalar(float, default=30.0, min=0, max=3600),
        "overrun_ms": Scalar(float, default=15.0, min=1, max=100,
                             help="a tick whose own CPU time is over this counts as an overrun for admission "
                                  "control (as does falling a tick behind)"),
        "call_timeout": Scalar(float, default=4 * 3600.0, min=60,
                               help="the watchdog ends calls older than this"),
        "speed": Scalar(float, default=1.0, min=0, max=100,
                        help="1 = real time; larger runs the clock faster; 0 = as fast as possible"),
        "record_calls": Scalar(bool, default=True),
        "record_stereo": Scalar(bool, default=False, help="caller on the left channel, the other side on the right"),
        "recording_min_free_mb": Scalar(float, default=500.0, min=0, max=10**7,
                                        help="below this much free disk no new recording starts (calls go on)"),
        "recording_retention_days": Scalar(int, default=0, min=0, max=36500,
                                           help="delete recordings older than this (0 keeps them)"),
        "operator": Scalar(str, default=None, nullable=True,
                           help="extension the built-in reception flow rings when the caller enters none"),
    }),
})


@dataclass
class Config:
    """The validated, effective configuration."""

    path: str
    data: dict[str, Any]
    base: str = ""  # the directory relative paths were resolved against (reloads use it again)
    warnings: list[Problem] = field(default_factory=list)  # the file works, but a technician should look

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def state_dir(self) -> Path:
        """The state directory (absolute)."""
        return Path(self.data["paths"]["state"]).resolve()

    def path_for(self, name: str) -> Path:
        """A configured path under paths:, defaulting to <state>/<name>."""
        value = self.data["paths"].get(name)
        return Path(value).resolve() if value else self.state_dir / name

    def etc_path(self, name: str, default: str) -> Path:
        """A path of shipped files (flows, prompt manifest): configured, or beside the config file."""
        value = self.data["paths"].get(name)
        return Path(value).resolve() if value else Path(self.path).resolve().parent / default

    @property
    def database_url(self) -> str:
        """The database URL, defaulting to SQLite in the state directory."""
        return self.data["database"]["url"] or f"sqlite:///{self.state_dir / 'hotline.db'}"

    @property
    def listen(self) -> tuple[str, int]:
        """Web listen address as (host, port)."""
        host, _, port = self.data["web"]["listen"].rpartition(":")
        return host.strip("[]"), int(port)

    def effective(self) -> dict[str, Any]:
        """The configuration with derived defaults filled in, for ``hotline config``."""
        out = safe_yaml.load(yaml.safe_dump(self.data))
        for name in ("recordings", "prompts", "spool"):
            out["paths"][name] = str(self.path_for(name))
        out["paths"]["flows"] = str(self.etc_path("flows", "flows"))
        out["paths"]["prompt_manifest"] = str(self.etc_path("prompt_manifest", "prompts/manifest.yaml"))
        out["paths"]["state"] = str(self.state_dir)
        out["database"]["url"] = self.database_url
        return out


def _apply_env(data: dict | None, env: dict[str, str]) -> list[Problem]:
    """Validate the overrides (an empty one counts as unset) and apply them to ``data`` when given."""
    problems = []
    for var, (section, key) in ENV_OVERRIDES.items():
        value = env.get(var, "")
        if not value:
            continue
        spec = CORE.fields[section].fields[key]
        ctx = Ctx(f"${var}")
        mark = yaml.Mark(f"${var}", 0, 0, 0, None, None)  # the value is line 1, column 1 of the variable
        node = yaml.ScalarNode("tag:yaml.org,2002:str", value, mark, mark)
        checked = spec.check(node, ctx, f"{section}.{key}")
        problems.extend(ctx.problems)
        if not ctx.problems and data is not None and isinstance(data.get(section), dict):
            data[section][key] = checked
    return problems


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            if getattr(knode, "value", None) == key:
                return vnode
    return None


def _cross_checks(data: dict, node: yaml.Node | None, ctx: Ctx) -> None:
    _check_devices(node, ctx)
    _check_numbers(data, node, ctx)
    _check_mail(data, node, ctx)
    web = data.get("web", {})
    if bool(web.get("tls_cert")) != bool(web.get("tls_key")):
        present, missing = ("tls_cert", "tls_key") if web.get("tls_cert") else ("tls_key", "tls_cert")
        wnode = _child(node, "web")
        ctx.error(_child(wnode, present) or wnode or node, f"web.{missing}",
                  f"is required when web.{present} is set")


def _check_mail(data: dict, node: yaml.Node | None, ctx: Ctx) -> None:
    """Fax and voicemail mail need an SMTP server (reported at the addresses that ask for mail)."""
    if (data.get("mail") or {}).get("smtp_host"):
        return
    wanted = [(("fax", "inbox", "mail_to"), (data.get("fax") or {}).get("inbox", {}).get("mail_to")),
              (("voicemail", "mail_to"), (data.get("voicemail") or {}).get("mail_to"))]
    wanted += [(("voicemail", "mailboxes", name, "mail_to"), box.get("mail_to"))
               for name, box in ((data.get("voicemail") or {}).get("mailboxes") or {}).items()]
    for path, to in wanted:
        if not to:
            continue
        where = node
        for key in path:
            where = _child(where, key) or where
        ctx.error(where, ".".join(path), "mail needs an SMTP server: set mail.smtp_host (or remove these addresses)")


def _check_devices(node: yaml.Node | None, ctx: Ctx) -> None:
    """Device names and station extensions are unique across devices (reported where the repeat is); a driver's
    own cross-setting checks (``check_settings``) are reported at their keys."""
    dnodes = _child(node, "devices")
    if not isinstance(dnodes, yaml.SequenceNode):
        return
    names: dict[str, int] = {}
    owners: dict[str, str] = {}
    for i, dnode in enumerate(dnodes.value):
        # validated again on its own: the devices list drops invalid items, so indexes would not match
        dev = CORE.fields["devices"].item.check(dnode, Ctx(ctx.filename), f"devices[{i}]")
        if not isinstance(dev, dict):
            continue
        name = dev.get("name")
        label = repr(name) if name else f"devices[{i}]"
        if name is not None and name in names:
            ctx.error(_child(dnode, "name"), f"devices[{i}].name",
                      f"device name {name!r} is already used by devices[{names[name]}]")
        elif name is not None:
            names[name] = i
        check = getattr(registry.get(str(dev.get("driver") or "")), "check_settings", None)
        for key, message in check(dev) if check is not None else ():  # what only the driver can judge
            ctx.error(_child(dnode, key) or dnode, f"devices[{i}].{key}", message)
        skey = "stations" if isinstance(dev.get("stations"), list) else "extensions"  # sim / card stations
        stations = dev.get(skey)
        if not isinstance(stations, list):
            continue
        snode = _child(dnode, skey)
        items = snode.value if isinstance(snode, yaml.SequenceNode) else None
        explicit = items is not None and len(items) == len(stations)
        for k, ext in enumerate(stations):
            if ext in owners:
                where = "listed twice" if owners[ext] == label else f"already used by device {owners[ext]}"
                if explicit:
                    ctx.error(items[k], f"devices[{i}].{skey}[{k}]", f"extension {ext} is {where}")
                else:
                    ctx.error(snode or dnode, f"devices[{i}].{skey}",
                              f"extension {ext} is {where} (these are the driver's default stations: "
                              "set stations: for this device)")
                    break  # one problem per device is enough for its defaults
            else:
                owners[ext] = label


def _check_numbers(data: dict, node: yaml.Node | None, ctx: Ctx) -> None:
    """Device numbers: not a station's extension, one duplex per number, and a route for each (else a warning)."""
    dnodes = _child(node, "devices")
    items = dnodes.value if isinstance(dnodes, yaml.SequenceNode) else []
    devices = data.get("devices") or []
    if len(items) != len(devices):
        return  # an invalid device was dropped: the indexes would not match (its problem is reported already)
    stations = {str(ext): dev.get("name") for dev in devices for ext in dev.get("stations") or []}
    routed = {r["dialed"] for r in data.get("routes") or []}
    fallback = "the route for *" if "*" in routed else "the built-in reception"
    seen: dict[str, tuple[str, str]] = {}  # number -> (device, duplex)
    for i, (dev, dnode) in enumerate(zip(devices, items)):
        number = dev.get("number")
        unrouted = number not in routed and "*" not in routed
        if device_duplex(dev) is Duplex.HALF and unrouted:
            ctx.warn(_child(dnode, "number") or _child(dnode, "name") or dnode, f"devices[{i}]",
                     f"half-duplex device {dev.get('name')}: its calls reach the built-in reception, which connects "
                     "them to the operator, and a half-duplex line is never bridged: "
                     + (f"add a route for dialed: \"{number}\"" if number else "give it a number: with a route"))
            unrouted = False  # said already
        if not number:
            continue
        where, key = _child(dnode, "number"), f"devices[{i}].number"
        duplex = device_duplex(dev).value
        if number in stations:
            ctx.error(where, key, f"number {number} is also the extension of a station on device "
                                  f"{stations[number]}: an internal call to it would be ambiguous")
        elif number in seen and seen[number][1] != duplex:
            other, other_duplex = seen[number]
            ctx.error(where, key, f"number {number} is also answered by device {other} ({other_duplex} duplex, this "
                                  f"one is {duplex}): a caller could land on either kind of line; give each its "
                                  "own number")
        seen.setdefault(number, (dev.get("name", f"devices[{i}]"), duplex))
        if number not in routed and (unrouted or "*" in routed):
            ctx.warn(where, key, f"no route has dialed: \"{number}\": calls on this device take {fallback}")


def parse_config(text: str, filename: str, env: dict[str, str] | None = None, base: str | None = None,
                 allow_empty: bool = True) -> Config:
    """Validate YAML text; raise ConfigError listing every problem. Relative paths are taken from ``base``
    (default: the current directory). An empty file means every default, unless ``allow_empty`` is False (a
    reload: an empty file there is far more likely a half-written edit than a wish to reset everything)."""
    ctx = Ctx(filename)
    node = load_node(text, ctx)
    data: Any = None
    if node is None and not ctx.problems:
        if allow_empty:
            data = CORE.default_value()
        else:
            ctx.error(None, "", "the file is empty (a reload needs the whole configuration)")
    try:
        if node is not None:
            data = CORE.check(node, ctx, "")
        if isinstance(data, dict):
            _cross_checks(data, node, ctx)
    except TooManyProblems:
        data = None
    ctx.problems.sort(key=lambda p: (p.line, p.column))  # top to bottom, as a technician reads the file
    # overrides are checked even when the file has problems, so every problem is reported at once
    ctx.problems.extend(_apply_env(data if isinstance(data, dict) else None,
                                   dict(os.environ if env is None else env)))
    if ctx.problems:
        raise ConfigError(ctx.problems)
    base = base or os.getcwd()
    _make_absolute(data, base)
    ctx.warnings.sort(key=lambda p: (p.line, p.column))
    return Config(filename, data, base, ctx.warnings)


def _make_absolute(data: dict, base: str) -> None:
    """Fix relative paths against ``base`` (where the command ran), before the daemon may chdir away."""
    paths = data["paths"]
    for name, value in paths.items():
        if value:
            paths[name] = str(Path(base, value).resolve())
    url = data["database"]["url"]
    if url and url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        data["database"]["url"] = f"sqlite:///{Path(base, url[len('sqlite:///'):]).resolve()}"


def config_path(cli_value: str | None, env: dict[str, str] | None = None) -> str:
    """Which file to read: -c/--config, else $HOTLINE_CONFIG, else the default."""
    env = dict(os.environ if env is None else env)
    return cli_value or env.get("HOTLINE_CONFIG") or DEFAULT_PATH


def load_config(path: str, env: dict[str, str] | None = None, base: str | None = None,
                allow_empty: bool = True) -> Config:
    """Read and validate a configuration file (relative paths taken from ``base``, default the cwd; see
    parse_config for ``allow_empty``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(path, 0, 0, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(path, 0, 0, "", f"cannot read: {exc}")]) from None
    return parse_config(text, path, env, base, allow_empty)
