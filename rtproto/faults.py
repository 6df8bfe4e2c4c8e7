"""A Realtime server that misbehaves on purpose, to test how a client survives.

:class:`FaultServer` is a :class:`~rtproto.server.RealtimeServer`: it plays a
transcript or a :class:`~rtproto.testing.ScriptBuilder` script, so the client
meets the real protocol (``session.created``, responses, audio deltas), and it
adds faults, each fired at most once per connection when its trigger comes::

    from rtproto.testing import Fault, after_client, after_server, serve_with_faults

    faults = [
        [Fault.close(1011, "boom", when=after_server("response.created"))],  # the first connection
        [Fault.rate_limited(1.5, when=after_client("response.create"))],     # the second one
    ]                                                                         # later ones: none
    async with serve_with_faults(script, faults_per_connection=faults, speed="max") as server:
        await my_app(url=server.url)
        assert [f.kind for f in server.connections[0].fired] == ["close"]

Triggers (``when=``): :data:`ON_OPEN` (the default: right after the
handshake, before the first recorded event), :func:`after_server` (after the
server has sent its ``count``-th recorded frame of a ``type``, e.g. between two
``response.output_audio.delta``: mid-response) and :func:`after_client` (after
the client's ``count``-th frame of a ``type``; no type counts every frame,
appends included). A fault's own frames are not counted. Faults due at the
same moment fire in the order given; refusals (:meth:`Fault.refuse`,
:meth:`Fault.stall_handshake`) act at the handshake.

Connections: ``faults`` applies to every connection, ``faults_per_connection[i]``
to connection ``i`` (a reconnecting client meets them in turn; connections past
the list get none). A connection is each handshake that reaches the Realtime
path with the right key, refused or not; :attr:`FaultServer.connections`
records them (:class:`FaultedConnection`: the faults that fired, the
:class:`~rtproto.server.ServedSession` of an accepted one).

Bounds: every size and count is a parameter with a ceiling (a huge frame at
most :data:`MAX_FRAME_BYTES`, at most :data:`MAX_PIECES` pieces); nothing is
sent in a loop. The server sends no keepalive pings of its own (a silent
connection stays silent), and closing it (leaving ``serve_with_faults``) drops
the connections it holds silent or unread, and answers stalled handshakes with
503, so it stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from rtproto.server import (
    MAX_REASON_BYTES, RealtimeServer, SendStep, ServedSession, decode_client_frame, sendable_close_code,
)
from rtproto.transcript import Transcript

__all__ = [
    "MAX_FRAME_BYTES",
    "MAX_PIECES",
    "ON_OPEN",
    "Fault",
    "FaultServer",
    "FaultedConnection",
    "Trigger",
    "after_client",
    "after_server",
]

log = logging.getLogger("rtproto.faults")

#: The largest frame a fault may send (bytes).
MAX_FRAME_BYTES = 1 << 30
#: The most pieces :meth:`Fault.fragmented` cuts a frame into.
MAX_PIECES = 64
_ERROR_EVENT_ID = "event_fault_error"
EXPIRED = "Your session hit the maximum duration of 60 minutes."

# ---------------------------------------------------------------------------
# Triggers


@dataclass(frozen=True)
class Trigger:
    """When a fault fires: at ``"handshake"``, ``"open"``, or after the ``count``-th ``type`` frame of a side."""

    side: Literal["handshake", "open", "server", "client"]
    type: str | None = None
    count: int = 1

    def __post_init__(self) -> None:
        if self.side not in ("handshake", "open", "server", "client"):
            raise ValueError(f"side must be handshake, open, server or client, got {self.side!r}")
        if type(self.count) is not int or self.count < 1:
            raise ValueError(f"count must be a positive int, got {self.count!r}")

    def __str__(self) -> str:
        if self.side in ("handshake", "open"):
            return f"at {self.side}"
        return f"after {self.side} frame #{self.count}{f' of type {self.type}' if self.type else ''}"


ON_OPEN = Trigger("open")
_HANDSHAKE = Trigger("handshake")


def after_server(type: str | None = None, count: int = 1) -> Trigger:
    """After the server has sent its ``count``-th recorded frame of ``type`` (any type if ``None``)."""
    return Trigger("server", type, count)


def after_client(type: str | None = None, count: int = 1) -> Trigger:
    """After the client's ``count``-th frame of ``type`` (any frame, appends included, if ``None``)."""
    return Trigger("client", type, count)


