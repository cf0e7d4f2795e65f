"""Voicemail: pages and JSON API to search, play, mark read, download and delete (role-checked,
audited), on the file helpers of media_pages.py (faxes: faxes.py)."""
from __future__ import annotations

import asyncio
import logging

import peewee
import tornado.iostream
import tornado.web

from hotline.daemon.box import audit
from hotline.daemon.store.models import QueueMember, QueueRow
from hotline.daemon.store.service_models import Voicemail

from ..i18n import N_
from .inputs import id_param
from .base import PageHandler
from .media_pages import (MANAGERS, VIEWERS, MediaHandler, Params, agents_of_user, fmt_duration, inside,
                          query_string, send_file, write_peaks)

log = logging.getLogger("hotline.web")


# ---- voicemail -----------------------------------------------------------------------------------------------

VM_SORTS = {"-created_at": (Voicemail.created_at.desc(), Voicemail.id.desc()),
            "created_at": (Voicemail.created_at.asc(), Voicemail.id.asc()),
            "-seconds": (Voicemail.seconds.desc(), Voicemail.id.desc()),
            "seconds": (Voicemail.seconds.asc(), Voicemail.id.asc()),
            "mailbox": (Voicemail.mailbox.asc(), Voicemail.created_at.desc())}
VM_PARAMS = {"mailbox", "caller", "since", "until", "unread", "sort", "page", "per_page"}


def voicemail_filters(handler: tornado.web.RequestHandler) -> dict:
    """Checked search parameters of the voicemail list."""
    p = Params(handler, VM_PARAMS)
    page, per = p.paging()
    return {"mailbox": p.text("mailbox", r"[\w.\-]{1,64}", "a mailbox name"),
            "caller": p.text("caller", r"\+?[0-9*#]{1,32}", "digits only (part of the caller's number)"),
            "since": p.day("since"), "until": p.day("until"), "unread": p.choice("unread", ("yes", "no")),
            "sort": p.choice("sort", VM_SORTS, "-created_at"), "page": page, "per_page": per}


def own_mailboxes(user_name: str) -> set[str]:
    """Mailboxes an agent may open: their user and agent names, their station, the queues they serve."""
    boxes = {user_name}
    for a in agents_of_user(user_name):
        boxes.add(a.name)
        if a.extension:
            boxes.add(a.extension)
        for m in QueueMember.select(QueueMember, QueueRow).join(QueueRow).where(QueueMember.agent == a.id):
            boxes.add(m.queue.name)
    return boxes


def voicemail_query(viewer: tuple[str, str]) -> peewee.ModelSelect:
    """Messages a viewer may see."""
    q = Voicemail.select()
    if viewer[1] == "agent":
        q = q.where(Voicemail.mailbox.in_(sorted(own_mailboxes(viewer[0]))))
    return q


def search_voicemail(f: dict, viewer: tuple[str, str]) -> dict:
    """Matching messages, newest first by default (DB thread)."""
    q = voicemail_query(viewer)
    if f["mailbox"]:
        q = q.where(Voicemail.mailbox == f["mailbox"])
    if f["caller"]:
        q = q.where(Voicemail.caller_number.contains(f["caller"]))
    if f["since"] is not None:
        q = q.where(Voicemail.created_at >= f["since"])
    if f["until"] is not None:
        q = q.where(Voicemail.created_at < f["until"] + 86400)
    if f["unread"]:
        q = q.where(Voicemail.unread == (f["unread"] == "yes"))
    total = q.count()
    unread = q.where(Voicemail.unread == True).count()  # noqa: E712 - peewee expression
    rows = q.order_by(*VM_SORTS[f["sort"]]).limit(f["per_page"]).offset((f["page"] - 1) * f["per_page"])
    boxes = sorted({v.mailbox for v in voicemail_query(viewer).select(Voicemail.mailbox).distinct()})
    return {"total": total, "unread": unread, "mailboxes": boxes,
            "messages": [{"id": v.id, "mailbox": v.mailbox, "caller_number": v.caller_number,
                          "call_uuid": v.call_uuid, "created_at": v.created_at, "seconds": v.seconds,
                          "unread": bool(v.unread), "audio_url": f"/api/v1/voicemail/{v.id}/audio",
                          "peaks_url": f"/api/v1/voicemail/{v.id}/peaks"} for v in rows]}


def visible_voicemail(vm_id: int, viewer: tuple[str, str]) -> dict | None:
    """One message if the viewer may see it (DB thread)."""
    return voicemail_query(viewer).where(Voicemail.id == vm_id).dicts().first()


class VoicemailApi(MediaHandler):
    """GET /api/v1/voicemail: messages (agents: their own mailboxes and their queues')."""

    roles = VIEWERS

    async def get(self) -> None:
        """Filtered, sorted, paginated."""
        f = voicemail_filters(self)
        result = await self.read(search_voicemail, f, self.viewer)
        self.write_json({**result, "page": f["page"], "per_page": f["per_page"]})


