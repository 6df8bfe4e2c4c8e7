"""One reader of standard input, shared by approval prompts and typed messages.

A daemon thread reads lines (so a blocked read never holds up the event loop
or the interpreter's exit) and hands each one to the oldest waiting approval,
or else to the typed-message stream. Without a message stream (a spoken
conversation) a line typed before an approval is asked answers the next one,
so answers can be piped in. End of input denies every approval that is
waiting or still to come, and ends the message stream.
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
    """Routes lines from ``stream`` to approvals first, then to :meth:`lines`.

    ``prompt(text)`` shows a question; ``answered(line, echo)`` is told the line
    that answered it (``echo``: the terminal did not show it after the question,
    because input is not a terminal or the line was typed ahead). With
    ``answers_ahead`` (no :meth:`lines` reader) lines typed ahead answer the
    next approvals, in order; blank ones are skipped.
    """

    def __init__(self, stream: TextIO | None = None, prompt: Callable[[str], None] | None = None,
                 answered: Callable[[str, bool], None] | None = None, *, answers_ahead: bool = False):
        self._stream = stream if stream is not None else sys.stdin
        self._prompt = prompt or (lambda text: print(text, end="", flush=True))
        self._answered = answered or (lambda line, echo: None)
        self._answers_ahead = answers_ahead
        self._terminal = _isatty(self._stream)
        self._waiting: collections.deque[asyncio.Future[str | None]] = collections.deque()
        self._texts: asyncio.Queue[str | None] = asyncio.Queue()
        self._eof = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._asking = asyncio.Lock()  # one question on screen at a time, answered in order

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
        """Ask about one approval request; ``y``/``yes`` approves, anything else denies.

        Questions are asked one at a time, so an answer always belongs to the
        question on screen.
        """
        async with self._asking:
            return await self._ask(request)

    async def _ask(self, request: Any) -> tuple[bool, str | None]:
        self._prompt(f"approve {request.server_label}.{request.name}({request.arguments})? [y/N] ")
        answer = self._typed_ahead()
        if answer is not None:
            self._answered(answer, True)
        elif not self._eof:
            answer = await self._next_line()
            if answer is not None:
                self._answered(answer, not self._terminal)
        if answer is None:
            return False, "end of input"
        if answer.strip().lower() in YES:
            return True, None
        return False, "denied by user"

    async def _next_line(self) -> str | None:
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            return await future
        finally:
            if not future.done():
                future.cancel()

    def _typed_ahead(self) -> str | None:
        while self._answers_ahead and not self._texts.empty():
            line = self._texts.get_nowait()
            if line is None:  # end of input: keep the mark
                self._texts.put_nowait(None)
                return None
            if line.strip():
                return line
        return None

    async def lines(self) -> AsyncIterator[str]:
        """Typed lines that no approval took, until end of input."""
        while (line := await self._texts.get()) is not None:
            yield line


def _resolve(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
