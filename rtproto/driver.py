"""The async driver: joins the transport, the session core, audio and tools.

The core (:mod:`rtproto.session`) decides; the driver only moves data and
performs the core's actions: it sends frames, plays and clears audio, asks a
person for approvals (with a timeout), runs function tools, and records the
local facts a replay needs (playback position, answers, tool results) into the
transcript. Nothing here knows a protocol rule.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import inspect
import json
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

from . import codec, events
from .audio import SESSION_RATE
from .actions import (
    ApprovalRequested, AskApproval, CallFunction, ClearPlayback, EndConversation, FunctionApproval, Send, TurnDone,
)
from .errors import AuthenticationError, ConnectionClosed, ServerRefused, TransportError
from .resume import RESEED_BUDGET
from .policy import TIMEOUT_REASON, ToolPolicy
from .session import Session

logger = logging.getLogger("rtproto.driver")

HELD_AUDIO_MS = 5000  # microphone audio kept while reconnecting, and sent once resumed

class Approver(Protocol):
    """Puts an approval request to a person: ``(approve, reason)``; raises :class:`TimeoutError`
    when nobody answered within ``timeout`` seconds of the question being shown."""

    def __call__(self, request: Any, timeout: float | None) -> Awaitable[tuple[bool, str | None]]: ...


@dataclass(frozen=True)
class Tool:
    """A function tool the driver runs: ``run`` takes the call's JSON arguments and returns
    ``(output, is_error)``. A local MCP server's tool names the server (``server_label``)
    and its own name there (``server_tool``); the transcript records the call with both."""

    run: Callable[[str], Awaitable[tuple[str, bool]]]
    server_label: str | None = None
    server_tool: str | None = None

    @classmethod
    def python(cls, function: Callable[..., Any]) -> Tool:
        """A Python callable (sync or async) taking the arguments as keywords (:func:`run_tool`)."""
        return cls(functools.partial(run_tool, function))


class Link(Protocol):
    """The connection the driver talks over (:class:`rtproto.transport.Connection`)."""

    @property
    def ended(self) -> ConnectionClosed | None: ...  # how it closed; None while open
    async def send(self, frame: bytes) -> None: ...
    async def deliver(self, handler: Callable[[bytes], None]) -> None: ...
    async def close(self) -> None: ...


class Source(Protocol):
    """Where the user's audio comes from (a microphone, a WAV file): int16 chunks at 24 kHz."""

    muted: bool

    def chunks(self) -> AsyncIterator[Any]: ...
    def close(self) -> None: ...


class Recorder(Protocol):
    """Where the local lines of the transcript go (:class:`rtproto.transcript.TranscriptWriter`)."""

    def local(self, event: dict[str, Any]) -> None: ...


class Sink(Protocol):
    """Where the assistant's audio goes (a speaker, a WAV file): it reports what it really played."""

    rate: int

    def play(self, item_id: str, content_index: int, pcm: Any) -> None: ...
    def clear(self) -> dict[tuple[str, int], int]: ...
    @property
    def is_playing(self) -> bool: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...


class Display(Protocol):
    def show(self, notice: Any) -> None: ...
    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...


class GaveUp(ConnectionClosed):
    """The connection was lost and every attempt to replace it failed."""

    def __init__(self, lost: ConnectionClosed, attempts: int, last: Exception):
        super().__init__(lost.code, lost.reason, by=lost.by, cause=lost.cause)
        self.args = (f"{lost}; gave up after {attempts} attempts to reconnect (the last: {last})",)


@dataclass(frozen=True)
class Reconnect:
    """How a lost connection is replaced: ``attempts`` tries, waiting ``first_s`` seconds before
    the first and twice as long before each next one (at most ``cap_s``), each wait spread by
    +/- ``jitter`` of itself so that many clients do not return at once."""

    attempts: int = 5
    first_s: float = 0.5
    cap_s: float = 8.0
    jitter: float = 0.25

    def delays(self, rng: random.Random | None = None) -> list[float]:
        """The waits before each attempt (0.5, 1, 2, 4, 8 s by default, jittered)."""
        rng = rng or random.Random()
        plain = [min(self.first_s * 2 ** n, self.cap_s) for n in range(self.attempts)]
        return [d * (1 + rng.uniform(-self.jitter, self.jitter)) for d in plain]


