"""One reader of standard input, shared by approval prompts and typed messages.

A daemon thread reads lines (so a blocked read never holds up the event loop
or the interpreter's exit) and hands each one to the oldest waiting approval,
or else to the typed-message stream. End of input denies every approval that
is waiting or still to come, and ends the message stream.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import threading
from typing import Any, AsyncIterator, Callable, TextIO

YES = frozenset({"y", "yes"})


class StdinReader:
    """Routes lines from ``stream`` to approvals first, then to :meth:`lines`."""

    def __init__(self, stream: TextIO | None = None, prompt: Callable[[str], None] | None = None):
        self._stream = stream if stream is not None else sys.stdin
        self._prompt = prompt or (lambda text: print(text, end="", flush=True))
        self._waiting: collections.deque[asyncio.Future[str | None]] = collections.deque()
        self._texts: asyncio.Queue[str | None] = asyncio.Queue()
        self._eof = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> StdinReader:
        """Start the reading thread (call from inside the event loop)."""
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, name="rtproto-stdin", daemon=True).start()
        return self

    def _read(self) -> None:
        assert self._loop is not None
        try:
            for line in self._stream:
                self._loop.call_soon_threadsafe(self._route, line.rstrip("\r\n"))
        except (OSError, ValueError):
            pass  # a closed or unreadable stdin is end of input
        with contextlib.suppress(RuntimeError):  # the loop closed before input ended
            self._loop.call_soon_threadsafe(self._route, None)

    def _route(self, line: str | None) -> None:
        if line is None:
            self._eof = True
            while self._waiting:
                _resolve(self._waiting.popleft(), None)
            self._texts.put_nowait(None)
            return
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(line)
                return
        self._texts.put_nowait(line)

    async def approve(self, request: Any) -> tuple[bool, str | None]:
        """Ask about one approval request; ``y``/``yes`` approves, anything else denies."""
        self._prompt(f"approve {request.server_label}.{request.name}({request.arguments})? [y/N] ")
        if self._eof:
            return False, "end of input"
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            answer = await future
        finally:
            if not future.done():
                future.cancel()
        if answer is None:
            return False, "end of input"
        if answer.strip().lower() in YES:
            return True, None
        return False, "denied by user"

    async def lines(self) -> AsyncIterator[str]:
        """Typed lines that no approval took, until end of input."""
        while (line := await self._texts.get()) is not None:
            yield line


def _resolve(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)

