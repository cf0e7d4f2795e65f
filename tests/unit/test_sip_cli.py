"""``hotline sip password``: a generated password printed once, only its HA1 stored, for the configured device."""
from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from hotline.drivers.sip.auth import ha1, load_secrets


def test_a_password_is_printed_once_and_only_its_ha1_is_kept(tmp_path: Path, hotline_bin: str) -> None:
    secrets_file = tmp_path / "sip-secrets"
    cfg = {"devices": [{"name": "sim0", "driver": "sim"},   # its stations are 1001-1003: the phone is 2001
                       {"name": "sip0", "driver": "sip", "extensions": ["2001"], "secrets_file": str(secrets_file),
                        "realm": "printers"}]}
    (tmp_path / "hotline.yaml").write_text(yaml.safe_dump(cfg))
    out = subprocess.run([hotline_bin, "-c", str(tmp_path / "hotline.yaml"), "sip", "password", "2001"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    password = out.stdout.strip()
    assert len(password) >= 12
    stored = load_secrets(secrets_file)
    assert stored == {"2001": ha1("2001", "printers", password)}
    assert password not in secrets_file.read_text()
    assert secrets_file.stat().st_mode & 0o077 == 0


def test_without_a_sip_device_it_says_what_to_do(tmp_path: Path, hotline_bin: str) -> None:
    (tmp_path / "hotline.yaml").write_text(yaml.safe_dump({"devices": [{"name": "sim0", "driver": "sim"}]}))
    out = subprocess.run([hotline_bin, "-c", str(tmp_path / "hotline.yaml"), "sip", "password", "1001"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 78 and "no single SIP device" in out.stderr
