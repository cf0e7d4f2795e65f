"""Every shared library and program the code and tests load is installed by scripts/setup-env.

The Python sources are scanned (AST) for what they load from the system: ``ctypes.CDLL`` /
``LoadLibrary`` / ``ctypes.util.find_library`` (libraries), ``shutil.which``, ``subprocess.*`` and
``asyncio.create_subprocess_exec`` with a literal program, and Playwright's ``executable_path=``
(programs). Small wrappers such as ``def tool(name): return shutil.which(name)`` are followed to their
call sites; the README's tested sh blocks are read for the programs they run. Each name found must be
in PROVIDERS (name -> the Debian package that ships it), and that
package must be in scripts/setup-env's list: product code needs it in the demo list, tests and
scripts in the demo or test list. A new program without its package fails here, before a fresh
machine finds out.
"""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("daemon", "drivers", "dialplan", "fax", "webadmin")
SCANNED = (*PRODUCT, "scripts", "tests")

# What each loaded name is, and which Debian package provides it.
PROVIDERS: dict[str, str] = {
    "espeak-ng": "espeak-ng",                    # prompts (TTS), talk-off corpora
    "sox": "sox",                                # G.711 / WAV cross-checks
    "promtool": "prometheus",                    # metrics and alert rule checks
    "prometheus": "prometheus",                  # a real scrape of /metrics
    "systemd-analyze": "systemd",                # unit verify / security
    "systemd-sysusers": "systemd",
    "systemd-tmpfiles": "systemd",
    "/usr/lib/chromium/chromium": "chromium",    # browser tests (Playwright drives Debian's Chromium)
    "spandsp": "libspandsp2",                    # the fax engine (T.30), ADSI caller ID; reference DTMF generator (ctypes)
    "gs": "ghostscript",                         # fax documents -> TIFF-F, received faxes -> PNG pages
    "tiff2pdf": "libtiff-tools",                 # received faxes -> PDF
    "lame": "lame",                              # voicemail mailed as MP3
    "tiffinfo": "libtiff-tools",                 # fax document tests: the TIFF-F's compression
    "tiffsplit": "libtiff-tools",                # fax pages one by one
    "tifftopnm": "netpbm",                       # fax pages -> bitmaps
    "pngtopnm": "netpbm",                        # PNG documents to fax
    "jpegtopnm": "netpbm",                       # JPEG documents to fax
    "prlimit": "util-linux",                     # bounds on every document tool run
    "libspandsp.so.2": "libspandsp2",
    "openr2": "libopenr2-3",                     # MFC/R2 on E1 cards (drivers/dahdi/r2lib.py, ctypes)
    "libopenr2.so.3": "libopenr2-3",
    "libc.so.6": "libc6",                        # malloc_trim after big request work (daemon/aio.py)
    "mount": "mount",                            # a small tmpfs that fills up (recording failures)
    "umount": "mount",
    "sipp": "sip-tester",                        # the SIP peer (tests/scenarios/test_sip_sipp.py)
    "baresip": "baresip-core",                   # an IP phone (tests/scenarios/test_sip_baresip.py)
    "openssl": "openssl",                        # self-signed certificates for SIP over TLS (tests/unit/test_sip_tls.py)
    "taskset": "util-linux",                     # scripts/sip-bench pins the daemon and SIPp to cores
    "unshare": "util-linux",                     # vgetty in its own mount namespace (test_vgetty.py)
    "efax": "efax",                              # class 2/2.0 fax software against the virtual modem
    "faxgetty": "hylafax-server",                # HylaFAX receives from the virtual modem (class 2)
    "/usr/sbin/faxgetty": "hylafax-server",
    "tiffcp": "libtiff-tools",                   # fax pages -> MH data for fax modems (fax/t4.py)
    "curl": "curl",                              # the README's commands (run by tests/docs/test_readme.py)
    "bash": "bash",                              # runs them
    "cat": "coreutils",
    "dpkg-query": "dpkg",                        # this test's own checks
    "/sbin/ldconfig": "libc-bin",
    "gcc": "gcc",                                # compiles dahdi/user.h (tests/drivers/dahdi/test_abi_header.py)
    "apt-get": "apt",                            # downloads the dahdi-dkms .deb for its header (never installs it)
    "dpkg-deb": "dpkg",                          # unpacks it
}
# Debian's Essential packages are on every system and need no line in setup-env (checked below).
ESSENTIAL = {"dpkg", "libc-bin", "bash", "coreutils", "util-linux"}   # Essential: yes in Debian
SHELL_BUILTINS = {"export", "cd", "echo", "set", "test", "true", "false", "exit", "read", "trap", "sudo"}
LIBRARY_CALLS = {"CDLL", "LoadLibrary", "find_library", "PyDLL"}
PROGRAM_CALLS = {"which", "create_subprocess_exec"}
SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output"}


