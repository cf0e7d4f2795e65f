"""Flows at run time in a real in-process box: versions, failures that must not hurt the caller, the other apps."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hotline.daemon.box.app import Hotline
from hotline.daemon.calls.flowtest import dry_run_config
from hotline.daemon.calls.journal import events_for
from hotline.dialplan.interpreter import FlowRun


class Box:
    """An in-process box on a copy of the demo state; calls run a named flow's active version."""

    def __init__(self, app: Hotline):
        self.app = app
        s = app.services
        self.flows, self.sim, self.calls, self.services = s["flows"], s["sim"], s["calls"], s["box"]
        self.waiting: dict[str, asyncio.Event] = {}
        make_ctx = self.calls.context_factory

        def context(call, manager):
            ctx = make_ctx(call, manager)
            ev = self.waiting.setdefault(call.uuid, asyncio.Event())
            ctx.on_input_wait = ev.set
            return ctx
        self.calls.context_factory = context
        self.flow_name = "t"
        self.calls.flow_for = lambda call: (lambda ctx, f=self.flows.get(self.flow_name):
                                            FlowRun(f, ctx, self.services).run())

    def publish(self, text: str) -> None:
        """Publish a flow version."""
        self.flows.publish(text, "t.yaml", author="test")

    async def call(self, caller: str = "13800138000") -> str:
        """A caller rings in."""
        return self.sim.place_call(caller, "", "9999").id

    async def press(self, call_id: str, keys: str, timeout: float = 30) -> None:
        """Press keys once the flow waits for input."""
        ev = self.waiting.setdefault(call_id, asyncio.Event())
        await asyncio.wait_for(ev.wait(), timeout)
        ev.clear()
        self.sim.send_dtmf(call_id, keys)

    async def ended(self, call_id: str, timeout: float = 60) -> list[dict]:
        """Wait for the call to end; its events."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while call_id in self.calls.calls and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert call_id not in self.calls.calls, "the call did not end"
        await self.app.services["journal"].flush()
        return await self.app.services["store"].read(events_for, call_id)


@pytest.fixture
def run_box(box_config, tmp_path):
    """Run an async test body against a fresh in-process box."""
    def run(body):
        async def main():
            app = Hotline(dry_run_config(box_config, tmp_path, None), env={})
            app.build()
            app.components = [(n, c) for n, c in app.components if n != "web"]
            await app.start()
            try:
                await body(Box(app))
            finally:
                await app.shutdown(drain=False)
        asyncio.run(main())
    return run


def trail(events: list[dict]) -> list[dict]:
    """The ivr.step data of a call."""
    return [e["data"] for e in events if e["kind"] == "ivr.step"]


V1 = """
flow: t
blocks:
  main:
    - answer
    - menu: {prompt: printer_help, options: {"1": one}, timeout: 5}
  one:
    - set: {version: "1"}
    - hangup
"""
V2 = V1.replace('version: "1"', 'version: "2"').replace("one:", "uno:").replace('"1": one', '"1": uno')


def test_calls_finish_on_their_version_and_rollback_restores(run_box) -> None:
    """Publishing v2 while a caller is in v1's menu: that caller goes on in v1, new callers get v2; rollback."""
    async def body(box: Box) -> None:
        box.publish(V1)
        first = await box.call()
        await asyncio.sleep(0.2)
        box.publish(V2)                      # while the first caller listens to v1's menu
        second = await box.call()
        await box.press(first, "1")
        await box.press(second, "1")
        t1, t2 = trail(await box.ended(first)), trail(await box.ended(second))
        assert [t["block"] for t in t1 if t["step"] == "set"] == ["one"]
        assert [t["block"] for t in t2 if t["step"] == "set"] == ["uno"]
        box.flows.rollback("t")
        third = await box.call()
        await box.press(third, "1")
        assert [t["block"] for t in trail(await box.ended(third)) if t["step"] == "set"] == ["one"]
        from hotline.dialplan.flow import FlowError
        with pytest.raises(FlowError):
            box.publish(V1.replace("one:", "won:"))  # broken: never published
        assert box.flows.get("t").blocks.keys() == {"main", "one"}
    run_box(body)


