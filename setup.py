"""Packaging for Hotline: maps each top-level folder into the one ``hotline`` namespace."""
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Build the C helpers when a compiler is there; without one the pure-Python paths run (the daemon logs it)."""

    def run(self):
        try:
            super().run()
        except Exception as exc:   # noqa: BLE001 - no compiler or headers: keep installing
            print(f"hotline: C helpers not built ({exc}); the Python paths will run", file=sys.stderr)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:   # noqa: BLE001
            print(f"hotline: {ext.name} not built ({exc}); the Python path will run", file=sys.stderr)


PACKAGES = {
    "hotline.daemon": "daemon",
    "hotline.daemon.store": "daemon/store",
    "hotline.daemon.media": "daemon/media",
    "hotline.daemon.acd": "daemon/acd",
    "hotline.daemon.stats": "daemon/stats",
    "hotline.daemon.box": "daemon/box",
    "hotline.daemon.calls": "daemon/calls",
    "hotline.daemon.service": "daemon/service",
    "hotline.daemon.cli": "daemon/cli",
    "hotline.daemon.fax": "daemon/fax",
    "hotline.daemon.mail": "daemon/mail",
    "hotline.drivers": "drivers",
    "hotline.drivers.common": "drivers/common",
    "hotline.drivers.sim": "drivers/sim",
    "hotline.drivers.sip": "drivers/sip",
    "hotline.drivers.usb": "drivers/usb",
    "hotline.drivers.modem": "drivers/modem",
    "hotline.drivers.modem.virtual": "drivers/modem/virtual",
    "hotline.drivers.dahdi": "drivers/dahdi",
    "hotline.drivers.analog": "drivers/analog",
    "hotline.dialplan": "dialplan",
    "hotline.dialplan.apps": "dialplan/apps",
    "hotline.fax": "fax",
    "hotline.webadmin": "webadmin",
    "hotline.webadmin.handlers": "webadmin/handlers",
}

setup(
    name="hotline",
    version="0.1.0",
    description="A customer-service call center in one box",
    python_requires=">=3.11",
    packages=list(PACKAGES),
    # Plain C loaded with ctypes (no Python headers needed): the SIP driver's per-tick RTP send and receive
    # (-ffp-contract=off: the RTCP jitter in C must be the Python reference's to the bit).
    ext_modules=[Extension("hotline.drivers.sip._rtpfast", sources=["drivers/sip/rtpfast.c"],
                           extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration",
                                               "-ffp-contract=off"])],
    cmdclass={"build_ext": OptionalBuildExt},
    package_dir=PACKAGES,
    package_data={"hotline.webadmin": ["templates/*.html", "static/*/*", "locale/*.csv", "openapi.yaml", "openapi.d/*.yaml"]},
    install_requires=[
        "pyserial>=3.5,<4",
        "pyusb>=1.2,<2",
        "python-daemon>=3.0,<4",
        "tornado>=6.3,<7",
        "peewee>=3.17,<5",
        "pyyaml>=6.0,<7",
        "prometheus-client>=0.19,<1",
        "numpy>=1.26,<3",
        "pypinyin>=0.50,<1",
        "audioop-lts>=0.2; python_version>='3.13'",   # IMA ADPCM of voice modems (audioop left the stdlib)
    ],
    extras_require={
        "postgresql": ["psycopg2-binary>=2.9,<3"],
        "test": ["pytest>=8,<10", "psycopg2-binary>=2.9,<3"],
    },
    entry_points={
        "console_scripts": ["hotline = hotline.daemon.cli.main:main"],
        "hotline.drivers": ["sim = hotline.drivers.sim.driver:SimDriver",
                             "sip = hotline.drivers.sip.driver:SipDriver",
                             "modem = hotline.drivers.modem.driver:ModemDriver",
                             "dahdi = hotline.drivers.dahdi.driver:DahdiDriver"],
        "hotline.fax_senders": ["spandsp = hotline.daemon.fax.engine:make_sender",
                                 "class2 = hotline.daemon.fax.class2:make_sender",
                                 "class1 = hotline.daemon.fax.class1:make_sender"],
    },
)
