"""Running the document tools (ghostscript, libtiff-tools, netpbm): fixed argument lists, no shell, bounded in
time, output size and memory, and one error type that names the document and what went wrong."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DocumentError", "Limits", "run_tool", "require_tools"]

TOOLS = {"gs": "ghostscript", "tiff2pdf": "libtiff-tools", "tiffsplit": "libtiff-tools",
         "tifftopnm": "netpbm", "pngtopnm": "netpbm", "jpegtopnm": "netpbm", "prlimit": "util-linux"}


class DocumentError(ValueError):
    """A document could not be converted; the message names the file and the reason."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one conversion step."""

    seconds: float = 60.0                 # wall time of one tool run
    output_bytes: int = 256 * 1024 * 1024  # no single file the tool writes may grow beyond this
    memory_bytes: int = 2 * 1024 * 1024 * 1024   # address space of the tool
    input_bytes: int = 64 * 1024 * 1024    # documents larger than this are refused before any tool runs
    pages: int = 200                       # documents with more pages are refused


def require_tools(*names: str) -> None:
    """Fail clearly when a tool is missing (naming the Debian package that provides it)."""
    missing = [f"{n} (Debian package {TOOLS.get(n, '?')})" for n in names if shutil.which(n) is None]
    if missing:
        raise DocumentError(f"fax documents need {', '.join(missing)}: run scripts/setup-env")


def run_tool(argv: list[str], *, document: Path, cwd: Path, limits: Limits) -> subprocess.CompletedProcess:
    """Run one tool under prlimit (file size, CPU, memory) with a timeout; DocumentError on any failure.

    ``argv`` is a fixed list whose file arguments are paths the caller made in ``cwd`` (never user text), so no
    argument can be taken for an option. The environment is reduced to what the tools need.
    """
    require_tools(argv[0], "prlimit")
    cpu = int(limits.seconds) + 1
    cmd = ["prlimit", f"--fsize={limits.output_bytes}", f"--cpu={cpu}", f"--as={limits.memory_bytes}", "--", *argv]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(cwd), "TMPDIR": str(cwd)}
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=limits.seconds, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DocumentError(f"{document}: {argv[0]} took longer than {limits.seconds:g} s; the document is too "
                            f"complex or broken") from exc
    if proc.returncode != 0:
        raise DocumentError(f"{document}: {argv[0]} could not read it ({_why(proc)})")
    return proc


def _why(proc: subprocess.CompletedProcess) -> str:
    """The tool's last meaningful message, or its exit status (a signal from prlimit means a limit was hit)."""
    lines = [ln.strip() for ln in (proc.stderr or b"").decode("utf-8", "replace").splitlines()
             + (proc.stdout or b"").decode("utf-8", "replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "rror" in ln or "nvalid" in ln or "annot" in ln] or lines
    if proc.returncode < 0:
        return f"stopped by signal {-proc.returncode}: a size, memory or CPU limit was reached"
    return errors[-1][:300] if errors else f"exit status {proc.returncode}"