@dataclass
class Driver:
    """Runs one conversation over an open :class:`rtproto.transport.Connection`.

    ``tools`` maps function-tool names to the :class:`Tool` s that run them
    (:meth:`change_tools` replaces them mid-conversation). ``approver`` is awaited
    for each approval the core asks for; ``approval_timeout`` seconds after the
    question is shown the answer is "no" (without an approver, at once). ``recorder`` is a
    :class:`rtproto.transcript.TranscriptWriter` (its wire lines come from the transport; the
    driver adds the local lines). With ``reconnect`` (a coroutine function that opens a new
    connection), a lost connection is replaced as ``reconnect_plan`` says and the conversation
    resumed on it (:meth:`rtproto.session.Session.resume`).
    """

    conn: Link
    session: Session
    sink: Sink
    display: Display
    source: Source | None = None
    tools: dict[str, Tool] = field(default_factory=dict)
    approver: Approver | None = None
    approval_timeout: float = 30.0
    recorder: Recorder | None = None
    headphones: bool = False
    api: str = "ga"
    clock: Callable[[], float] = time.monotonic
    drain_timeout: float = 120.0
    reconnect: Callable[[], Awaitable[Link]] | None = None  # opens a new connection; None: a loss ends it
    reconnect_plan: Reconnect = field(default_factory=Reconnect)
    expiry_margin_s: float = 120.0  # move to a new session this long before the server's limit, between turns
    wall_clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._origin = self.clock()
        self._cleared: set[tuple[str, int]] = set()
        self._decoders: dict[tuple[str, int], tuple[codec.WireFormat, codec.Resampler | None] | None] = {}
        self._attempts = 0  # reconnection attempts since a response last completed
        self._connection = 0  # which connection the conversation is on (its questions and calls belong to it)
        self._moving: asyncio.Future[None] | None = None  # a planned move to a new session, under way
        self._deadline_changed = asyncio.Event()  # for the timer: the core's deadline moved
        self._deadline: float | None = None  # the deadline the timer was last told of
        self._progress = asyncio.Event()  # for waiters on the core's state: outputs were applied
        self._background: set[asyncio.Task] = set()
        self._failed: asyncio.Future[None] | None = None  # set by run()

    def now_ms(self) -> float:
        """Milliseconds since the driver started (the core's clock)."""
        return (self.clock() - self._origin) * 1000.0

    async def run(self, session_config: Any = None, text_lines: AsyncIterator[str] | None = None) -> bool:
        """Configure the session, then stream until the server closes or input ends.

        Returns True on a normal close by the server, False when ``text_lines``
        ended and no response is running; raises :class:`rtproto.errors.ConnectionClosed`
        on an abnormal close, and the error of a failed approval or function step.
        """
        self._failed = asyncio.get_running_loop().create_future()
        self._online = asyncio.Event()
        self._online.set()
        await self.apply(self.session.start(session_config, now_ms=self.now_ms()))
        helpers = [asyncio.create_task(self._timer_loop(), name="rtproto-timer")]
        if self.reconnect is not None:
            helpers.append(asyncio.create_task(self._expiry_loop(), name="rtproto-expiry"))
        if self.source is not None:
            helpers.append(asyncio.create_task(self._microphone_loop(), name="rtproto-mic"))
        if text_lines is not None:
            helpers.append(asyncio.create_task(self._text_loop(text_lines), name="rtproto-text"))
        receiver = None
        try:
            while True:
                receiver = asyncio.create_task(self._receive_loop(), name="rtproto-receive")
                try:
                    await self._until_done(receiver, helpers, text_lines is not None)
                except ConnectionClosed as lost:
                    if self.reconnect is None:
                        raise
                    await self._resume(lost)
                    continue
                if self._moving is not None:  # we closed it to move to a new session
                    await self._moving
                    continue
                cut_short = self._cut_short() if receiver.done() and self.reconnect is not None else None
                if cut_short is not None:
                    await self._resume(cut_short)
                    continue
                await self._drain()
                return receiver.done()  # the server ended the conversation (else our input did)
        finally:
            tasks = [t for t in (receiver, *helpers, *self._background) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._failed.done():
                self._failed.exception()  # retrieved: a failure after the end is not reported

    def _cut_short(self) -> ConnectionClosed | None:
        # A normal close that does not end the conversation: the session hit its maximum duration,
        # or the server is going away (1001: a restart, a deploy). The conversation goes on in a new one.
        if self.session.expired:
            return ConnectionClosed(1001, "the session expired")
        ended = self.conn.ended
        return ended if ended is not None and ended.code == 1001 and ended.by == "server" else None

    async def _expiry_loop(self) -> None:
        # The server ends every session after a maximum duration: move to a new one between
        # turns, before it does, rather than mid-sentence.
        while True:
            await self._until(self._expiry_ahead)
            wait = self.session.expires_at - self.expiry_margin_s - self.wall_clock()  # type: ignore[operator]
            if wait > 0:
                await asyncio.sleep(wait)  # until a known time, not a wait for something
            await self._until(lambda: not self.session.busy)
            await self._move()

    def _expiry_ahead(self) -> bool:
        # A time already past is no limit to plan for (a replayed recording's, say).
        expires_at = self.session.expires_at
        return expires_at is not None and expires_at > self.wall_clock()

    async def _move(self) -> None:
        """Carry the conversation over to a new session, then close the old connection normally."""
        old = self.conn
        try:
            new = await self.reconnect()  # type: ignore[misc]
        except (TransportError, OSError) as exc:
            self.display.warn(f"could not open a new session before this one expires ({exc})")
            self.session.expires_at = None  # the server's own end will be resumed
            return
        self._online.clear()
        self._moving = asyncio.get_running_loop().create_future()
        await old.close()  # the receive loop ends quietly and waits for the move
        self.conn = new
        self.display.info("moved to a new session before the old one expired")
        await self._carry_over({"attempt": 0, "planned": True})
        self._moving.set_result(None)
        self._moving = None

    async def _resume(self, lost: ConnectionClosed) -> None:
        """Replace a lost connection and carry the conversation over (raises after the last try)."""
        # Attempts count on across losses until a response completes on a new connection, so a
        # server that accepts and drops every connection is given up on too.
        self._online.clear()
        self._record({"type": "connection.lost", "code": lost.code, "reason": lost.reason, "by": lost.by})
        delays = self.reconnect_plan.delays()
        self.display.warn(f"connection lost: {lost}; reconnecting")
        failure: Exception = lost
        while self._attempts < len(delays):
            delay = delays[self._attempts]
            self._attempts += 1
            attempt = self._attempts
            self.display.info(f"reconnecting {attempt}/{len(delays)} in {delay:.1f} s ...")
            await asyncio.sleep(delay)  # the backoff itself, not a wait for something
            try:
                self.conn = await self.reconnect()  # type: ignore[misc]
            except AuthenticationError:
                raise  # a refused key never gets better by trying again
            except (TransportError, OSError) as exc:
                failure = exc
                continue
            await self._carry_over({"attempt": attempt})
            return
        raise GaveUp(lost, len(delays), failure)

    async def _carry_over(self, how: dict[str, Any]) -> None:
        # The new connection is up: record it (replay resumes at this line), send the resume plan.
        self._record({"type": "connection.resumed", "budget": RESEED_BUDGET, **how})
        self._connection += 1
        await self.apply(self.session.resume(self.now_ms(), RESEED_BUDGET))
        self._online.set()

    async def _until_done(self, receiver: asyncio.Task, helpers: list[asyncio.Task], text_mode: bool) -> None:
        # Ends with the receiver, or once typed input has ended and the conversation settled;
        # a failure of any task (an abnormal close, a broken screen, a bug) is raised at once.
        text_task = helpers[-1] if text_mode else None
        settle = None
        pending = {receiver, *helpers, self._failed}
        while receiver in pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            if settle is not None and settle in done:
                return
            if text_task is not None and text_task in done:
                settle = asyncio.create_task(self._settle(), name="rtproto-settle")
                helpers.append(settle)  # cancelled with the others
                pending.add(settle)

    async def _drain(self) -> None:
        try:
            async with asyncio.timeout(self.drain_timeout):
                await self.sink.drain()
        except TimeoutError:
            self.display.warn(f"audio still queued after {self.drain_timeout:.0f} s was dropped")
            self.sink.clear()

    async def _settle(self, limit_s: float = 60.0) -> None:
        """After the last typed line: wait for the running response and pending tools to finish."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_s):
                await self._until(lambda: not (self.session.busy or self._background))

    async def _until(self, condition: Callable[[], bool]) -> None:
        # Waits on the core's progress, not on a clock: the condition is read after each change.
        while not condition():
            self._progress.clear()
            await self._progress.wait()

    # -- inbound -------------------------------------------------------------

    async def _receive_loop(self) -> None:
        # Events arrive in the socket's callback (no task switch per frame); the
        # core's outputs, which may need to wait for the socket, are performed
        # in order by one task.
        from .transport import deliver_events

        outbox: asyncio.Queue[list[Any] | None] = asyncio.Queue()
        actions = asyncio.create_task(self._perform(outbox), name="rtproto-actions")
        actions.add_done_callback(self._report_failure)

        def malformed(raw: bytes, exc: Exception) -> None:
            self.display.warn(f"skipped a malformed server frame: {exc}")

        def on_event(_raw: bytes, event: Any) -> None:
            outputs = self.session.receive(event, now_ms=self.now_ms())
            if type(event) is events.ResponseOutputAudioDelta:
                self._play(event)
            if outputs:
                outbox.put_nowait(outputs)

        try:
            await deliver_events(self.conn, on_event, api=self.api, on_error=malformed)
            outbox.put_nowait(None)
            await actions  # the notices of the last events
        finally:
            actions.cancel()

    async def _perform(self, outbox: asyncio.Queue[list[Any] | None]) -> None:
        while (outputs := await outbox.get()) is not None:
            await self.apply(outputs)

    def _play(self, event: events.ResponseOutputAudioDelta) -> None:
        """Decode an audio delta in the format the core counts it in, and play it."""
        key = (event.item_id, event.content_index)
        if key in self._cleared:
            return
        decoder = self._decoder(key)
        try:
            if decoder is None:
                raise ValueError("its audio format cannot be played")
            wire, resampler = decoder
            pcm = codec.decode_audio(event.delta, wire)
        except ValueError as exc:
            self.display.warn(f"skipped an audio delta of {event.item_id}: {exc}")
            return
        self.sink.play(event.item_id, event.content_index, resampler.process(pcm) if resampler else pcm)

    def _decoder(self, key: tuple[str, int]) -> tuple[codec.WireFormat, codec.Resampler | None] | None:
        # One per content part: its format (the core's), and a streaming resampler to the
        # sink's rate (no clicks at delta edges); None when the format cannot be played.
        if key not in self._decoders:
            fmt = self.session.output_format(*key)
            try:
                wire = codec.WireFormat.from_ga(None if fmt is None else events.to_dict(fmt))
            except ValueError:
                self._decoders[key] = None
            else:
                resampler = codec.Resampler(wire.rate, self.sink.rate) if wire.rate != self.sink.rate else None
                self._decoders[key] = (wire, resampler)
        return self._decoders[key]

    async def _timer_loop(self) -> None:
        # Wakes the core at its deadline (a retry to send, a request to give up on).
        while True:
            self._deadline_changed.clear()
            deadline = self.session.deadline_ms
            wait = None if deadline is None else (deadline - self.now_ms()) / 1000.0
            if wait is None or wait > 0:
                with contextlib.suppress(TimeoutError):  # asyncio.timeout, not wait_for: never swallows a cancel
                    async with asyncio.timeout(wait):
                        await self._deadline_changed.wait()
                continue
            outputs = self.session.tick(self.now_ms())
            await self.apply(outputs)
            if not outputs:  # nothing was due after all: wait for the core to change
                await self._deadline_changed.wait()

    # -- outbound ------------------------------------------------------------

    async def _microphone_loop(self) -> None:
        # What the microphone captures while the connection is down is held (the newest
        # HELD_AUDIO_MS of it) and sent, in order, once the conversation is resumed.
        held: collections.deque[Any] = collections.deque()
        held_samples, limit = 0, codec.ms_to_samples(HELD_AUDIO_MS, SESSION_RATE)
        async for chunk in self.source.chunks():
            if not self.headphones:
                self.source.muted = self.sink.is_playing  # half-duplex echo guard
            held.append(chunk)
            held_samples += len(chunk)
            while held_samples > limit and len(held) > 1:  # the newest HELD_AUDIO_MS only
                held_samples -= len(held.popleft())
            while held and self._online.is_set():
                append = events.InputAudioBufferAppend(audio=codec.pcm16_to_b64(held[0]))
                if not await self._send(events.encode(append)):
                    break  # the connection is going: keep it for the next one
                held_samples -= len(held.popleft())

    async def _text_loop(self, lines: AsyncIterator[str]) -> None:
        async for line in lines:
            text = line.strip()
            if not text:
                continue
            await self._online.wait()  # a line typed while reconnecting waits for the new connection
            await self._wait_idle()
            self._record({"type": "text.input", "text": text})
            await self.apply(self.session.send_text(text, now_ms=self.now_ms()))

    async def _wait_idle(self) -> None:
        await self._until(lambda: not self.session.busy)

    async def apply(self, outputs: list[Any]) -> None:
        """Perform the core's actions in order; show its notices."""
        deadline = self.session.deadline_ms
        if deadline != self._deadline:  # the timer wakes only when there is something new to time
            self._deadline = deadline
            self._deadline_changed.set()
        self._progress.set()
        for output in outputs:
            match output:
                case Send(event=event):
                    await self._send(events.encode(event))
                case ClearPlayback(item_id=item_id, content_index=index):
                    await self._clear_playback(item_id, index)
                case AskApproval(request=request):
                    self._spawn(self._ask_approval(self._labelled(request)))
                case ApprovalRequested(request=request):
                    self.display.show(ApprovalRequested(self._labelled(request)))
                case CallFunction(call_id=call_id, name=name, arguments=arguments):
                    self._spawn(self._call_function(call_id, name, arguments))
                case EndConversation(message=message):
                    raise ServerRefused(message)
                case TurnDone():
                    self._attempts = 0  # the connection works: a later loss starts a new series
                    self.display.show(output)
                case _:
                    self.display.show(output)

    async def _send(self, frame: bytes) -> bool:
        try:
            await self.conn.send(frame)
        except ConnectionClosed:
            return False  # the peer closed: the receive loop reports how (a normal close is no error)
        return True

    async def _clear_playback(self, item_id: str, index: int) -> None:
        played = self.sink.clear().get((item_id, index), 0)
        self._cleared.add((item_id, index))
        played_ms = played * 1000.0 / self.sink.rate
        self._record({"type": "playback.cleared", "item_id": item_id, "content_index": index, "played_ms": played_ms})
        await self.apply(self.session.playback_cleared(item_id, index, played_ms, now_ms=self.now_ms()))

    async def _ask_approval(self, request: Any) -> None:
        asked_on = self._connection
        try:
            if self.approver is None:
                raise TimeoutError
            answer: tuple[bool, str | None] | None = await self.approver(request, self.approval_timeout)
        except TimeoutError:
            answer = None
        if self._lapsed(asked_on, request.id, self.session.pending_approvals, "approval request"):
            return
        line = {"type": "approval.answer", "approval_request_id": request.id}
        if answer is None:
            # Nobody answered in time: the core denies it as answered by "timeout"; the line
            # keeps approve/reason so readers that predate "by" still see a denial.
            self._record(line | {"approve": False, "reason": TIMEOUT_REASON, "by": "timeout"})
            await self.apply(self.session.approval_timed_out(request.id, now_ms=self.now_ms()))
        else:
            approve, reason = answer
            self._record(line | {"approve": approve, "reason": reason})
            await self.apply(self.session.answer_approval(request.id, approve, reason, now_ms=self.now_ms()))

    async def change_tools(self, session_config: Any, tools: dict[str, Tool], policy: ToolPolicy) -> None:
        """The function tools changed (a local MCP server's list did): run these from now
        on, decide calls by ``policy``, and tell the server with a ``session.update``
        (before :meth:`run`, whose first ``session.update`` is ``session_config``, only the first two)."""
        self.tools = dict(tools)
        self._record({"type": "tools.changed", "function_tools": sorted(tools), "policy": policy.to_dict()})
        now_ms = self.now_ms()
        outputs = self.session.set_tools(tools, policy, now_ms)
        if self._failed is not None:  # run() has started
            outputs += self.session.send(events.SessionUpdate(session=session_config), now_ms)
        await self.apply(outputs)

    async def _call_function(self, call_id: str, name: str, arguments: str) -> None:
        called_on = self._connection
        tool = self.tools.get(name)
        if tool is not None and tool.server_label is not None:
            self._record({"type": "tool.call", "call_id": call_id, "name": name, "server_label": tool.server_label,
                          "tool": tool.server_tool, "arguments": arguments})
        if tool is None:  # its server's tool list changed while the call waited for a person
            output, is_error = json.dumps({"error": f"function tool {name!r} is no longer available"}), True
        else:
            output, is_error = await tool.run(arguments)
        if self._lapsed(called_on, call_id, self.session.pending_calls, "function call"):
            return
        self._record({"type": "function.result", "call_id": call_id, "output": output, "is_error": is_error})
        await self.apply(self.session.function_result(call_id, output, is_error=is_error, now_ms=self.now_ms()))

    def _labelled(self, request: Any) -> Any:
        # A question about a local MCP server's tool names the server, as an MCP request does.
        tool = self.tools.get(request.name) if isinstance(request, FunctionApproval) else None
        if tool is None or tool.server_label is None:
            return request
        return dataclasses.replace(request, server_label=tool.server_label)

    def _lapsed(self, asked_on: int, key: str, pending: Any, what: str) -> bool:
        # An answer to a question of a connection that was lost since: it can no longer be sent,
        # not even to a question of the new connection that happens to have the same id.
        lapsed = asked_on != self._connection or key not in pending
        if lapsed:
            self.display.warn(f"the {what} {key} lapsed with its connection; its answer was not sent")
        return lapsed

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        self._progress.set()
        self._report_failure(task)

    def _report_failure(self, task: asyncio.Task) -> None:
        # An action, approval or function result that failed would leave the model
        # waiting forever: the failure ends the conversation instead (run() raises it).
        if task.cancelled() or task.exception() is None:
            return
        if self._failed is None or self._failed.done():
            self.display.warn(f"a background step failed: {task.exception()!r}")
        else:
            self._failed.set_exception(task.exception())

    def _record(self, event: dict[str, Any]) -> None:
        if self.recorder is not None:
            self.recorder.local(event)


async def run_tool(function: Callable[..., Any], arguments: str) -> tuple[str, bool]:
    """Call a function tool with its JSON ``arguments``; return (output, is_error).

    Sync callables run in a worker thread; a raised exception becomes an error
    output ``{"error": "..."}`` rather than a crash. A result that is not a
    string is sent as JSON.
    """
    try:
        kwargs = json.loads(arguments) if arguments.strip() else {}
        if not isinstance(kwargs, dict):
            raise TypeError(f"arguments must be a JSON object, got {type(kwargs).__name__}")
        if inspect.iscoroutinefunction(function):
            result = await function(**kwargs)
        else:
            result = await asyncio.to_thread(function, **kwargs)
    except Exception as exc:  # a tool's failure is reported to the model, not raised
        return json.dumps({"error": f"{type(exc).__name__}: {exc}"}), True
    return (result if isinstance(result, str) else json.dumps(result, default=str)), False


@contextlib.asynccontextmanager
async def recording(path: str | None, **header: Any) -> AsyncIterator[Any]:
    """Open a transcript writer for ``path`` (or yield None)."""
    if path is None:
        yield None
        return
    from .transcript import TranscriptWriter

    writer = TranscriptWriter.open(path, **header)
    try:
        yield writer
    finally:
        writer.close()
