"""Hotline daemon: composition root, configuration, storage, call engine and lifecycle."""
if __name__ != "hotline.daemon":
    raise ImportError(
        f"this folder must be imported as 'hotline.daemon', not {__name__!r}: "
        "install the project (pip install -e .) and run the 'hotline' console script; "
        "the name 'daemon' belongs to python-daemon"
    )
