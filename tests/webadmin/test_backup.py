"""Backup and restore: a signed archive from the panel, refused when tampered with or too new, applied at the
next start when good (and only then)."""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import sqlite3
import subprocess
import tarfile
import urllib.parse
import uuid

from hotline.daemon.store import migrations


def upload(p, name: str, data: bytes):
    """POST a file like the restore form does (multipart, with the XSRF field)."""
    boundary = uuid.uuid4().hex
    xsrf = p.xsrf()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"_xsrf\"\r\n\r\n{xsrf}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return p.request("POST", "/config/backup/restore", body,
                     {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def signed(state, files: dict[str, bytes], manifest: dict) -> bytes:
    """An archive signed with the box's own key (to test checks behind the signature)."""
    key = bytes.fromhex((state / "backup-key").read_text().strip())
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:gz") as tar:
        for name, data in {**files, "manifest.json": json.dumps(manifest).encode()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    kid = hashlib.sha256(b"hotline-backup-key-id" + key).hexdigest()[:16]
    sig = json.dumps({"alg": "HMAC-SHA256", "key_id": kid,
                      "mac": hmac.new(key, payload.getvalue(), hashlib.sha256).hexdigest()}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("payload.tar.gz", payload.getvalue()), ("signature.json", sig)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def users_in(state) -> set[str]:
    with sqlite3.connect(state / "hotline.db") as db:
        return {r[0] for r in db.execute("SELECT name FROM users")}


def test_backup_download_verify_tamper_and_restore_at_next_start(panel_box, client, hotline_bin) -> None:
    state = panel_box.state
    p = client(panel_box.url)
    p.login("admin")
    page = p.get("/config/backup")
    assert page.status == 200 and "Download backup" in page.text
    r = p.request("POST", "/config/backup/download", urllib.parse.urlencode({"_xsrf": p.xsrf()}).encode(),
                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
    archive = r.body
    (state.parent / "good.hlbackup").write_bytes(archive)
    ok = subprocess.run([hotline_bin, "-c", str(panel_box.config), "backup", "verify",
                         str(state.parent / "good.hlbackup")], env=panel_box.env, capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stderr

    # one flipped byte: refused, nothing staged
    bad = bytearray(archive)
    bad[len(bad) // 3] ^= 0x40
    r = upload(p, "changed.hlbackup", bytes(bad))
    assert r.status == 400 and "signature does not match" in r.text
    assert not (state / "restore-pending").exists()
    # wrong file type, newer schema, unsafe entry: each refused with its reason
    assert "Only .hlbackup" in upload(p, "notes.txt", b"hello").text
    newer = signed(state, {"db/hotline.db": b"x"}, {"format": 1, "schema": migrations.LATEST + 1, "files": {}})
    r = upload(p, "newer.hlbackup", newer)
    assert r.status == 400 and "newer than this Hotline" in r.text
    evil = signed(state, {"../evil.txt": b"x"}, {"format": 1, "schema": 1, "files": {}})
    r = upload(p, "evil.hlbackup", evil)
    assert r.status == 400 and "not a plain relative file" in r.text
    assert not (state / "restore-pending").exists() and not (state.parent / "evil.txt").exists()
    # a supervisor may not touch backups
    s = client(panel_box.url)
    s.login("sup")
    assert s.get("/config/backup").status == 403

    # a user made after the backup disappears when the good archive is restored at the next start
    subprocess.run([hotline_bin, "-c", str(panel_box.config), "user", "add", "latecomer", "--role", "agent", "--token"],
                   env=panel_box.env, check=True, capture_output=True)
    assert "latecomer" in users_in(state)
    r = upload(p, "good.hlbackup", archive)
    assert r.status == 200 and "will be restored at the next start" in r.text
    assert (state / "restore-pending" / "manifest.json").exists()
    assert "latecomer" in users_in(state)                     # nothing touched before the restart
    panel_box.stop()
    panel_box.start()
    assert "latecomer" not in users_in(state) and "admin" in users_in(state)
    assert not (state / "restore-pending").exists()
    kept = list(state.glob("pre-restore-*/hotline.db"))
    assert kept, "the replaced database is kept"
    q = client(panel_box.url)
    q.login("admin")
    audit = q.api("GET", "/audit?action=backup.").json()["entries"]
    assert "backup.restored" in {e["action"] for e in audit}    # the start that applied it says so