# ---------------------------------------------------------------------------
# Faults


@dataclass(frozen=True)
class Fault:
    """One misbehaviour: ``kind`` names it, ``args`` are its parameters. Build faults with the class methods."""

    kind: str
    args: tuple[Any, ...] = ()
    when: Trigger = ON_OPEN

    # -- at the handshake --------------------------------------------------------

    @classmethod
    def refuse(cls, status: int, body: str = "", *, headers: Mapping[str, str] | None = None) -> Fault:
        """Answer the handshake with HTTP ``status`` (401, 403, 429, 500, ...) and ``body`` instead of 101."""
        if type(status) is not int or not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status!r}")
        return cls("refuse", (status, body, tuple((headers or {}).items())), _HANDSHAKE)

    @classmethod
    def stall_handshake(cls) -> Fault:
        """Accept TCP and read the handshake request, then never answer it (503 when the server stops)."""
        return cls("stall_handshake", (), _HANDSHAKE)

    # -- the connection ---------------------------------------------------------

    @classmethod
    def close(cls, code: int = 1011, reason: str = "", *, when: Trigger = ON_OPEN) -> Fault:
        """Close with ``code`` and ``reason`` (use :meth:`abort` for 1006)."""
        if type(code) is not int or code in (1005, 1006) or not sendable_close_code(code):
            raise ValueError(f"cannot send close code {code!r}; Fault.abort() drops the connection (1006)")
        if len(reason.encode()) > MAX_REASON_BYTES:
            raise ValueError(f"a close reason holds at most {MAX_REASON_BYTES} UTF-8 bytes")
        return cls("close", (code, reason), when)

    @classmethod
    def abort(cls, *, when: Trigger = ON_OPEN) -> Fault:
        """Drop TCP without a close frame: the client sees 1006."""
        return cls("abort", (), when)

    @classmethod
    def silence(cls, *, when: Trigger = ON_OPEN) -> Fault:
        """Go silent both ways with TCP kept open: nothing read, nothing sent, no pong for the client's pings."""
        return cls("silence", (), when)

    @classmethod
    def stop_reading(cls, *, when: Trigger = ON_OPEN) -> Fault:
        """Stop reading the socket (a slow consumer) but go on sending; the client's sends back up.

        The client's pings go unanswered too, so its keepalive may end the
        connection; :meth:`FaultedConnection.resume_reading` ends the fault.
        """
        return cls("stop_reading", (), when)

    # -- hostile frames -------------------------------------------------------------

    @classmethod
    def send(cls, frame: Mapping[str, Any] | str | bytes, *, when: Trigger = ON_OPEN) -> Fault:
        """Send one text frame: an event (a mapping) or any text, malformed JSON included."""
        data = orjson.dumps(dict(frame)) if isinstance(frame, Mapping) else _utf8(frame)
        return cls("send", (_bounded(data),), when)

    @classmethod
    def invalid_utf8(cls, *, when: Trigger = ON_OPEN) -> Fault:
        """Send a text frame that is not UTF-8 (RFC 6455: the client must fail the connection with 1007)."""
        return cls("invalid_utf8", (b'{"type":"response.output_text.delta","delta":"\xff\xfe"}',), when)

    @classmethod
    def huge_frame(cls, size: int = 32 << 20, *, when: Trigger = ON_OPEN) -> Fault:
        """Send one text frame of ``size`` bytes (32 MiB by default): an audio delta of that size."""
        if type(size) is not int or not 64 <= size <= MAX_FRAME_BYTES:
            raise ValueError(f"size must be an int from 64 to {MAX_FRAME_BYTES} bytes, got {size!r}")
        return cls("huge_frame", (size,), when)

    @classmethod
    def binary(cls, data: bytes = bytes(960), *, when: Trigger = ON_OPEN) -> Fault:
        """Send a binary frame (the Realtime API sends only text): 20 ms of silent PCM16 by default."""
        return cls("binary", (_bounded(bytes(data)),), when)

    @classmethod
    def fragmented(cls, pieces: int = 4, *, when: Trigger = ON_OPEN) -> Fault:
        """Send the next recorded server frame as a fragmented message of ``pieces`` frames, a ping between each two."""
        if type(pieces) is not int or not 2 <= pieces <= MAX_PIECES:
            raise ValueError(f"pieces must be an int from 2 to {MAX_PIECES}, got {pieces!r}")
        return cls("fragmented", (pieces,), when)

    # -- the real server's error events ------------------------------------------------

    @classmethod
    def error(
        cls,
        code: str | None,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        event_id: str | None = _ERROR_EVENT_ID,
        client_event_id: str | None = None,
        when: Trigger = ON_OPEN,
    ) -> Fault:
        """Send an ``error`` event; ``event_id=None`` sends ``"event_id": null`` as the real server has done."""
        error = {"type": type, "code": code, "message": message, "param": param, "event_id": client_event_id}
        return cls("error", (orjson.dumps({"type": "error", "event_id": event_id, "error": error}),), when)

    @classmethod
    def active_response(cls, response_id: str = "resp_fault", *, when: Trigger = ON_OPEN) -> Fault:
        """``conversation_already_has_active_response``: a ``response.create`` while one runs."""
        message = (f"Conversation already has an active response in progress: {response_id}. "
                   "Wait until the response is finished before creating a new one.")
        return cls.error("conversation_already_has_active_response", message, when=when)

    @classmethod
    def rate_limited(cls, retry_after: float = 1.5, *, when: Trigger = ON_OPEN) -> Fault:
        """``rate_limit_exceeded`` whose message says "Please try again in 1.5s."."""
        message = ("Rate limit reached for gpt-realtime on requests per min (RPM): Limit 100, Used 100, "
                   f"Requested 1. Please try again in {retry_after:g}s.")
        return cls.error("rate_limit_exceeded", message, type="requests", when=when)

    @classmethod
    def insufficient_quota(cls, *, when: Trigger = ON_OPEN) -> Fault:
        """``insufficient_quota``: no later request can succeed."""
        message = "You exceeded your current quota, please check your plan and billing details."
        return cls.error("insufficient_quota", message, type="insufficient_quota", when=when)

    @classmethod
    def session_expired(cls, *, when: Trigger = ON_OPEN) -> Fault:
        """``session_expired``, then close 1001 "Your session hit the maximum duration of 60 minutes."."""
        expired = cls.error("session_expired", EXPIRED, when=when)
        return cls("session_expired", expired.args, when)


