"""A local Realtime-protocol server that plays the server side of a transcript.

Theory of operation
-------------------

:func:`plan_replay` turns a transcript into a list of steps (pure, no I/O):

* each recorded server event becomes a *send* step, paced by the gap between
  its ``t`` and the ``t`` of the step before it;
* each recorded client event becomes an *expect* step, except
  ``input_audio_buffer.append`` (a client may append audio at any time, so
  appends are never expected and never a departure) and raw (non-JSON) frames;
* a local ``connection.closed`` line closed by the server becomes a *close*
  step with the recorded code and reason (code 1006 drops the TCP connection
  without a close frame, 1005 or ``null`` sends a close frame without a status);
  nothing after it is played. Other local lines are ignored.

Each websocket connection gets a fresh :class:`ServedSession` and two tasks:
the *player* walks the steps, waiting at an expect step until the client has
sent that event, and sleeping ``gap / speed`` before a send or close step,
counted from the moment the step became due; the *listener* reads client
frames and matches each against the next expected client event by ``type``.
A frame that does not match (another type, nothing more expected, invalid
JSON, no string ``type``) is a :class:`Departure`: it is logged (types only,
never contents) and kept; it does not advance the expectations. With
``strict=True`` the server closes the connection with 1008 naming it.

After the last step the connection stays open until the client closes it,
or closes with 1000 when ``close_when_done=True``.

A server built on this one (:mod:`rtproto.faults`) hooks in at four private
methods that do nothing extra here: ``_serve_options``, ``_opened``,
``_send_step`` and ``_client_frame``.

Client frames are bounded: one longer than ``max_frame`` bytes (16 MiB by
default) closes the connection with 1009 (message too big) as soon as its
header announces the length, without buffering it.

The handshake answers 404 outside ``/v1/realtime`` (and
``/v1/realtime/translations``), any query string accepted, and 401 when an
``api_key`` is set and not presented as ``Authorization: Bearer <key>``.
The websockets library's own log records go to the ``rtproto.server.websockets``
logger, with credential-like header values redacted.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from rtproto.errors import TranscriptError
from rtproto.redact import REDACTED, redact_text
from rtproto.transcript import CONNECTION_CLOSED, RAW_FRAME_TYPE, Transcript, read_transcript, unreadable

__all__ = [
    "DEFAULT_MAX_FRAME",
    "REALTIME_PATHS",
    "Departure",
    "RealtimeServer",
    "ReplayPlan",
    "ServedSession",
    "cli_serve",
    "plan_replay",
    "run_server",
]

log = logging.getLogger("rtproto.server")
_SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie", "password", "signature")


class _RedactingFilter(logging.Filter):
    # websockets logs every handshake header at DEBUG; this keeps header values
    # that may be credentials (and secret-looking text anywhere) out of the logs.

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            if record.msg in ("< %s: %s", "> %s: %s") and len(args) == 2 and _secret_header(args[0]):
                args = (args[0], REDACTED)
            record.args = tuple(_redact_wire(a) if isinstance(a, str) else a for a in args)
        if record.exc_info and record.levelno > logging.DEBUG:
            # A peer's bad request ("opening handshake failed") is one line, never a traceback.
            exc = record.exc_info[1]
            cause = exc.__cause__ or exc if exc is not None else None
            record.msg = f"{record.getMessage()}: {type(cause).__name__}: {cause}" if cause else record.msg
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


# A browser's API key travels as a subprotocol (Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.KEY).
KEY_SUBPROTOCOL = "openai-insecure-api-key."
_KEY_SUBPROTOCOL = re.compile(rf"({re.escape(KEY_SUBPROTOCOL)})[^,\s]+")


def _redact_wire(text: str) -> str:
    return redact_text(_KEY_SUBPROTOCOL.sub(rf"\g<1>{REDACTED}", text))


def _secret_header(name: object) -> bool:
    lowered = str(name).lower()
    return any(word in lowered for word in _SECRET_HEADER_WORDS)


wire_log = logging.getLogger("rtproto.server.websockets")
wire_log.addFilter(_RedactingFilter())

REALTIME_PATHS = ("/v1/realtime", "/v1/realtime/translations")
APPEND = "input_audio_buffer.append"
POLICY_VIOLATION = 1008
NO_STATUS_RCVD = 1005
ABNORMAL_CLOSURE = 1006
#: The longest client frame a server accepts by default (bytes); longer ones close with 1009.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 of them the code

# ---------------------------------------------------------------------------
# The plan (pure)


@dataclass(frozen=True)
class SendStep:
    """Send one recorded server frame (``text`` is what goes on the wire)."""

    event: dict[str, Any]
    text: str
    delay_ms: float


@dataclass(frozen=True)
class ExpectStep:
    """Wait until the client has sent expected client event number ``index``."""

    index: int
    type: str


@dataclass(frozen=True)
class CloseStep:
    """Close the connection as recorded."""

    code: int | None
    reason: str
    delay_ms: float


Step = SendStep | ExpectStep | CloseStep


@dataclass(frozen=True)
class ReplayPlan:
    """The steps a server plays and the client event types it expects, in order."""

    steps: tuple[Step, ...]
    expected: tuple[str, ...]


def plan_replay(transcript: Transcript) -> ReplayPlan:
    """Compile a transcript into the server's replay plan (see the module docstring)."""
    steps: list[Step] = []
    expected: list[str] = []
    previous_t = 0.0
    for line in transcript.lines:
        step = _step_for(line.dir, line.event, max(0.0, line.t - previous_t), len(expected))
        if step is None:
            continue
        if isinstance(step, CloseStep) and not sendable_close_code(step.code):
            raise TranscriptError(f"cannot replay close code {step.code!r}", line=line.lineno, path=transcript.path)
        steps.append(step)
        previous_t = line.t
        if isinstance(step, ExpectStep):
            expected.append(step.type)
        if isinstance(step, CloseStep):
            break
    return ReplayPlan(tuple(steps), tuple(expected))


