"""Subcommands for tools beside the daemon (DSP analysis, simulator, benchmarks)."""
from __future__ import annotations

import argparse
from typing import Callable


def _dsp(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    dsp = sub.add_parser("dsp", help="signal analysis tools", parents=[common])
    dsub = dsp.add_subparsers(dest="dsp_cmd", required=True, metavar="TOOL")
    dt = dsub.add_parser("dtmf", help="print the DTMF digits in a WAV file as 'time_s digit'",
                         parents=[common])
    dt.add_argument("file")

    def run(args: argparse.Namespace) -> int:
        from .media.dsp_cli import dtmf_file_main
        return dtmf_file_main(args.file)
    dt.set_defaults(fn=run)


REGISTER: list[Callable] = [_dsp]
