"""One reader of standard input, shared by approval prompts and typed messages.

A daemon thread reads lines (so a blocked read never holds up the event loop
or the interpreter's exit) and notes when each one was read. Questions are
asked one at a time, in order, and each gets its whole timeout from the moment
it is shown.

Which line answers a question depends on where input comes from:

* **A terminal**: only a line typed after the question was shown. Input typed
  before it (a late answer to a question that timed out, a stray "y") is
  flushed, as sudo and ssh do for passwords, and the screen says so.
* **A pipe or file**: the lines are a script, read in order: with
  ``answers_ahead`` (no :meth:`lines` reader) lines that came before a question
  answer the next ones, one each, blank lines skipped.

Other lines go to :meth:`lines` (typed messages). End of input denies every
question that is waiting or still to come, and ends the message stream.
Input that is not UTF-8 is read with replacement characters, and a line is
cut at :data:`MAX_LINE` bytes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import threading
import time
from typing import Any, AsyncIterator, BinaryIO, Callable, NamedTuple, TextIO

from .console import approval_question

YES = frozenset({"y", "yes"})
MAX_LINE = 64 * 1024  # bytes of one typed line kept; the rest of it is dropped


class _Typed(NamedTuple):
    text: str
    read_at: float  # the reader's clock when the line was read


class StdinReader:
    """Routes lines from ``stream`` to the question on screen first, then to :meth:`lines`.

    ``prompt(text)`` shows a question; ``answered(line, echo)`` is told the line
    that answered it (``echo``: the terminal did not show it after the question,
    because input is not a terminal or the line was typed ahead);
    ``ignored(count)`` is told how many lines typed on a terminal before the
    question were flushed.
    """

    def __init__(self, stream: TextIO | BinaryIO | None = None, prompt: Callable[[str], None] | None = None,
                 answered: Callable[[str, bool], None] | None = None, *, answers_ahead: bool = False,
                 ignored: Callable[[int], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self._stream = stream if stream is not None else sys.stdin
        self._prompt = prompt or (lambda text: print(text, end="", flush=True))
        self._answered = answered or (lambda line, echo: None)
        self._ignored = ignored or (lambda count: None)
        self._answers_ahead = answers_ahead
        self._clock = clock
        self._terminal = _isatty(self._stream)
        self._question: asyncio.Future[_Typed | None] | None = None
        self._shown_at = 0.0
        self._ahead: collections.deque[_Typed] = collections.deque()  # piped answers to later questions
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
        binary = getattr(self._stream, "buffer", self._stream)
        try:
            while line := _read_line(binary):
                typed = _Typed(line.decode("utf-8", "replace").rstrip("\r\n"), self._clock())
                self._loop.call_soon_threadsafe(self._route, typed)
        except (OSError, ValueError, AttributeError):
            pass  # a closed, missing or unreadable stdin is end of input
        with contextlib.suppress(RuntimeError):  # the loop closed before input ended
            self._loop.call_soon_threadsafe(self._route, None)

    def _route(self, typed: _Typed | None) -> None:
        if typed is None:
            self._eof = True
            if self._question is not None and not self._question.done():
                self._question.set_result(None)
            self._texts.put_nowait(None)
        elif self._question is not None and not self._question.done() and not self._typed_before_question(typed):
            self._question.set_result(typed)
        elif not self._answers_ahead:
            self._texts.put_nowait(typed.text)
        elif self._terminal:
            self._ignored(1)  # no question on screen: it answers nothing
        elif typed.text.strip():
            self._ahead.append(typed)

    def _typed_before_question(self, typed: _Typed) -> bool:
        # On a terminal a line read before the question was shown answers nothing (it is
        # a typed message in text mode, and flushed otherwise).
        return self._terminal and typed.read_at < self._shown_at

    async def approve(self, request: Any, timeout: float | None = None) -> tuple[bool, str | None]:
        """Ask about one approval request; ``y``/``yes`` approves, anything else denies.

        Questions are asked one at a time, so an answer always belongs to the
        question on screen. Raises :class:`TimeoutError` when nobody answered
        within ``timeout`` seconds of the question being shown.
        """
        async with self._asking:
            return await self._ask(request, timeout)

    async def _ask(self, request: Any, timeout: float | None) -> tuple[bool, str | None]:
        if self._terminal:
            _flush_typed(self._stream)
        self._shown_at = self._clock()
        self._prompt(approval_question(request))
        if self._ahead:
            answer: str | None = self._ahead.popleft().text
            self._answered(answer, True)
        else:
            answer = None if self._eof else await self._next_line(timeout)
        if answer is None:
            return False, "end of input"
        if answer.strip().lower() in YES:
            return True, None
        return False, "denied by user"

    async def _next_line(self, timeout: float | None) -> str | None:
        self._question = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                typed = await self._question
        finally:
            self._question = None
        if typed is not None:
            self._answered(typed.text, not self._terminal)
        return None if typed is None else typed.text

    async def lines(self) -> AsyncIterator[str]:
        """Typed lines that no question took, until end of input."""
        while (line := await self._texts.get()) is not None:
            yield line


def _read_line(stream: Any) -> bytes:
    # At most MAX_LINE bytes of a line; the rest of an over-long line is read and dropped.
    line = stream.readline(MAX_LINE)
    if isinstance(line, str):
        line = line.encode("utf-8", "surrogateescape")
    if len(line) == MAX_LINE and not line.endswith(b"\n"):
        while (rest := stream.readline(MAX_LINE)) and not rest.endswith(b"\n" if isinstance(rest, bytes) else "\n"):
            pass
        line += b"\n"
    return line


def _flush_typed(stream: Any) -> None:
    # Discards what was typed on the terminal but not yet read (a partial line).
    with contextlib.suppress(ImportError, OSError, ValueError, AttributeError):
        import termios

        termios.tcflush(stream.fileno(), termios.TCIFLUSH)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