def _step_for(direction: str, event: dict[str, Any], delay_ms: float, expect_index: int) -> Step | None:
    kind = event["type"]
    if direction == "server":
        text = event["raw"] if kind == RAW_FRAME_TYPE else orjson.dumps(event).decode()
        return SendStep(event, text, delay_ms)
    if direction == "client":
        return None if kind in (APPEND, RAW_FRAME_TYPE) else ExpectStep(expect_index, kind)
    if kind == CONNECTION_CLOSED and event.get("by", "server") == "server":
        return CloseStep(event.get("code"), str(event.get("reason") or ""), delay_ms)
    return None


def port_number(text: str) -> int:
    """An argparse type: a TCP port to bind, 0 (any free one) to 65535."""
    import argparse

    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 (any free one) to 65535, got {port}")
    return port


def sendable_close_code(code: object) -> bool:
    """True for a close code a server may send (RFC 6455 section 7.4); 1006 is replayed by dropping
    the connection, 1005 and None by an empty close frame."""
    if code in (None, NO_STATUS_RCVD, ABNORMAL_CLOSURE):
        return True
    return type(code) is int and (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999)


@dataclass(frozen=True)
class Departure:
    """A client frame that departs from the recording.

    ``index`` is the position (0-based, appends not counted) of the client
    event the recording expected next; ``expected_type`` is ``None`` when the
    recording expected nothing more; ``got_type`` is ``None`` when the frame was
    not a JSON object with a string ``type`` (``event`` is then
    ``{"type": "rtproto.raw_frame", "raw": <text>}`` or the typeless object).
    """

    index: int
    expected_type: str | None
    got_type: str | None
    event: dict[str, Any]

    def __str__(self) -> str:
        expected = self.expected_type or "no more client events"
        got = self.got_type or "a frame without a JSON type"
        return f"departure at client event {self.index}: expected {expected}, got {got}"


def decode_client_frame(message: str | bytes) -> dict[str, Any] | None:
    """A client frame's JSON object, or None when it is not one."""
    try:
        event = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def _raw_frame(message: str | bytes) -> dict[str, Any]:
    text = message if isinstance(message, str) else message.decode("utf-8", "backslashreplace")
    return {"type": RAW_FRAME_TYPE, "raw": text}


# ---------------------------------------------------------------------------
# One connection


@dataclass
class ServedSession:
    """What happened on one connection: frames received and sent, departures, close."""

    path: str
    expected: tuple[str, ...]
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    departures: list[Departure] = field(default_factory=list)
    completed: bool = False
    close_code: int | None = None
    close_reason: str | None = None
    _cursor: int = field(default=0, init=False, repr=False)
    _matched: list[asyncio.Event] = field(default_factory=list, init=False, repr=False)
    _done: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        self._matched = [asyncio.Event() for _ in self.expected]

    @property
    def done(self) -> bool:
        """True once the connection has ended."""
        return self._done.is_set()

    async def wait_done(self) -> ServedSession:
        """Wait until the connection has ended; returns ``self``."""
        await self._done.wait()
        return self

    def receive(self, message: str | bytes) -> Departure | None:
        """Match one client frame against the recording; returns the departure, if any."""
        event = decode_client_frame(message)
        if event is None:
            event, kind = _raw_frame(message), None
        else:
            self.received.append(event)
            kind = event["type"] if isinstance(event.get("type"), str) else None
        if kind == APPEND:
            return None
        cursor = self._cursor
        wanted = self.expected[cursor] if cursor < len(self.expected) else None
        if kind is not None and kind == wanted:
            self._matched[cursor].set()
            self._cursor += 1
            return None
        departure = Departure(cursor, wanted, kind, event)
        self.departures.append(departure)
        return departure


