"""Runs a flow on a call: steps in order, jumps, subroutines, variables and the IVR trail."""
from __future__ import annotations

import logging
import re
import time
from typing import Any

from .context import CallContext
from .flow import Flow
from .registry import APPS, Jump
from .services import FlowServices

log = logging.getLogger("hotline.dialplan")
_VAR = re.compile(r"\$\{([a-z_][a-z0-9_.]*)\}")
MAX_STEPS = 10000  # a flow that loops without waiting is stopped, not run forever


class FlowRun:
    """One call going through one flow version."""

    def __init__(self, flow: Flow, ctx: CallContext, services: FlowServices):
        self.flow = flow
        self.ctx = ctx
        self.services = services
        self.vars: dict[str, Any] = {**flow.vars, "caller_id": ctx.caller_id, "caller_name": ctx.caller_name,
                                     "dialed": ctx.dialed, "flow": flow.name}
        self.block = flow.start
        self.index = 0
        self.stack: list[tuple[str, int]] = []
        self.menu_history: list[str] = []  # blocks of the menus the caller came through (back key)
        self.steps = 0
        if ctx.language not in flow.languages:
            ctx.language = flow.languages[0]

    @property
    def language(self) -> str:
        """The caller's language (the language app changes it)."""
        return self.ctx.language

    def expand(self, value: Any) -> Any:
        """Replace ${var} in strings (unknown variables become empty)."""
        if not isinstance(value, str) or "${" not in value:
            return value
        return _VAR.sub(lambda m: str(self.get(m.group(1), "")), value)

    def get(self, name: str, default: Any = None) -> Any:
        """A variable (also the built-ins language and now)."""
        if name == "language":
            return self.language
        if name == "now":
            return time.strftime("%Y-%m-%d %H:%M")
        return self.vars.get(name, default)

    def trail(self, event: str, **data: Any) -> None:
        """Journal one IVR trail entry with the current place in the flow."""
        self.ctx.step(event, flow=self.flow.name, block=self.block, index=self.index, **data)

    async def run(self) -> None:
        """Run until the flow hangs up or runs off the end of a block."""
        while True:
            steps = self.flow.blocks.get(self.block, [])
            if self.index >= len(steps):
                if self.stack:
                    self.block, self.index = self.stack.pop()
                    continue
                self.trail("end")
                await self.ctx.hangup()
                return
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise RuntimeError(f"flow {self.flow.name} ran {MAX_STEPS} steps without ending")
            step = steps[self.index]
            spec = APPS[step.app]
            try:
                jump = await spec.fn(self, step.args)
            except Exception as exc:
                if type(exc).__name__ in ("LegGone", "CancelledError"):
                    raise
                log.exception("event=app_failed flow=%s block=%s app=%s", self.flow.name, self.block, step.app)
                self.trail("error", app=step.app, error=str(exc))
                if self.flow.error and self.block != self.flow.error:
                    self.block, self.index, self.stack = self.flow.error, 0, []
                    continue
                raise
            if not self._follow(jump):
                return

    def _follow(self, jump: Jump | None) -> bool:
        if jump is None:
            self.index += 1
        elif jump.kind == "goto":
            self.block, self.index = jump.block, 0
        elif jump.kind == "gosub":
            self.stack.append((self.block, self.index + 1))
            self.block, self.index = jump.block, 0
        elif jump.kind == "return":
            if self.stack:
                self.block, self.index = self.stack.pop()
            else:
                self.index = len(self.flow.blocks[self.block])
        elif jump.kind == "hangup":
            return False
        return True
