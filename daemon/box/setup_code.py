"""The one-time first-run code: while no administrator exists, /setup asks for it. The box writes it to
``<state>/setup-code`` (mode 0600, readable by the daemon's user and root only) and prints it in its log, so
only someone with the console, the log or the state directory can create the first administrator."""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger("hotline.web")

FILE_NAME = "setup-code"


def code_path(state_dir: Path) -> Path:
    """Where the code is kept."""
    return state_dir / FILE_NAME


def ensure(state_dir: Path) -> str:
    """The current code: the one in the file (kept across restarts), or a new one written 0600."""
    path = code_path(state_dir)
    try:
        code = path.read_text().strip()
        if len(code) >= 12:
            os.chmod(path, 0o600)
            return code
    except FileNotFoundError:
        pass
    code = "-".join(secrets.token_hex(3) for _ in range(3))     # e.g. 3f9a1c-77b0e2-c41d9a
    tmp = path.with_name(FILE_NAME + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(code + "\n")
    os.replace(tmp, path)
    return code


def announce(state_dir: Path, code: str, url: str) -> None:
    """Say in the log how to finish the first run."""
    log.warning("event=first_run setup_url=%ssetup setup_code=%s code_file=%s "
                "hint=%r", url, code, code_path(state_dir),
                "no administrator yet: open the setup page and enter this code (or run "
                "'hotline user add NAME --role admin')")


def matches(expected: str | None, given: str) -> bool:
    """Constant-time comparison, ignoring case, spaces and the dashes people may leave out."""
    if not expected:
        return False
    norm = lambda s: "".join(s.split()).replace("-", "").lower().encode()  # noqa: E731
    return secrets.compare_digest(norm(expected), norm(given))


def discard(state_dir: Path) -> None:
    """The first administrator exists: the code is spent."""
    code_path(state_dir).unlink(missing_ok=True)
