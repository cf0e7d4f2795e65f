"""Configuration (admin): SIP devices' trunks, extensions (which phones are registered, from where, with what),
authentication-failure bans (lifting one is audited) and the rate limits; page and JSON API."""
from __future__ import annotations

import ipaddress
import re

import tornado.web

from hotline.daemon.box import audit

from ..i18n import N_
from .config_common import ConfigApi, ConfigPage

DEVICE = r"([a-z][a-z0-9_-]{0,31})"
SOURCE = r"([0-9A-Fa-f.:]{2,45})"
TRUNK_STATES = [N_("outbound"), N_("inbound only"),   # a trunk's state, shown through _(value)
                N_("registering"), N_("registered"), N_("not registered"), N_("failed")]
DONE = {"lifted": N_("The ban was lifted."), "gone": N_("That address is not banned (any more).")}


def sip_devices(services: dict) -> list[dict]:
    """Every SIP device's state, trunks, extensions, bans and limits (from the device manager)."""
    devices = services.get("devices")
    return devices.sip_devices() if devices is not None else []


def check_source(text: str) -> str | None:
    """A banned source is an IP address; None for anything else."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


async def lift_ban(handler: ConfigApi | ConfigPage, device: str, source: str) -> bool | None:
    """Lift the ban and audit it (``sip.ban_lifted``); None when no open SIP device has that name, False when the
    address was not banned (nothing audited)."""
    devices = handler.services["devices"]
    before = next((b for d in devices.sip_devices() if d["device"] == device for b in d["bans"]
                   if b["source"] == source), None)
    try:
        lifted = devices.lift_sip_ban(device, source)
    except KeyError:
        return None
    if lifted:
        actor, address = handler.actor, handler.address
        await handler.services["store"].write(
            lambda: audit.record(actor, address, "sip.ban_lifted", f"{device} {source}", before, None))
    return lifted


class SipPage(ConfigPage):
    """Trunks, extensions with their registered phones, bans (each with a button to lift it)."""

    title = N_("SIP")
    query = {"done": tuple(DONE)}

    def get(self) -> None:
        """The page."""
        done = self.q.get("done")
        self.render("config_sip.html", devices=sip_devices(self.services),
                    done=self.locale.translate(DONE[done]) if done else None)


class SipUnbanPage(ConfigPage):
    """POST /config/sip/unban (device, source): lift a ban and come back."""

    async def post(self) -> None:
        """Lift, audit, redirect with the outcome."""
        device = self.get_body_argument("device", "")
        source = check_source(self.get_body_argument("source", ""))
        if not re.fullmatch(DEVICE[1:-1], device) or source is None:
            raise tornado.web.HTTPError(400, reason="device and source: a SIP device name and an IP address")
        lifted = await lift_ban(self, device, source)
        self.redirect(f"/config/sip?done={'lifted' if lifted else 'gone'}")


class SipApi(ConfigApi):
    """GET /api/v1/sip/devices: every SIP device with its trunks, extensions, bans and limits."""

    def get(self) -> None:
        """The devices."""
        self.write_json({"devices": sip_devices(self.services)})


class SipBanApi(ConfigApi):
    """DELETE /api/v1/sip/devices/{device}/bans/{source}: lift a ban now (audited)."""

    async def delete(self, device: str, source: str) -> None:
        """404 for an unknown device or an address that is not banned."""
        address = check_source(source)
        if address is None:
            return self.fail(400, f"source: expected an IP address, got {source!r}")
        lifted = await lift_ban(self, device, address)
        if lifted is None:
            return self.fail(404, f"no open SIP device {device!r}")
        if not lifted:
            return self.fail(404, f"{address} is not banned on {device}")
        self.write_json({"device": device, "source": address, "lifted": True})


PAGE_ROUTES = [
    (r"/config/sip", SipPage),
    (r"/config/sip/unban", SipUnbanPage),
]
ROUTES = [
    (r"/api/v1/sip/devices", SipApi),
    (rf"/api/v1/sip/devices/{DEVICE}/bans/{SOURCE}", SipBanApi),
]
