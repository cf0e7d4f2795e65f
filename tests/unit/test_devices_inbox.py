"""Line events posted from drivers' threads reach the call engine in order, all of them, on the loop's thread."""
from __future__ import annotations

import asyncio
import threading

from hotline.daemon.calls.devices import DeviceManager
from hotline.drivers.base import LineDown, LineUp


def test_events_from_driver_threads_arrive_in_order_on_the_loop_thread_even_when_one_fails() -> None:
    async def main() -> None:
        seen: list[tuple[str, int]] = []
        loop_thread = threading.get_ident()
        done = asyncio.Event()

        def on_event(event) -> None:
            assert threading.get_ident() == loop_thread
            seen.append((event.line, threading.get_ident()))
            if len(seen) == 602:
                done.set()

        devices = DeviceManager([], on_event)
        await devices.start()
        real = devices._dispatch

        def dispatch(event) -> None:   # a bug while routing one event must not lose the events after it
            if event.line == "t0-13":
                raise RuntimeError("routing failed")
            real(event)
        devices._dispatch = dispatch   # type: ignore[method-assign]
        reported: list = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: reported.append(ctx["exception"]))

        def post(n: int) -> None:
            for i in range(201):
                devices.sink((LineUp if i % 2 else LineDown)(f"t{n}-{i}"))
        threads = [threading.Thread(target=post, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        await asyncio.wait_for(done.wait(), 5)
        for n in range(3):
            mine = [line for line, _ in seen if line.startswith(f"t{n}-")]
            expected = [f"t{n}-{i}" for i in range(201) if f"t{n}-{i}" != "t0-13"]
            assert mine == expected
        assert [str(exc) for exc in reported] == ["routing failed"]
        assert devices.lines == {}   # nothing else was touched
    asyncio.run(main())