def test_runtime_failures_are_polite(run_box) -> None:
    """A missing prompt is skipped, a database error takes the not-found path, a speech failure goes to the
    error block; each is journaled and the call goes on."""
    async def body(box: Box) -> None:
        box.publish("""
flow: t
error: sorry
blocks:
  main:
    - answer
    - play: "nope_${missing}"
    - lookup: {table: products, by: model, value: "1020", not_found: lookup_failed}
  lookup_failed:
    - set: {reached: lookup_failed}
    - tts: "this sentence is new and must be synthesized now"
    - set: {reached: after_tts}
  sorry:
    - set: {reached: error_block}
    - hangup: goodbye
""")
        box.app.services["store"].write_sync(lambda: box.app.store.db.execute_sql("DROP TABLE products"))
        path = os.environ["PATH"]
        os.environ["PATH"] = "/nonexistent"   # espeak-ng cannot be found for the new sentence
        try:
            cid = await box.call()
            events = await box.ended(cid)
        finally:
            os.environ["PATH"] = path
        kinds = [e["kind"] for e in events]
        errors = [e["data"]["error"] for e in events if e["kind"] == "call.error"]
        assert any("nope_" in e for e in errors), errors
        steps = trail(events)
        assert any(t["step"] == "lookup.error" for t in steps)
        assert [t["step"] for t in steps if t["step"] in ("error",)] == ["error"]
        assert steps[-1]["step"] == "hangup" and steps[-1]["block"] == "sorry"
        assert kinds[-1] == "call.ended" and events[-1]["data"]["cause"] == "normal"
        journaled = errors + [t.get("error", "") for t in steps if t["step"] == "error"]
        assert any("espeak-ng is not installed" in e for e in journaled), f"speech failure not journaled: {steps}"
    run_box(body)


def test_gosub_branch_caller_patterns_transfer_and_record_prompt(run_box, tmp_path) -> None:
    """gosub/return, branch on caller number and variables, transfer to a station that answers,
    and a prompt recorded by phone that then replaces the synthesized one."""
    async def body(box: Box) -> None:
        box.publish("""
flow: t
blocks:
  main:
    - answer
    - gosub: greet
    - branch:
        cases:
          - {when: {caller_matches: "^0755"}, goto: shenzhen}
          - {when: {var: greeted, equals: "yes"}, goto: record}
        else: main
  greet:
    - set: {greeted: "yes"}
    - return
  shenzhen:
    - transfer: {extension: "1002", ring_timeout: 5}
    - hangup
  record:
    - record_prompt: {prompt_id: goodbye, language: en_US, max_seconds: 3}
    - hangup
""")
        import numpy as np
        cid = await box.call("13800138000")
        card = box.sim.get(cid).card
        # the technician speaks for 3 s from the start; the beep covers the first half second
        card.far_send(box.sim.get(cid).line, (6000 * np.sin(np.arange(24000) * 0.3)).astype(np.int16))
        await box.press(cid, "1")            # after hearing it back: keep it
        steps = trail(await box.ended(cid))
        assert [t["step"] for t in steps][:3] == ["answer", "set", "branch"]
        assert steps[-2]["step"] == "record_prompt" and steps[-2]["saved"] is True
        saved = Path(box.app.config.path_for("prompts")) / "en_US" / "goodbye.wav"
        assert saved.exists() and saved.stat().st_size > 8000
        saved.unlink()
        card.station_auto_answer = 0.2
        other = await box.call("075512345678")
        for _ in range(500):
            if box.calls.calls.get(other) and box.calls.calls[other].state.value == "bridged":
                break
            await asyncio.sleep(0.01)
        box.sim.station_hangup("1002")      # the agent finishes the call
        steps = trail(await box.ended(other, 60))
        assert any(t["step"] == "transfer" and t["target"] == "1002" for t in steps)
    run_box(body)