def _utf8(frame: str | bytes) -> bytes:
    return frame.encode() if isinstance(frame, str) else bytes(frame)


def _bounded(data: bytes) -> bytes:
    if len(data) > MAX_FRAME_BYTES:
        raise ValueError(f"a fault's frame holds at most {MAX_FRAME_BYTES} bytes")
    return data


def _huge_text(size: int) -> bytes:
    head, tail = b'{"type":"response.output_audio.delta","delta":"', b'"}'
    return head + b"A" * (size - len(head) - len(tail)) + tail


# ---------------------------------------------------------------------------
# One connection


class FaultedConnection:
    """One connection attempt: its faults, those that fired (in order), and its session once accepted."""

    def __init__(self, index: int, faults: Sequence[Fault]):
        self.index = index
        self.faults = tuple(faults)
        self.fired: list[Fault] = []
        self.session: ServedSession | None = None  # None while the handshake runs, or when it was refused
        self._pending = [f for f in self.faults if f.when.side != "handshake"]
        self._counts: Counter[tuple[str, str | None]] = Counter()
        self._ws: ServerConnection | None = None
        self._silent = False
        self._reading_stopped = False
        self._released = asyncio.Event()
        self._pieces = 0  # the next recorded frame goes out in this many pieces

    def resume_reading(self) -> None:
        """End a :meth:`Fault.stop_reading`: the server reads the client's frames again."""
        self._reading_stopped = False
        if self._ws is not None and not self._silent:
            self._ws.transport.resume_reading()
        self._released.set()

    @property
    def held(self) -> bool:
        """True while the server neither reads nor (when silent) writes this connection."""
        return self._silent or self._reading_stopped

    def due(self, side: str, kind: str | None) -> list[Fault]:
        """Count one frame (or the opening) of ``side`` and return the faults whose trigger it meets."""
        self._counts[side, None] += 1
        if kind is not None:
            self._counts[side, kind] += 1
        due = [f for f in self._pending if f.when.side == side and self._counts[side, f.when.type] >= f.when.count]
        for fault in due:
            self._pending.remove(fault)
        return due

    async def _until_released(self, ws: ServerConnection) -> None:
        # While held: wait for resume_reading() or for the connection to end.
        closed = asyncio.ensure_future(ws.wait_closed())
        try:
            while self.held and not closed.done():
                released = asyncio.ensure_future(self._released.wait())
                await asyncio.wait({closed, released}, return_when=asyncio.FIRST_COMPLETED)
                released.cancel()
                self._released.clear()
        finally:
            closed.cancel()

    def _drop_if_held(self) -> None:
        if self.held and self._ws is not None:
            self._ws.transport.abort()


