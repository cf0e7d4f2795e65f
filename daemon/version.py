"""The one place that states Hotline's version and schema version."""
from importlib import metadata

try:
    VERSION = metadata.version("hotline")
except metadata.PackageNotFoundError:  # running from a tree without metadata
    VERSION = "0.0.0+unknown"