def test_play_file_total_timeout_and_path_traversal(run_box) -> None:
    """play: file plays a WAV under the prompts directory; a path escaping it is refused and journaled;
    collect's total_timeout ends a slow entry."""
    async def body(box: Box) -> None:
        import numpy as np
        from hotline.daemon.media.wavio import write_wav
        prompts_dir = Path(box.app.config.path_for("prompts"))
        (prompts_dir / "music").mkdir(parents=True, exist_ok=True)
        write_wav(prompts_dir / "music" / "chime.wav", (8000 * np.sin(np.arange(4000) * 0.2)).astype(np.int16))
        box.publish("""
flow: t
blocks:
  main:
    - answer
    - play: {file: music/chime.wav}
    - play: {file: music/../../../../etc/passwd.wav}
    - collect: {var: code, max_digits: 8, timeout: 5, inter_digit_timeout: 5, total_timeout: 1.5}
    - hangup
""")
        engine = box.app.services["engine"]
        engine.speed = 5.0                 # real-time control for the slow typist below
        from hotline.daemon.calls.simctl import SimError
        cid = await box.call()
        await box.press(cid, "1")
        await asyncio.sleep(0.6)           # 3 s of call time: past the total timeout
        try:
            box.sim.send_dtmf(cid, "2")    # too late: the entry (and here the call) is over
        except SimError:
            pass
        events = await box.ended(cid)
        played = [e["data"].get("file") for e in events if e["kind"] == "media.played"]
        assert played == ["music/chime.wav"]
        errors = [e["data"]["error"] for e in events if e["kind"] == "call.error"]
        assert any("outside the prompts directory" in e for e in errors), errors
        assert [t["value"] for t in trail(events) if t["step"] == "collect"] == ["1"]
    run_box(body)


def test_flow_test_cli_prints_the_path(box_config, hotline_bin) -> None:
    """`hotline flow test` prints the steps, prompts, variables and the end, with --at for holidays."""
    import subprocess
    env = {**os.environ, "HOTLINE_STATE_DIR": str(box_config.state_dir)}
    cmd = [hotline_bin, "-c", box_config.path, "flow", "test"]
    out = subprocess.run([*cmd, "water_utility", "--from", "13900139000", "--press", "3,9",
                          "--at", "2026-11-23 10:00"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "flow water_utility v1, caller 13900139000, at 2026-11-23 10:00"
    assert any("menu.key" in ln and "target=bill" in ln for ln in lines)
    assert any("say" in ln and "value=123.05 kind=money" in ln for ln in lines)
    assert lines[-2].startswith("ended: normal in block bye") and "account.account_no=10000001" in lines[-1]
    out = subprocess.run([*cmd, "printer_support", "--at", "2026-12-25 10:00"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert "state=holiday" in out.stdout and "holiday (zh_CN)" in out.stdout
    out = subprocess.run([*cmd, "no_such_flow"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1 and "no valid flow 'no_such_flow'" in out.stderr


def test_prompt_upload_converts_any_wav_and_refuses_bad_files(box_config, hotline_bin, tmp_path) -> None:
    """A 44.1 kHz stereo WAV becomes the prompt (8 kHz mono); a text file or an unknown prompt is refused."""
    import subprocess
    import wave
    import numpy as np
    src = tmp_path / "studio.wav"
    with wave.open(str(src), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes((np.tile((6000 * np.sin(np.arange(44100) * 0.05)), (2, 1)).T.astype("<i2")).tobytes())
    env = {**os.environ, "HOTLINE_STATE_DIR": str(tmp_path / "state")}
    cmd = [hotline_bin, "-c", box_config.path, "prompt", "upload"]
    out = subprocess.run([*cmd, "goodbye", "en_US", str(src)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    saved = tmp_path / "state" / "prompts" / "en_US" / "goodbye.wav"
    with wave.open(str(saved)) as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1) and abs(w.getnframes() - 8000) < 50
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all")
    out = subprocess.run([*cmd, "goodbye", "en_US", str(bad)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1 and "notes.wav" in out.stderr
    out = subprocess.run([*cmd, "nope", "en_US", str(src)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1 and "'nope' is not in the manifest" in out.stderr


def test_say_uses_recorded_digit_prompts_when_all_exist(tmp_path) -> None:
    """With every token recorded, say plays the recordings; with one missing it falls back to speech."""
    import numpy as np
    from hotline.daemon.media.wavio import write_wav
    from hotline.daemon.calls.prompts import PromptLibrary
    from hotline.dialplan.say import say
    lib = PromptLibrary(tmp_path, "zh_CN")
    tokens = say("12.05", "money", "zh_CN")
    (tmp_path / "say" / "zh_CN").mkdir(parents=True)
    for i, t in enumerate(tokens):
        write_wav(tmp_path / "say" / "zh_CN" / f"{t}.wav", np.full(800, 100 * (i + 1), np.int16))
    audio = asyncio.run(lib.tokens(tokens, "zh_CN"))
    assert audio is not None and len(audio) == 800 * len(tokens) and audio[0] == 100
    (tmp_path / "say" / "zh_CN" / f"{tokens[-1]}.wav").unlink()
    assert asyncio.run(lib.tokens(tokens, "zh_CN")) is None