# ---------------------------------------------------------------------------
# The server


def _parse_speed(speed: float | str | None) -> float | None:
    # None means "max": no waiting at all.
    if speed is None or speed == "max":
        return None
    try:
        value = float(speed)
    except (TypeError, ValueError):
        raise ValueError(f"speed must be 'max' or a positive number, got {speed!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"speed must be 'max' or a positive number, got {speed!r}")
    return value


def _clip_reason(reason: str) -> str:
    data = reason.encode()
    if len(data) <= MAX_REASON_BYTES:
        return reason
    return data[: MAX_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


def _bearer_matches(values: Sequence[str], api_key: str) -> bool:
    expected = f"Bearer {api_key}".encode()
    return len(values) == 1 and hmac.compare_digest(values[0].encode(), expected)


class Listening:
    """A websockets server on ``host``: started as an async context manager, closed with
    1001 for the connections still open; ``port`` is the bound one (useful with ``port=0``)."""

    host: str
    _server: Server | None = None

    async def start(self) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        """Stop listening and close open connections (with 1001)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> Any:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError(f"the {type(self).__name__} is not started")
        return next(iter(self._server.sockets)).getsockname()[1]


class RealtimeServer(Listening):
    """A websocket server at ``ws://HOST:PORT/v1/realtime`` replaying a transcript.

    ``transcript`` is a :class:`~rtproto.transcript.Transcript` or a path to
    one. ``speed`` is ``1.0`` (recorded pacing), another factor (``2.0`` plays
    twice as fast) or ``"max"`` / ``None`` (no waiting). ``strict`` closes a connection
    with 1008 at the first departure. ``api_key``, when set, makes the
    handshake answer 401 unless ``Authorization: Bearer <api_key>`` is sent.
    ``close_when_done`` closes with 1000 after the last recorded step.
    ``max_frame`` bounds a client frame (bytes, default :data:`DEFAULT_MAX_FRAME`):
    a longer one closes the connection with 1009 without being buffered.
    Each connection replays from the start; :attr:`sessions` records them.
    """

    def __init__(
        self,
        transcript: Transcript | str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float | str | None = 1.0,
        strict: bool = False,
        api_key: str | None = None,
        close_when_done: bool = False,
        max_frame: int = DEFAULT_MAX_FRAME,
    ):
        if not max_frame > 0:
            raise ValueError(f"max_frame must be a positive number of bytes, got {max_frame!r}")
        if not isinstance(transcript, Transcript):
            transcript = read_transcript(transcript)
        self.transcript = transcript
        self.plan = plan_replay(transcript)
        self.host = host
        self.speed = _parse_speed(speed)
        self.strict = strict
        self.close_when_done = close_when_done
        self.max_frame = max_frame
        self._requested_port = port
        self._api_key = api_key
        self._server: Server | None = None
        self._sessions: list[ServedSession] = []
        self._new_session = asyncio.Condition()

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> RealtimeServer:
        """Start listening; returns ``self``."""
        self._server = await serve(
            self._handle,
            self.host,
            self._requested_port,
            process_request=self._check_request,
            max_size=self.max_frame,
            compression=None,
            logger=wire_log,
            **self._serve_options(),
        )
        return self

    # -- what callers read -------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://HOST:PORT/v1/realtime`` (``/v1/realtime/translations`` for a translation transcript)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        path = REALTIME_PATHS[1] if self.transcript.api == "translation" else REALTIME_PATHS[0]
        return f"ws://{host}:{self.port}{path}"

    @property
    def sessions(self) -> list[ServedSession]:
        """One record per connection, in connection order."""
        return self._sessions

    @property
    def departures(self) -> list[Departure]:
        """Departures of all connections, in order."""
        return [d for session in self._sessions for d in session.departures]

    @property
    def received(self) -> list[dict[str, Any]]:
        """Client events of all connections, in order (appends included; invalid JSON left out)."""
        return [event for session in self._sessions for event in session.received]

    async def wait_session_done(self, index: int = 0) -> ServedSession:
        """Wait until connection number ``index`` (0 = the first) has been made and has ended."""
        async with self._new_session:
            await self._new_session.wait_for(lambda: len(self._sessions) > index)
        return await self._sessions[index].wait_done()

    # -- I/O -----------------------------------------------------------------

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path not in REALTIME_PATHS:
            return connection.respond(HTTPStatus.NOT_FOUND, f"no Realtime endpoint at {path}\n")
        if self._api_key is not None:
            if not _bearer_matches(request.headers.get_all("Authorization"), self._api_key):
                return connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong API key\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        session = ServedSession(ws.request.path if ws.request else "", self.plan.expected)
        async with self._new_session:
            self._sessions.append(session)
            self._new_session.notify_all()
        log.info("session %d: client connected", len(self._sessions) - 1)
        await self._opened(ws, session)
        player = asyncio.create_task(self._play(ws, session))
        try:
            await self._listen(ws, session)
        finally:
            player.cancel()
            await asyncio.gather(player, return_exceptions=True)
            session.close_code, session.close_reason = ws.close_code, ws.close_reason
            session._done.set()
            log.info("session %d: closed (code %s)", self._sessions.index(session), ws.close_code)

    async def _listen(self, ws: ServerConnection, session: ServedSession) -> None:
        try:
            async for message in ws:
                departure = session.receive(message)
                await self._client_frame(ws, session, message)
                if departure is None:
                    continue
                log.warning("%s", departure)
                if self.strict:
                    await ws.close(POLICY_VIOLATION, _clip_reason(str(departure)))
                    return
        except ConnectionClosed:
            pass

    async def _play(self, ws: ServerConnection, session: ServedSession) -> None:
        try:
            for step in self.plan.steps:
                if isinstance(step, ExpectStep):
                    await session._matched[step.index].wait()
                    continue
                await self._pause(step.delay_ms)
                if isinstance(step, CloseStep):
                    await _close_as_recorded(ws, step)
                    return
                await self._send_step(ws, session, step)
            session.completed = True
            if self.close_when_done:
                await ws.close(1000, "end of recording")
        except ConnectionClosed:
            pass

    # -- hooks for servers built on this one (rtproto.faults) ----------------------

    def _serve_options(self) -> dict[str, Any]:
        """Extra keyword arguments for websockets' ``serve``."""
        return {}

    async def _opened(self, ws: ServerConnection, session: ServedSession) -> None:
        """Called once a connection is open, before anything is played."""

    async def _send_step(self, ws: ServerConnection, session: ServedSession, step: SendStep) -> None:
        """Send one recorded server frame."""
        await ws.send(step.text)
        session.sent.append(step.event)

    async def _client_frame(self, ws: ServerConnection, session: ServedSession, message: str | bytes) -> None:
        """Called after each client frame has been matched against the recording."""

    async def _pause(self, delay_ms: float) -> None:
        if self.speed is not None and delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000.0 / self.speed)


async def _close_as_recorded(ws: ServerConnection, step: CloseStep) -> None:
    if step.code == ABNORMAL_CLOSURE:
        ws.transport.abort()
    elif step.code in (None, NO_STATUS_RCVD):
        await ws.close(None, "")  # type: ignore[arg-type]  # websockets sends an empty close frame
    else:
        await ws.close(step.code, _clip_reason(step.reason))


async def run_server(
    path: Transcript | str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 0,
    speed: float | str | None = 1.0,
    strict: bool = False,
    *,
    api_key: str | None = None,
    close_when_done: bool = False,
) -> None:
    """Serve a transcript until cancelled; prints ``listening on ws://HOST:PORT/v1/realtime`` when ready."""
    server = RealtimeServer(
        path,
        host=host,
        port=port,
        speed=speed,
        strict=strict,
        api_key=api_key,
        close_when_done=close_when_done,
    )
    async with server:
        print(f"listening on {server.url}", flush=True)
        await asyncio.Future()


async def cli_serve(args: Any) -> int:
    """The ``serve`` subcommand: serve ``args.file`` until cancelled; 2 for a file that is not a transcript."""
    try:
        transcript = read_transcript(args.file)
        plan_replay(transcript)  # a recording that cannot be played is bad input too
    except (TranscriptError, OSError) as exc:
        print(f"error: {unreadable(exc, args.file)}", file=sys.stderr)
        return 2
    await run_server(transcript, host=args.host, port=args.port, speed=args.speed, strict=args.strict)
    return 0