@dataclass(frozen=True)
class Use:
    """One library or program loaded by a source file."""

    name: str
    kind: str  # "library" or "program"
    path: str  # repo-relative file
    line: int


def python_sources() -> list[Path]:
    """Every Python file of the product, scripts and tests (scripts without .py by their shebang)."""
    files: list[Path] = []
    for top in SCANNED:
        for path in sorted((REPO / top).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            if path.suffix == ".py" or (top == "scripts" and path.suffix == ""
                                        and path.read_bytes()[:64].startswith(b"#!") and b"python" in
                                        path.read_bytes()[:64]):
                files.append(path)
    return files


def _callee(node: ast.Call) -> str:
    """The last part of a call's function name: ``subprocess.run`` -> ``run``."""
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _module_of(node: ast.Call) -> str:
    """The first part of a dotted call: ``subprocess.run`` -> ``subprocess``."""
    f = node.func
    while isinstance(f, ast.Attribute):
        f = f.value
    return f.id if isinstance(f, ast.Name) else ""


class _Scanner:
    """Finds the literal names one module loads, following simple assignments and wrappers."""

    def __init__(self, tree: ast.AST):
        self.tree = tree
        self.assigned: dict[str, list[ast.expr]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                self.assigned.setdefault(node.target.id, []).append(node.value)
        self.wrappers = self._wrappers()

    def strings(self, expr: ast.expr | None, depth: int = 0) -> list[str]:
        """String constants an expression can evaluate to (names resolved through assignments)."""
        if expr is None or depth > 3:
            return []
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [expr.value]
        if isinstance(expr, ast.Name):
            return [s for value in self.assigned.get(expr.id, []) for s in self.strings(value, depth + 1)]
        if isinstance(expr, ast.BoolOp):
            return [s for value in expr.values for s in self.strings(value, depth)]
        if isinstance(expr, ast.IfExp):
            return self.strings(expr.body, depth) + self.strings(expr.orelse, depth)
        if isinstance(expr, ast.Call) and _callee(expr) in LIBRARY_CALLS | {"which"}:
            return self.strings(expr.args[0] if expr.args else None, depth)
        return []

    def _wrappers(self) -> dict[str, str]:
        """Functions that pass their first parameter to a loader: name -> "library" | "program"."""
        found: dict[str, str] = {}
        for fn in ast.walk(self.tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or not fn.args.args:
                continue
            param = fn.args.args[0].arg
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Name) \
                        and node.args[0].id == param:
                    if _callee(node) in LIBRARY_CALLS:
                        found[fn.name] = "library"
                    elif _callee(node) in PROGRAM_CALLS:
                        found[fn.name] = "program"
        return found

    def uses(self) -> list[tuple[str, str, int]]:
        """(name, kind, line) for every literal library or program this module loads."""
        out: list[tuple[str, str, int]] = []
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Call):
                continue
            name, first = _callee(node), node.args[0] if node.args else None
            if name in LIBRARY_CALLS:
                out += [(s, "library", node.lineno) for s in self.strings(first)]
            elif name in PROGRAM_CALLS:
                out += [(s, "program", node.lineno) for s in self.strings(first)]
            elif name in SUBPROCESS_CALLS and _module_of(node) == "subprocess" and first is not None:
                program = first.elts[0] if isinstance(first, (ast.List, ast.Tuple)) and first.elts else first
                out += [(s, "program", node.lineno) for s in self.strings(program)]
            elif name in self.wrappers:
                out += [(s, self.wrappers[name], node.lineno) for s in self.strings(first)]
            for kw in node.keywords:
                if kw.arg == "executable_path":
                    out += [(s, "program", node.lineno) for s in self.strings(kw.value)]
        return out


def scan(files: list[Path]) -> list[Use]:
    """Everything the given files load from the system."""
    uses: list[Use] = []
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        rel = str(path.relative_to(REPO))
        uses += [Use(n, k, rel, line) for n, k, line in _Scanner(tree).uses()]
    return uses


def readme_programs() -> list[Use]:
    """Programs the README's tested sh blocks run (the first word of each command, after | && ; $( too)."""
    uses: list[Use] = []
    lines = (REPO / "README.md").read_text().splitlines()
    in_block, skipped, previous = False, False, ""
    for number, line in enumerate(lines, 1):
        if not in_block and line.startswith("```sh"):
            in_block, skipped = True, "not run by tests" in previous
        elif in_block and line.strip() == "```":
            in_block = False
        elif in_block and not skipped:
            code = line.split(" #")[0] if not line.startswith("#") else ""
            for part in re.split(r"\||&&|;|\$\(", code):
                words = part.split()
                if words and "=" in words[0]:
                    continue   # an assignment (its value may be a quoted string with spaces)
                if words and not words[0].startswith(("$", ".", "#", "\"")) and words[0] not in SHELL_BUILTINS:
                    uses.append(Use(words[0], "program", "README.md", number))
        if line.strip():
            previous = line
    return uses


def setup_env_packages() -> dict[str, set[str]]:
    """The Debian packages scripts/setup-env installs: {"demo": {...}, "test": {... incl. demo}}."""
    text = (REPO / "scripts" / "setup-env").read_text()
    base = re.search(r"^debs=\(([^)]*)\)", text, re.M)
    extra = re.findall(r"^\s*debs\+=\(([^)]*)\)", text, re.M)
    assert base, "scripts/setup-env has no debs=(...) list"
    demo = set(base.group(1).split())
    return {"demo": demo, "test": demo | {p for group in extra for p in group.split()}}


def test_the_scanner_finds_loads_through_wrappers_and_assignments() -> None:
    """The scanner sees ctypes, which, subprocess and wrapper calls; a test that cannot fail is no guard."""
    src = '''
import ctypes, ctypes.util, shutil, subprocess
LIB = ctypes.util.find_library("foo") or "libfoo.so.1"
lib = ctypes.CDLL(LIB)
def tool(name): return shutil.which(name)
subprocess.run(["frobnicate", "-x"])
subprocess.run([tool("widget"), "--help"])
subprocess.run([sys.executable, "-c", "pass"])
launch(executable_path="/usr/lib/thing/thing")
'''
    found = {(n, k) for n, k, _ in _Scanner(ast.parse(src)).uses()}
    assert found == {("foo", "library"), ("libfoo.so.1", "library"), ("frobnicate", "program"),
                     ("widget", "program"), ("/usr/lib/thing/thing", "program")}, found


def test_every_loaded_library_and_program_is_installed_by_setup_env() -> None:
    """Each name the code and tests load has a Debian package, and scripts/setup-env installs it."""
    uses = scan(python_sources()) + readme_programs()
    names = {u.name for u in uses}
    assert {"spandsp", "espeak-ng", "sox", "promtool", "systemd-analyze", "curl"} <= names, \
        f"the scan no longer sees known loads: {sorted(names)}"
    packages = setup_env_packages()
    problems = []
    for u in uses:
        package = PROVIDERS.get(u.name)
        if package is None:
            problems.append(f"{u.path}:{u.line}: loads {u.kind} {u.name!r}, which has no Debian package in "
                            "PROVIDERS (tests/unit/test_system_packages.py): add it there and to scripts/setup-env")
            continue
        needed = "demo" if u.path.split("/")[0] in PRODUCT or u.path == "README.md" else "test"
        if package not in packages[needed] and package not in ESSENTIAL:
            problems.append(f"{u.path}:{u.line}: loads {u.kind} {u.name!r} from Debian's {package}, which "
                            f"scripts/setup-env does not install ({needed} list: {sorted(packages[needed])})")
    assert not problems, "\n".join(problems)


def _dpkg_owner(path: str) -> str:
    """The Debian package that owns a file (merged /usr: try the /bin and /lib spellings too)."""
    resolved = str(Path(path).resolve())
    for candidate in dict.fromkeys([path, resolved, resolved.removeprefix("/usr")]):
        out = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True, timeout=30)
        if out.returncode == 0:
            return out.stdout.split(":")[0].strip()
    return ""