# ---------------------------------------------------------------------------
# What each fault does (handshake faults are judged in FaultServer._check_request)

Action = Callable[[FaultedConnection, ServerConnection, Fault], Awaitable[None]]


async def _close(conn: FaultedConnection, ws: ServerConnection, fault: Fault) -> None:
    await ws.close(*fault.args)


async def _abort(conn: FaultedConnection, ws: ServerConnection, fault: Fault) -> None:
    ws.transport.abort()


async def _silence(conn: FaultedConnection, ws: ServerConnection, fault: Fault) -> None:
    ws.transport.pause_reading()
    conn._silent = True


async def _stop_reading(conn: FaultedConnection, ws: ServerConnection, fault: Fault) -> None:
    ws.transport.pause_reading()
    conn._reading_stopped = True


async def _send_text(conn: FaultedConnection, ws: ServerConnection, fault: Fault) -> None:
    await ws.send(fault.args[0], text=True)


async def _send_huge(conn: FaultedConnection, ws: ServerConnection, fault: Fault) -> None:
    await ws.send(_huge_text(fault.args[0]), text=True)


async def _send_binary(conn: FaultedConnection, ws: ServerConnection, fault: Fault) -> None:
    await ws.send(fault.args[0], text=False)


async def _fragment_next(conn: FaultedConnection, ws: ServerConnection, fault: Fault) -> None:
    conn._pieces = fault.args[0]


async def _expire(conn: FaultedConnection, ws: ServerConnection, fault: Fault) -> None:
    await ws.send(fault.args[0], text=True)
    await ws.close(1001, EXPIRED)


_ACTIONS: dict[str, Action] = {
    "close": _close,
    "abort": _abort,
    "silence": _silence,
    "stop_reading": _stop_reading,
    "send": _send_text,
    "invalid_utf8": _send_text,
    "error": _send_text,
    "huge_frame": _send_huge,
    "binary": _send_binary,
    "fragmented": _fragment_next,
    "session_expired": _expire,
}


