"""Fax senders by name (``fax.sender`` in the configuration): built-in ``none`` and ``qa-tones``, senders other
packages register in code (``register_sender``) or through the ``hotline.fax_senders`` entry-point group
(``spandsp = hotline.daemon.fax.engine:make_sender``: a callable taking the ``fax`` settings dict and returning
a FaxSender, see sender.py)."""
from __future__ import annotations

import logging
from importlib import metadata
from typing import Callable

from .qa_sender import QaToneSender
from .sender import FaxSender, NoEngine

log = logging.getLogger("hotline.fax")
GROUP = "hotline.fax_senders"
SenderFactory = Callable[[dict], FaxSender]
SENDERS: dict[str, SenderFactory] = {"none": lambda settings: NoEngine(), "qa-tones": QaToneSender}


def register_sender(name: str, factory: SenderFactory) -> None:
    """Make a sender selectable as ``fax.sender: <name>``."""
    SENDERS[name] = factory


def _entry_point(name: str) -> SenderFactory | None:
    """A factory another package installed under GROUP (None when there is none)."""
    for ep in metadata.entry_points(group=GROUP):
        if ep.name == name:
            return ep.load()
    return None


def make_sender(name: str, settings: dict) -> FaxSender:
    """The configured sender; an unknown or broken one gives NoEngine saying so (the box runs, nothing is sent,
    queued jobs show why)."""
    try:
        factory = SENDERS.get(name) or _entry_point(name)
    except Exception as exc:  # a sender package that fails to import must not stop the box
        log.exception("event=fax_sender_load_failed sender=%s", name)
        return NoEngine(f"no fax engine: sender {name!r} failed to load ({exc})")
    if factory is None:
        return NoEngine(f"no fax engine: sender {name!r} is not installed")
    return factory(settings)
