"""``hotline acd-bench`` in small: three agents, a short line of callers, the figures it prints."""
from __future__ import annotations

import argparse
import json

from hotline.daemon.acd.bench import acd_bench_main, register

KEYS = {"agents", "waiting_mean", "seconds", "offers", "dispatch_p50_ms", "dispatch_p99_ms", "dispatch_max_ms",
        "cpu_s_per_waiting_caller_hour", "tick_p50_ms", "tick_p99_ms", "missed_ticks"}


def test_a_short_run_prints_every_figure_with_sane_values(capsys) -> None:
    """Agents keep taking callers from a line of about 12; every offer is timed, nothing is timed out."""
    status = acd_bench_main(agents=3, waiting=12, seconds=3, as_json=True, handle_s=(0.5, 1.0))
    out = json.loads(capsys.readouterr().out)
    assert set(out) == KEYS
    assert out["agents"] == 3 and 2.5 <= out["seconds"] <= 4.0
    assert out["offers"] >= 3, "three agents with one-second calls take several callers in three seconds"
    assert 6 <= out["waiting_mean"] <= 18, "the arrivals keep the line near its target"
    assert 0 <= out["dispatch_p50_ms"] <= out["dispatch_p99_ms"] <= out["dispatch_max_ms"] < 1000
    assert out["cpu_s_per_waiting_caller_hour"] > 0
    assert 0 < out["tick_p50_ms"] <= out["tick_p99_ms"] < 1000
    assert out["missed_ticks"] >= 0
    assert status == (0 if out["dispatch_p99_ms"] < 20 and out["missed_ticks"] == 0 else 1)


def test_the_subcommand_takes_its_options() -> None:
    """``hotline acd-bench --agents N --waiting W --seconds S --json`` reaches acd_bench_main's arguments."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="cmd"), argparse.ArgumentParser(add_help=False))
    args = parser.parse_args(["acd-bench", "--agents", "7", "--waiting", "40", "--seconds", "2.5", "--json"])
    assert (args.agents, args.waiting, args.seconds, args.json) == (7, 40, 2.5, True)
    assert callable(args.fn)
