"""The built-in apps; importing this package registers them all."""
from . import basic, data, handoff, logic, menus  # noqa: F401
from ..registry import APPS


def help_text() -> dict[str, str]:
    """Every app's help (for the CLI and the panel's flow editor); apps that bridge or queue say they need a
    full-duplex line."""
    return {name: spec.doc + (FULL_DUPLEX_NOTE if spec.full_duplex else "") for name, spec in sorted(APPS.items())}


FULL_DUPLEX_NOTE = ("\nNeeds a full-duplex line: not allowed on a route a half-duplex line (a voice modem) answers "
                    "by its number.")
