"""Backup and restore in the panel (admin): download a signed archive; upload one to verify and stage it."""
from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

import tornado.web

from hotline.daemon.box import backup
from hotline.daemon.version import VERSION

from ..i18n import N_
from ..limits import upload
from .base import PageHandler

MAX_UPLOAD = 100 * 1024 * 1024   # the panel takes archives up to 100 MB; bigger ones: `hotline backup restore`


class BackupPage(PageHandler):
    """The page: what a backup holds, the box's key id, download and restore forms."""

    title = N_("Backup and restore")

    def page(self, result: dict | None = None, error: str | None = None, status: int = 200) -> None:
        """Render with an optional outcome."""
        cfg = self.services["config"]
        try:
            kid = backup.key_id(backup.load_key(cfg.state_dir, create=False))
        except backup.BackupError:
            kid = None
        self.set_status(status)
        self.render("backup.html", key_id=kid, result=result, error=error,
                    sqlite=cfg.database_url.startswith("sqlite:///"), max_mb=MAX_UPLOAD // (1024 * 1024),
                    pending=(cfg.state_dir / "restore-pending" / "manifest.json").exists(),
                    fmt=lambda ts: self.local_time(ts, "second"))

    def get(self) -> None:
        """Show the page."""
        self.page()


class BackupDownload(PageHandler):
    """POST: make an archive (off the event loop) and send it as a download."""

    async def post(self) -> None:
        """Create, audit, stream, remove the temporary file."""
        cfg = self.services["config"]
        recordings = self.get_body_argument("recordings", "") == "1"
        fd, tmp = tempfile.mkstemp(prefix="hotline-", suffix=".hlbackup", dir=cfg.state_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                try:
                    manifest = await asyncio.get_running_loop().run_in_executor(
                        None, lambda: backup.create(cfg, f, include_recordings=recordings, version=VERSION))
                except backup.BackupError as exc:
                    raise tornado.web.HTTPError(400, reason=str(exc)) from None
            await self.audit("backup.created", Path(tmp).name, None,
                             {"files": len(manifest["files"]), "recordings": recordings,
                              "schema": manifest["schema"]})
            name = f"hotline-{self.local_time(time.time(), 'file')}.hlbackup"
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Content-Disposition", f'attachment; filename="{name}"')
            self.set_header("Content-Length", str(os.path.getsize(tmp)))
            with open(tmp, "rb") as f:
                for block in iter(lambda: f.read(256 * 1024), b""):
                    self.write(block)
                    await self.flush()
            self.finish()
        finally:
            Path(tmp).unlink(missing_ok=True)


@upload(MAX_UPLOAD + 1024 * 1024)
class BackupRestore(BackupPage):
    """POST an archive: verify signature, version and every file, then stage it for the next start."""

    async def post(self) -> None:
        """Verify completely before touching anything; report the outcome on the page."""
        files = self.request.files.get("archive") or []
        if not files:
            return self.page(error=self.locale.translate("Choose a backup file to upload."), status=400)
        upload = files[0]
        if len(upload["body"]) > MAX_UPLOAD:
            return self.page(error=self.locale.translate("The file is too large for the panel."), status=400)
        if not upload["filename"].endswith(".hlbackup"):
            return self.page(error=self.locale.translate("Only .hlbackup files made by Hotline can be restored."),
                             status=400)
        cfg = self.services["config"]
        fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".hlbackup", dir=cfg.state_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(upload["body"])
            try:
                manifest = await asyncio.get_running_loop().run_in_executor(
                    None, backup.stage, Path(tmp), cfg.state_dir)
            except backup.BackupError as exc:
                await self.audit("backup.restore_refused", upload["filename"][:100], None, {"reason": str(exc)})
                return self.page(error=str(exc), status=400)
        finally:
            Path(tmp).unlink(missing_ok=True)
        await self.audit("backup.restore_staged", upload["filename"][:100], None,
                         {"created_at": manifest["created_at"], "schema": manifest["schema"],
                          "files": len(manifest["files"])})
        self.page(result=manifest)


PAGE_ROUTES = [
    (r"/config/backup", BackupPage),
    (r"/config/backup/download", BackupDownload),
    (r"/config/backup/restore", BackupRestore),
]
