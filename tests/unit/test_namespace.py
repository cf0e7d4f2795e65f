"""The name clash with python-daemon, and the layering rules of ARCHITECTURE §2 checked over the AST."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUARD = "must be imported as 'hotline.daemon'"

PROBE = (
    "import daemon, hotline.daemon\n"
    "print(daemon.__file__)\n"
    "print(hotline.daemon.__file__)\n"
    "print(hasattr(daemon, 'DaemonContext'))\n"
)


def _probe(cwd: Path, *flags: str) -> list[str]:
    proc = subprocess.run([sys.executable, *flags, "-c", PROBE], cwd=cwd, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def _is_python_daemon(path: str) -> bool:
    p = Path(path).resolve()
    return "site-packages" in p.parts and p.parent.name == "daemon" and p.parent != REPO / "daemon"


@pytest.mark.parametrize("where", ["repo root with -P", "another directory"])
def test_import_daemon_is_python_daemon_and_hotline_daemon_is_ours(where: str, tmp_path: Path) -> None:
    """The ways the project is meant to be started see python-daemon as ``daemon`` and our folder as hotline.daemon."""
    lines = _probe(REPO, "-P") if where.startswith("repo") else _probe(tmp_path)
    daemon_file, ours, has_context = lines
    assert _is_python_daemon(daemon_file), daemon_file
    assert has_context == "True"
    assert Path(ours).resolve() == REPO / "daemon" / "__init__.py"


def test_hotline_daemon_in_process_is_the_repo_folder() -> None:
    """The installed (editable) namespace maps hotline.daemon to the repo's daemon/ folder."""
    mod = importlib.import_module("hotline.daemon")
    assert mod.__name__ == "hotline.daemon"
    assert Path(mod.__file__).resolve() == REPO / "daemon" / "__init__.py"
    cli = importlib.import_module("hotline.daemon.cli.main")
    assert Path(cli.__file__).resolve() == REPO / "daemon" / "cli" / "main.py"


def test_our_folder_imported_as_daemon_raises_the_guard() -> None:
    """Loading daemon/__init__.py under the name 'daemon' fails loudly instead of shadowing python-daemon."""
    spec = importlib.util.spec_from_file_location("daemon", REPO / "daemon" / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(ImportError) as err:
        spec.loader.exec_module(module)
    message = str(err.value)
    assert GUARD in message and "python-daemon" in message and "'daemon'" in message


def test_python_c_from_repo_root_hits_the_guard_not_a_half_import() -> None:
    """``python -c 'import daemon'`` from the repo root finds our folder first: the guard must say why."""
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import daemon",
                           str(REPO)], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and GUARD in proc.stderr and "python-daemon" in proc.stderr


def test_console_script_works_from_the_repo_root(hotline_bin: str) -> None:
    """The ``hotline`` console script runs from the repo root (its sys.path[0] is the venv's bin)."""
    proc = subprocess.run([hotline_bin, "version"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("hotline ")


def test_no_files_that_break_the_namespace() -> None:
    """No hotline/ folder, no tests/__init__.py, no root conftest.py; pytest imports in importlib mode."""
    assert not (REPO / "hotline").exists()
    assert not (REPO / "conftest.py").exists()
    assert not list((REPO / "tests").rglob("__init__.py"))
    assert "--import-mode=importlib" in (REPO / "pyproject.toml").read_text()


# ---- layering (ARCHITECTURE §2) --------------------------------------------------------------

def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["hotline", *parts])


def _imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """Every module a file imports (relative imports resolved), with line numbers; inner imports too."""
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from . import x" may import a submodule: record both the package and package.x
            out.append((node.lineno, target))
            out.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names if alias.name != "*")
    return out


def _hotline_imports(folder: str) -> list[tuple[str, int, str]]:
    files = sorted((REPO / folder).rglob("*.py"))
    assert files, f"no Python files under {folder}/"
    return [(str(f.relative_to(REPO)), line, mod) for f in files for line, mod in _imports(f)
            if mod == "hotline" or mod.startswith("hotline.")]


def _prefix(mod: str, allowed: tuple[str, ...]) -> bool:
    return any(mod == a or mod.startswith(a + ".") for a in allowed)


def test_layering_drivers_base_imports_nothing_from_hotline() -> None:
    """drivers/base.py is the contract: it depends on nothing of ours."""
    bad = [(line, mod) for line, mod in _imports(REPO / "drivers" / "base.py")
           if mod == "hotline" or mod.startswith("hotline.")]
    assert bad == []


def test_layering_drivers_import_only_drivers() -> None:
    """Driver implementations see only the driver package (base, registry, their own modules)."""
    bad = [x for x in _hotline_imports("drivers") if not _prefix(x[2], ("hotline.drivers",))]
    assert bad == []


def test_layering_dialplan_imports_only_dialplan_and_drivers_base() -> None:
    """Dialplan apps see a CallContext facade and the contract's types, never a driver or the daemon."""
    allowed = ("hotline.dialplan", "hotline.drivers.base")
    bad = []
    for file, line, mod in _hotline_imports("dialplan"):
        if _prefix(mod, allowed):
            continue
        # "from hotline.drivers import base" appears as hotline.drivers plus hotline.drivers.base
        if mod == "hotline.drivers" and (file, line, "hotline.drivers.base") in _hotline_imports("dialplan"):
            continue
        bad.append((file, line, mod))
    assert bad == []