class VoicemailAudioApi(MediaHandler):
    """GET /api/v1/voicemail/{id}/audio: the message's WAV, only from the spool's voicemail folder."""

    roles = VIEWERS

    async def get(self, vm_id: str) -> None:
        """Send the file (byte ranges)."""
        row = await self.read(visible_voicemail, id_param(vm_id), self.viewer)
        path = inside(self.spool_dir("voicemail"), row["path"]) if row else None
        if path is None:
            raise tornado.web.HTTPError(404, reason="no such message")
        await send_file(self, path, "audio/wav", f"voicemail-{row['mailbox']}-{row['id']}.wav")


class VoicemailPeaksApi(MediaHandler):
    """GET /api/v1/voicemail/{id}/peaks: waveform peaks."""

    roles = VIEWERS

    async def get(self, vm_id: str) -> None:
        """Peaks of the message."""
        row = await self.read(visible_voicemail, id_param(vm_id), self.viewer)
        path = inside(self.spool_dir("voicemail"), row["path"]) if row else None
        if path is None:
            raise tornado.web.HTTPError(404, reason="no such message")
        await write_peaks(self, path)


async def update_lamp(services: dict, mailbox: str) -> None:
    """After a message was marked read or unread, or deleted: the mailbox's extension's lamp follows its unread
    count (a lamp that fails must not fail the request: logged)."""
    lamps = services.get("message_lamps")
    if lamps is None:
        return
    try:
        await lamps.refresh(mailbox)
    except Exception:
        log.exception("event=message_waiting_failed mailbox=%s", mailbox)


class VoicemailReadApi(MediaHandler):
    """POST /api/v1/voicemail/{id}/read {"unread": false}: mark read (or unread again), audited."""

    roles = VIEWERS

    async def post(self, vm_id: str) -> None:
        """Change the unread flag."""
        body = self.json_body()
        unread = body.get("unread", False)
        if not isinstance(unread, bool):
            raise tornado.web.HTTPError(400, reason="unread: true or false")
        viewer = self.viewer

        def change() -> dict | None:
            row = visible_voicemail(id_param(vm_id), viewer)
            if row is None:
                return None
            if bool(row["unread"]) != unread:
                Voicemail.update(unread=unread).where(Voicemail.id == row["id"]).execute()
                audit.record(self.actor, self.address, "voicemail.read" if not unread else "voicemail.unread",
                             f"{row['mailbox']}#{row['id']}", {"unread": bool(row["unread"])}, {"unread": unread})
            return {"id": row["id"], "mailbox": row["mailbox"], "unread": unread}
        result = await self.services["store"].write(change)
        if result is None:
            raise tornado.web.HTTPError(404, reason="no such message")
        await update_lamp(self.services, result["mailbox"])
        self.write_json(result)


class VoicemailItemApi(MediaHandler):
    """DELETE /api/v1/voicemail/{id}: remove the message and its file, audited."""

    roles = MANAGERS

    async def delete(self, vm_id: str) -> None:
        """Delete one message."""
        row = await self.read(visible_voicemail, id_param(vm_id), self.viewer)
        if row is None:
            raise tornado.web.HTTPError(404, reason="no such message")
        path = inside(self.spool_dir("voicemail"), row["path"])
        if path is not None:
            await asyncio.get_running_loop().run_in_executor(None, lambda: path.unlink(missing_ok=True))
        before = {"mailbox": row["mailbox"], "caller": row["caller_number"], "seconds": row["seconds"],
                  "path": row["path"]}

        def remove() -> None:
            Voicemail.delete().where(Voicemail.id == row["id"]).execute()
            audit.record(self.actor, self.address, "voicemail.delete", f"{row['mailbox']}#{row['id']}", before, None)
        await self.services["store"].write(remove)
        await update_lamp(self.services, row["mailbox"])
        self.write_json({"id": row["id"], "deleted": True})


class VoicemailPage(PageHandler):
    """Messages by mailbox: play, mark read, delete."""

    roles = VIEWERS
    title = N_("Voicemail")

    async def get(self) -> None:
        """The list with filters and the player."""
        user = self.current_user
        q = {k: self.get_query_argument(k, "") for k in VM_PARAMS if k != "page"}
        error, result, f = None, {"total": 0, "unread": 0, "messages": [], "mailboxes": []}, None
        try:
            f = voicemail_filters(self)
            result = await self.services["store"].read(search_voicemail, f, (user.name, user.role))
        except tornado.web.HTTPError as exc:
            error = exc.reason
            self.set_status(400)
        self.render("voicemail.html", result=result, q=q, page=f["page"] if f else 1,
                    per_page=f["per_page"] if f else 25, error=error, fmt_time=lambda ts: self.local_time(ts, "second"), fmt_duration=fmt_duration,
                    can_delete=user.role in ("admin", "supervisor"), query=query_string,
                    sort=(f or {}).get("sort") or "-created_at")


PAGE_ROUTES = [
    (r"/voicemail", VoicemailPage),
]
ROUTES = [
    (r"/api/v1/voicemail", VoicemailApi),
    (r"/api/v1/voicemail/([0-9]{1,12})", VoicemailItemApi),
    (r"/api/v1/voicemail/([0-9]{1,12})/audio", VoicemailAudioApi),
    (r"/api/v1/voicemail/([0-9]{1,12})/peaks", VoicemailPeaksApi),
    (r"/api/v1/voicemail/([0-9]{1,12})/read", VoicemailReadApi),
]