async def _send_in_pieces(ws: ServerConnection, text: str, pieces: int) -> None:
    """One text message as ``pieces`` frames (cut anywhere, even inside a character), a ping between each two."""
    data = text.encode()
    step = max(1, -(-len(data) // pieces))

    async def fragments():
        for n, start in enumerate(range(0, len(data), step)):
            if n:
                await ws.ping(f"fault-{n}")  # the pong is not awaited
            yield data[start : start + step]

    await ws.send(fragments(), text=True)


# ---------------------------------------------------------------------------
# The server


class FaultServer(RealtimeServer):
    """A :class:`~rtproto.server.RealtimeServer` that fires :class:`Fault` s (see the module docstring).

    ``faults`` apply to every connection; ``faults_per_connection[i]`` to
    connection ``i`` only (give one or the other). Other options are
    :class:`~rtproto.server.RealtimeServer`'s (``speed="max"`` plays at once).
    """

    def __init__(
        self,
        transcript: Transcript | str | os.PathLike[str],
        *,
        faults: Sequence[Fault] = (),
        faults_per_connection: Sequence[Sequence[Fault]] | None = None,
        **options: Any,
    ):
        if faults and faults_per_connection is not None:
            raise ValueError("give faults (every connection) or faults_per_connection, not both")
        for fault in [*faults, *(f for group in faults_per_connection or () for f in group)]:
            if not isinstance(fault, Fault):
                raise TypeError(f"faults must be Fault objects (Fault.close(...), ...), got {fault!r}")
        super().__init__(transcript, **options)
        self._every = tuple(faults)
        self._per_connection = None if faults_per_connection is None else [tuple(g) for g in faults_per_connection]
        self._connections: list[FaultedConnection] = []
        self._by_ws: dict[ServerConnection, FaultedConnection] = {}
        self._stopping = asyncio.Event()

    @property
    def connections(self) -> list[FaultedConnection]:
        """One record per connection attempt (refused ones included), in order."""
        return self._connections

    async def close(self) -> None:
        """Stop: answer stalled handshakes, drop held connections, then close as the base server does."""
        self._stopping.set()
        for conn in self._connections:
            conn._drop_if_held()
        await super().close()

    def _faults_for(self, index: int) -> tuple[Fault, ...]:
        if self._per_connection is None:
            return self._every
        return self._per_connection[index] if index < len(self._per_connection) else ()

    # -- hooks of RealtimeServer ---------------------------------------------------

    def _serve_options(self) -> dict[str, Any]:
        # No pings from the server (a silent connection stays silent) and no
        # server-side deadline for a stalled handshake: the client's timeouts decide.
        return {"ping_interval": None, "open_timeout": None}

    async def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        refused = super()._check_request(connection, request)
        if refused is not None:
            return refused
        conn = FaultedConnection(len(self._connections), self._faults_for(len(self._connections)))
        self._connections.append(conn)
        for fault in conn.faults:
            if fault.kind == "refuse":
                conn.fired.append(fault)
                return _refusal(connection, *fault.args)
            if fault.kind == "stall_handshake":
                conn.fired.append(fault)
                await self._stopping.wait()
                return connection.respond(503, "the server is shutting down\n")
        self._by_ws[connection] = conn
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            await super()._handle(ws)
        finally:
            self._by_ws.pop(ws, None)

    async def _opened(self, ws: ServerConnection, session: ServedSession) -> None:
        conn = self._by_ws[ws]
        conn.session, conn._ws = session, ws
        await self._fire(conn, ws, conn.due("open", None))

    async def _send_step(self, ws: ServerConnection, session: ServedSession, step: SendStep) -> None:
        conn = self._by_ws[ws]
        if conn._silent:
            await ws.wait_closed()  # then the send below raises ConnectionClosed: the player stops
        if conn._pieces:
            pieces, conn._pieces = conn._pieces, 0
            await _send_in_pieces(ws, step.text, pieces)
            session.sent.append(step.event)
        else:
            await super()._send_step(ws, session, step)
        await self._fire(conn, ws, conn.due("server", step.event.get("type")))

    async def _client_frame(self, ws: ServerConnection, session: ServedSession, message: str | bytes) -> None:
        conn = self._by_ws[ws]
        if conn.held:
            await conn._until_released(ws)
            if conn.held:  # the connection ended while held
                return
        event = decode_client_frame(message)
        kind = event.get("type") if event is not None else None
        await self._fire(conn, ws, conn.due("client", kind if isinstance(kind, str) else None))

    async def _fire(self, conn: FaultedConnection, ws: ServerConnection, faults: list[Fault]) -> None:
        for fault in faults:
            conn.fired.append(fault)
            log.info("connection %d: %s fault %s", conn.index, fault.kind, fault.when)
            with contextlib.suppress(ConnectionClosed):  # the client left first: nothing more to do
                await _ACTIONS[fault.kind](conn, ws, fault)


def _refusal(connection: ServerConnection, status: int, body: str, headers: tuple[tuple[str, str], ...]) -> Response:
    response = connection.respond(status, body)
    for name, value in headers:
        response.headers[name] = value
    return response
