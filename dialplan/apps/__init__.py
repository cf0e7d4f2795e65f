"""The built-in apps; importing this package registers them all."""
from . import basic, data, handoff, logic, menus  # noqa: F401
