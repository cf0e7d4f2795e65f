"""Backup and restore: one signed archive of the configuration, the database and (optionally) recordings.

The archive (``*.hlbackup``) is an uncompressed tar holding ``payload.tar.gz`` and ``signature.json``.
The payload holds ``manifest.json`` (format, Hotline version, schema version, time, every file with its
SHA-256), ``db/hotline.db`` (an online SQLite backup: consistent while calls go on), ``etc/`` (the
configuration file, flows, prompt manifest), ``prompts/`` (recorded prompts) and, when asked,
``recordings/``. The signature is HMAC-SHA256 of the payload with the box's backup key
(``<state>/backup-key``, made once, readable by the daemon only; copy it with ``hotline backup key`` to
restore on a replacement box).

Restore never touches anything until everything is verified: signature, format, schema version (not newer
than this Hotline), and every file's hash. A verified archive is staged in ``<state>/restore-pending``;
the daemon applies it at its next start, before the database is opened (the replaced files are kept in
``<state>/pre-restore-<time>``). The command line restores a stopped box directly.
"""
from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from ..errors import HotlineError

log = logging.getLogger("hotline.backup")
FORMAT = 1
MAX_ARCHIVE_BYTES = 4 * 1024**3


class BackupError(HotlineError):
    """A backup cannot be made, or an archive is refused (the message says why)."""


# ---- the key ---------------------------------------------------------------------------------
def key_path(state_dir: Path) -> Path:
    """Where the box's backup key lives."""
    return state_dir / "backup-key"


def load_key(state_dir: Path, create: bool = True) -> bytes:
    """The backup key (made on first use, mode 0600)."""
    path = key_path(state_dir)
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        if not create:
            raise BackupError(f"no backup key at {path}: this box has never made a backup; import the key of "
                              "the box that made the archive with `hotline backup key --import HEX`") from None
    except ValueError:
        raise BackupError(f"{path}: not a backup key (expected 64 hex digits)") from None
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return key


def key_id(key: bytes) -> str:
    """A short public name for a key (which key signed an archive)."""
    return hashlib.sha256(b"hotline-backup-key-id" + key).hexdigest()[:16]


# ---- making an archive -----------------------------------------------------------------------
def _sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def _etc_files(cfg: Any) -> list[tuple[str, Path]]:
    """Configuration files: (name in the archive, path on this box)."""
    out = [("etc/hotline.yaml", Path(cfg.path).resolve())]
    flows = cfg.etc_path("flows", "flows")
    if flows.is_dir():
        out += [(f"etc/flows/{p.name}", p) for p in sorted(flows.glob("*.yaml"))]
    manifest = cfg.etc_path("prompt_manifest", "prompts/manifest.yaml")
    if manifest.is_file():
        out.append(("etc/prompts/manifest.yaml", manifest))
    return out


def _tree(prefix: str, root: Path, pattern: str = "*") -> list[tuple[str, Path]]:
    if not root.is_dir():
        return []
    return [(f"{prefix}/{p.relative_to(root).as_posix()}", p) for p in sorted(root.rglob(pattern))
            if p.is_file() and not p.name.endswith(".part")]