def test_layering_fax_imports_only_fax_and_shared_dsp() -> None:
    """The fax engine is library code: it sees itself, the driver contract's constants and drivers/common (elastic
    buffers, spandsp bindings), never the daemon, a driver, the dialplan or the web layer."""
    allowed = ("hotline.fax", "hotline.drivers.base", "hotline.drivers.common")
    bad = [x for x in _hotline_imports("fax") if not _prefix(x[2], allowed) and x[2] != "hotline.drivers"]
    assert bad == []


def test_layering_webadmin_never_imports_drivers() -> None:
    """The web layer gets services injected; it never touches drivers or hardware."""
    bad = [x for x in _hotline_imports("webadmin") if _prefix(x[2], ("hotline.drivers",))]
    assert bad == []


def test_layering_checker_sees_every_kind_of_import() -> None:
    """The AST walk resolves relative imports and finds function-local ones, so the rules above can fail."""
    fake = REPO / "webadmin" / "handlers" / "fake_for_test.py"
    src = ("from ...drivers import base\n"
           "from ..daemon import users\n"
           "def f():\n"
           "    import hotline.drivers.sim.card\n")
    found = [mod for _, mod in _imports(fake, src)]
    assert found == ["hotline.drivers", "hotline.drivers.base", "hotline.webadmin.daemon",
                     "hotline.webadmin.daemon.users", "hotline.drivers.sim.card"]


# ---- folders by concept, no import circles ---------------------------------------------------

FOLDERS = ("daemon", "drivers", "dialplan", "fax", "webadmin")


def _all_modules() -> dict[str, Path]:
    return {_module_name(p): p for top in FOLDERS for p in sorted((REPO / top).rglob("*.py"))}


def _runtime_imports(path: Path) -> set[str]:
    """Modules a file imports at run time (imports under ``if TYPE_CHECKING:`` are annotations only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for stmt in node.body for n in ast.walk(stmt)}
    kept = [stmt for stmt in ast.walk(tree) if isinstance(stmt, (ast.Import, ast.ImportFrom))
            and id(stmt) not in typing_only]
    module = ast.Module(body=kept, type_ignores=[])
    return {mod for _, mod in _imports(path, ast.unparse(module))}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_no_import_circles() -> None:
    """No module imports itself through others, function-local imports included (a reader can follow the arrows)."""
    modules = _all_modules()
    graph = {name: {m for m in _runtime_imports(path) if m in modules and m != name}
             for name, path in modules.items()}
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_circle() -> None:
    """The circle check can fail: a three-module loop is found, a chain is not."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def _package_names(path: Path) -> set[str] | None:
    """Names a package's __init__ defines at its top level (None for a plain module: not checked)."""
    if path.name != "__init__.py":
        return None
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def test_every_hotline_import_names_a_module_or_a_name_in_one() -> None:
    """After moving modules between folders, no import points at a module that is gone (relative ones and
    tests included): ``from X import a`` needs the module X (or each ``X.a`` a module)."""
    modules = _all_modules()
    missing = []
    for path in [*modules.values(), *sorted((REPO / "tests").rglob("*.py"))]:
        own = _module_name(path) if path.relative_to(REPO).parts[0] in FOLDERS else None
        package = None if own is None else (own if path.name == "__init__.py" else own.rpartition(".")[0])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = (str(path.relative_to(REPO)), getattr(node, "lineno", 0))
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    assert package is not None, where
                    base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("hotline."):
                    continue
                names = [a.name for a in node.names]
                if target in modules:
                    defined = _package_names(modules[target])
                    missing += [(*where, f"{target}.{n}") for n in names
                                if defined is not None and f"{target}.{n}" not in modules and n not in defined]
                elif not all(f"{target}.{n}" in modules for n in names):
                    missing.append((*where, target))
            elif isinstance(node, ast.Import):
                missing += [(*where, a.name) for a in node.names
                            if a.name.startswith("hotline.") and a.name not in modules]
    assert missing == []


def test_every_daemon_folder_says_what_it_is_for() -> None:
    """Each package and module opens with a docstring (its purpose, for a newcomer browsing folders)."""
    silent = [str(p.relative_to(REPO)) for p in _all_modules().values()
              if p.stat().st_size and ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None]
    assert silent == []


def test_daemon_top_level_holds_only_packages_and_basics() -> None:
    """daemon/ is grouped by concept: beside the folders only the guard and three tiny shared basics remain."""
    loose = sorted(p.name for p in (REPO / "daemon").glob("*.py"))
    assert loose == ["__init__.py", "aio.py", "errors.py", "version.py"]
    folders = sorted(p.name for p in (REPO / "daemon").iterdir() if (p / "__init__.py").exists())
    assert folders == ["acd", "box", "calls", "cli", "fax", "mail", "media", "service", "stats", "store"]
