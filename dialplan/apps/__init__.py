"""The built-in apps; importing this package registers them all."""
from . import basic, data, handoff, logic, menus  # noqa: F401
from ..registry import APPS


def help_text() -> dict[str, str]:
    """Every app's help (for the CLI and the panel's flow editor)."""
    return {name: spec.doc for name, spec in sorted(APPS.items())}