def create(cfg: Any, out: BinaryIO, include_recordings: bool = False, version: str = "") -> dict:
    """Write a signed archive to ``out``; returns its manifest."""
    from ..store import migrations
    db_path = _sqlite_path(cfg.database_url)
    if db_path is None:
        raise BackupError("database.url: backups of PostgreSQL are made with pg_dump; this archive covers "
                          "SQLite boxes (configuration, database, recordings)")
    if not db_path.exists():
        raise BackupError(f"database {db_path} does not exist yet")
    key = load_key(cfg.state_dir)
    with tempfile.TemporaryDirectory(prefix="hotline-backup-") as tmp:
        snapshot = Path(tmp) / "hotline.db"
        src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        dst = sqlite3.connect(snapshot)
        try:
            src.backup(dst)           # consistent even while the daemon writes
            schema = dst.execute("SELECT MAX(version) FROM hotline_schema").fetchone()[0] or 0
        finally:
            dst.close()
            src.close()
        files = [("db/hotline.db", snapshot), *_etc_files(cfg), *_tree("prompts", cfg.path_for("prompts"), "*.wav")]
        files = [f for f in files if not f[0].startswith("prompts/cache/")]
        if include_recordings:
            files += _tree("recordings", cfg.path_for("recordings"), "*.wav")
        manifest = {"format": FORMAT, "hotline": version, "schema": schema, "latest_schema": migrations.LATEST,
                    "created_at": time.time(), "recordings": include_recordings, "key_id": key_id(key),
                    "files": {}}
        payload_path = Path(tmp) / "payload.tar.gz"
        with tarfile.open(payload_path, "w:gz", compresslevel=6) as tar:
            for name, path in files:
                manifest["files"][name] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
                tar.add(path, arcname=name, recursive=False)
            data = json.dumps(manifest, indent=1, ensure_ascii=False).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
        mac = hmac.new(key, digestmod=hashlib.sha256)
        with open(payload_path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                mac.update(block)
        signature = json.dumps({"alg": "HMAC-SHA256", "key_id": key_id(key), "mac": mac.hexdigest()}).encode()
        with tarfile.open(fileobj=out, mode="w|") as outer:
            outer.add(payload_path, arcname="payload.tar.gz")
            info = tarfile.TarInfo("signature.json")
            info.size, info.mtime = len(signature), int(time.time())
            outer.addfile(info, io.BytesIO(signature))
    return manifest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- verifying and restoring -------------------------------------------------------------------
def _safe_name(name: str) -> bool:
    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\x00" not in name and "\\" not in name


def verify(archive: Path, state_dir: Path, into: Path | None = None) -> dict:
    """Check signature, format, schema and every file; extract the payload into ``into`` when given.
    Returns the manifest; raises BackupError naming the first problem (a truncated or damaged archive too)."""
    try:
        return _verify(archive, state_dir, into)
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise BackupError(f"the archive is damaged or truncated ({exc})") from None


def _json_object(raw: bytes | str, what: str) -> dict:
    """A JSON object from the archive, or BackupError naming the file."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BackupError(f"{what} is not valid JSON")
    return data


def _verify(archive: Path, state_dir: Path, into: Path | None) -> dict:
    """verify() without the translation of archive-reading errors."""
    from ..store import migrations
    if archive.stat().st_size > MAX_ARCHIVE_BYTES:
        raise BackupError("archive is larger than 4 GB")
    try:
        outer = tarfile.open(archive, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"not a Hotline backup archive ({exc})") from None
    with outer, tempfile.TemporaryDirectory(prefix="hotline-verify-") as tmp:
        members = {m.name: m for m in outer.getmembers()}
        if set(members) != {"payload.tar.gz", "signature.json"} or not all(m.isfile() for m in members.values()):
            raise BackupError("not a Hotline backup archive (expected payload.tar.gz and signature.json)")
        signature = _json_object(outer.extractfile(members["signature.json"]).read(), "signature.json")
        key = load_key(state_dir, create=False)
        if signature.get("alg") != "HMAC-SHA256":
            raise BackupError(f"unknown signature algorithm {signature.get('alg')!r}")
        if signature.get("key_id") != key_id(key):
            raise BackupError(f"signed with another box's key ({signature.get('key_id')}); this box's key is "
                              f"{key_id(key)}")
        payload = Path(tmp) / "payload.tar.gz"
        mac = hmac.new(key, digestmod=hashlib.sha256)
        with outer.extractfile(members["payload.tar.gz"]) as src, open(payload, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                mac.update(block)
                dst.write(block)
        if not hmac.compare_digest(mac.hexdigest(), str(signature.get("mac", ""))):
            raise BackupError("signature does not match: the archive was changed or damaged")
        target = Path(into) if into is not None else Path(tmp) / "x"
        target.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(payload, "r:gz") as tar:
                for m in tar.getmembers():
                    if not (m.isfile() and _safe_name(m.name)):
                        raise BackupError(f"archive entry {m.name!r} is not a plain relative file")
                tar.extractall(target, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BackupError(f"payload cannot be read ({exc})") from None
        try:
            manifest = _json_object((target / "manifest.json").read_bytes(), "manifest.json")
        except OSError:
            raise BackupError("manifest.json is missing or not valid JSON") from None
        if manifest.get("format") != FORMAT:
            raise BackupError(f"archive format {manifest.get('format')} is not supported (this Hotline reads "
                              f"format {FORMAT})")
        schema = manifest.get("schema", 0)
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise BackupError(f"manifest.json: schema {schema!r} is not a number")
        if schema > migrations.LATEST:
            raise BackupError(f"archive has database schema {manifest['schema']}, newer than this Hotline "
                              f"({migrations.LATEST}): upgrade Hotline first")
        listed = manifest.get("files", {})
        if not isinstance(listed, dict) or not all(isinstance(m, dict) for m in listed.values()):
            raise BackupError("manifest.json: files is not a list of files with checksums")
        present = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()} - {"manifest.json"}
        if set(listed) != present:
            raise BackupError(f"files differ from the manifest: {sorted(set(listed) ^ present)[:5]}")
        for name, meta in listed.items():
            if _sha256(target / name) != meta.get("sha256"):
                raise BackupError(f"{name}: checksum does not match the manifest")
        if "db/hotline.db" not in listed:
            raise BackupError("the archive holds no database")
        return manifest


def stage(archive: Path, state_dir: Path) -> dict:
    """Verify completely, then stage for the next start (an earlier staged restore is replaced)."""
    pending = state_dir / "restore-pending"
    work = state_dir / f"restore-incoming-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        manifest = verify(archive, state_dir, into=work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(pending, ignore_errors=True)
    work.rename(pending)
    return manifest


def apply_pending(cfg: Any) -> dict | None:
    """At start, before the database opens: put a staged restore in place. Replaced files are moved to
    <state>/pre-restore-<time>. Returns the manifest applied, or None."""
    pending = cfg.state_dir / "restore-pending"
    if not (pending / "manifest.json").exists():
        return None
    manifest = json.loads((pending / "manifest.json").read_text())
    keep = cfg.state_dir / f"pre-restore-{time.strftime('%Y%m%d-%H%M%S')}"
    keep.mkdir(parents=True, exist_ok=True)
    db_path = _sqlite_path(cfg.database_url)
    if db_path is None:
        raise BackupError("restore-pending: this box uses PostgreSQL; restore the database with pg_restore")
    for suffix in ("", "-wal", "-shm"):
        old = Path(f"{db_path}{suffix}")
        if old.exists():
            shutil.move(str(old), keep / old.name)
    shutil.move(str(pending / "db" / "hotline.db"), db_path)
    moved = {"db": str(db_path), "etc": [], "etc_kept": []}
    for sub, root in (("prompts", cfg.path_for("prompts")), ("recordings", cfg.path_for("recordings"))):
        src = pending / sub
        if not src.is_dir():
            continue
        for f in sorted(p for p in src.rglob("*") if p.is_file()):
            dest = root / f.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists() and sub == "prompts":
                (keep / sub / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(dest), keep / sub / f.relative_to(src))
            shutil.move(str(f), dest)
    etc_targets = dict(_etc_files(cfg))
    flows_dir = cfg.etc_path("flows", "flows")
    etc_src = pending / "etc"
    for f in sorted(p for p in etc_src.rglob("*") if p.is_file()) if etc_src.is_dir() else []:
        name = f"etc/{f.relative_to(etc_src).as_posix()}"
        dest = etc_targets.get(name) or (flows_dir / f.name if name.startswith("etc/flows/") else None)
        if dest is not None and os.access(dest.parent, os.W_OK):
            if dest.exists():
                shutil.copy2(dest, keep / dest.name)
            shutil.copy2(f, dest)
            moved["etc"].append(str(dest))
        else:
            moved["etc_kept"].append(name)
    if moved["etc_kept"]:
        kept = cfg.state_dir / "restored-etc"
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(etc_src, kept)
        log.warning("event=restore_etc_not_writable files=%s kept_in=%s", moved["etc_kept"], kept)
    shutil.rmtree(pending, ignore_errors=True)
    (keep / "restore.json").write_text(json.dumps({"manifest": manifest, "applied": moved}, indent=1))
    log.warning("event=restore_applied created_at=%s schema=%s kept=%s", manifest.get("created_at"),
                manifest.get("schema"), keep)
    return manifest
