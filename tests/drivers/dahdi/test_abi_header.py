"""The driver's ioctl numbers, struct sizes and constants match dahdi/user.h from Debian's dahdi-dkms package: the
header is taken from the .deb (apt-get download + dpkg-deb -x, never installed: its postinst builds a kernel module)
and compiled with gcc into a program that prints what the C compiler makes of it."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from hotline.drivers.dahdi import abi

REPO = Path(__file__).resolve().parents[3]
CACHE = REPO / ".venv" / "cache" / "debs"   # one download per machine
CONSTANTS = {**{f"DAHDI_EVENT_{e.name}": int(e) for e in abi.Event},
             **{f"DAHDI_{h.name}": int(h) for h in abi.Hook},
             **{f"DAHDI_SIG_{s.name}": int(s) for s in abi.Sig},
             **{f"DAHDI_ALARM_{a.name}": int(a) for a in abi.Alarm if a.name != "NONE"},
             "DAHDI_LAW_DEFAULT": 0, "DAHDI_LAW_MULAW": int(abi.Law.MULAW), "DAHDI_LAW_ALAW": int(abi.Law.ALAW),
             "ELAST": abi.ELAST, "DAHDI_FLUSH_READ": abi.FLUSH_READ, "DAHDI_FLUSH_WRITE": abi.FLUSH_WRITE,
             "DAHDI_FLUSH_EVENT": abi.FLUSH_EVENT, "DAHDI_DIAL_OP_APPEND": abi.DIAL_OP_APPEND,
             "DAHDI_DIAL_OP_CANCEL": abi.DIAL_OP_CANCEL,
             "DAHDI_IOMUX_READ": abi.IOMUX_READ, "DAHDI_IOMUX_WRITE": abi.IOMUX_WRITE,
             "DAHDI_IOMUX_WRITEEMPTY": abi.IOMUX_WRITEEMPTY, "DAHDI_IOMUX_SIGEVENT": abi.IOMUX_SIGEVENT,
             "DAHDI_IOMUX_NOWAIT": abi.IOMUX_NOWAIT, "DAHDI_POLICY_IMMEDIATE": abi.POLICY_IMMEDIATE,
             "DAHDI_ABIT": abi.ABIT, "DAHDI_BBIT": abi.BBIT, "DAHDI_CBIT": abi.CBIT, "DAHDI_DBIT": abi.DBIT,
             "DAHDI_MAX_DTMF_BUF": abi.DIALOPERATION.size - 4}


def _deb() -> Path:
    """The dahdi-dkms .deb, downloaded once into .venv/cache/debs."""
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob("dahdi-dkms_*.deb"))
    if found:
        return found[-1]
    got = subprocess.run(["apt-get", "download", "dahdi-dkms"], cwd=CACHE, capture_output=True, text=True,
                         timeout=120)
    found = sorted(CACHE.glob("dahdi-dkms_*.deb"))
    assert got.returncode == 0 and found, ("cannot download Debian's dahdi-dkms to read dahdi/user.h (apt lists "
                                           f"missing? run apt-get update): {got.stderr.strip()[-400:]}")
    return found[-1]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """name -> value for every ioctl, struct size and constant, as gcc computes them from the packaged header."""
    tmp = tmp_path_factory.mktemp("dahdi-header")
    subprocess.run(["dpkg-deb", "-x", str(_deb()), str(tmp / "x")], check=True, capture_output=True, timeout=60)
    headers = sorted((tmp / "x" / "usr" / "src").glob("dahdi-*/include/dahdi/user.h"))
    assert headers, "dahdi-dkms no longer ships include/dahdi/user.h"
    include = headers[-1].parent.parent
    lines = ['#include <stdio.h>', '#include <dahdi/user.h>', 'int main(void) {']
    for name in abi.IOCTLS:
        lines.append(f'  printf("{name} %lu\\n", (unsigned long){name});')
    for name in abi.STRUCTS:
        lines.append(f'  printf("struct {name} %zu\\n", sizeof(struct {name}));')
    for name in CONSTANTS:
        lines.append(f'  printf("{name} %ld\\n", (long)({name}));')
    lines += ['  return 0;', '}']
    (tmp / "probe.c").write_text("\n".join(lines) + "\n")
    built = subprocess.run(["gcc", "-I", str(include), "-o", str(tmp / "probe"), str(tmp / "probe.c")],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, f"the header did not compile with the names the driver uses:\n{built.stderr}"
    out = subprocess.run([str(tmp / "probe")], capture_output=True, text=True, check=True, timeout=30).stdout
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(.+) (-?\d+)$", out, re.M)}


def test_ioctl_numbers_match_the_header(compiled) -> None:
    """Every ioctl the driver issues has the number the kernel expects (DAHDI_SPECIFY 0x4004da26 ...)."""
    wrong = {n: (hex(v), hex(compiled[n])) for n, v in abi.IOCTLS.items() if compiled[n] != v}
    assert not wrong, f"ioctl numbers differ from dahdi/user.h (ours, header's): {wrong}"
    assert compiled["DAHDI_SPECIFY"] == 0x4004DA26 and compiled["DAHDI_GETEVENT"] == 0x8004DA08


def test_struct_sizes_match_the_header(compiled) -> None:
    """The struct layouts the driver packs have the sizes gcc gives (dahdi_params 136 bytes ...)."""
    wrong = {n: (s.size, compiled[f"struct {n}"]) for n, s in abi.STRUCTS.items() if compiled[f"struct {n}"] != s.size}
    assert not wrong, f"struct sizes differ from dahdi/user.h (ours, header's): {wrong}"
    assert compiled["struct dahdi_params"] == 136


def test_event_hook_signalling_and_alarm_values_match_the_header(compiled) -> None:
    """Event codes, hook states, signalling types (FXO ports use FXS signalling), alarm bits and ELAST."""
    wrong = {n: (v, compiled[n]) for n, v in CONSTANTS.items() if compiled[n] != v}
    assert not wrong, f"constants differ from dahdi/user.h (ours, header's): {wrong}"