def _library_path(name: str) -> str:
    """Where the dynamic loader finds a library (``spandsp`` or ``libspandsp.so.2``)."""
    soname = name if name.startswith("lib") else f"lib{name}.so"
    listing = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True, timeout=30).stdout
    for line in listing.splitlines():
        left, _, target = line.partition("=>")
        if left.strip().split(" ")[0].startswith(soname):
            return target.strip()
    return ""


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_each_provider_really_ships_the_name(name: str) -> None:
    """On this machine (set up by scripts/setup-env) each name is present and owned by its mapped package."""
    kind_library = name in ("spandsp", "libspandsp.so.2", "libc.so.6", "openr2", "libopenr2.so.3")
    path = _library_path(name) if kind_library else (name if name.startswith("/") else shutil.which(name) or "")
    assert path and Path(path).exists(), f"{name} is not on this machine: run ./scripts/test (scripts/setup-env " \
                                         f"installs Debian's {PROVIDERS[name]})"
    assert _dpkg_owner(path) == PROVIDERS[name], f"{path} belongs to {_dpkg_owner(path)!r}, not {PROVIDERS[name]}"
    if PROVIDERS[name] in ESSENTIAL:
        flag = subprocess.run(["dpkg-query", "-W", "-f=${Essential}", PROVIDERS[name]], capture_output=True,
                              text=True, timeout=30).stdout.strip()
        assert flag == "yes", f"{PROVIDERS[name]} is not Essential on Debian: add it to scripts/setup-env"
