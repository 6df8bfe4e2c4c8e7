"""The websocket edge: URL, handshake headers, a queued writer, raw frames in and out.

This module moves frames and knows no protocol rules. It speaks raw frames
(``bytes``) both ways; :func:`iter_events` is the thin layer that decodes them
with :func:`rtproto.events.decode_server`.

Theory of operation: the socket is driven by :mod:`rtproto._wsio`, a plain
``asyncio.Protocol`` around websockets' sans-I/O ``ClientProtocol`` (a relay
runs hundreds of sessions per process, and websockets' asyncio layer costs a
task switch and a drain per frame). Outgoing frames are written in the order
of the calls. When nothing is queued and the socket's write buffer is below
its high-water mark, ``send`` writes the frame at once, synchronously;
otherwise the frame waits in ONE bounded ``asyncio.Queue`` drained by ONE
writer task, so a slow socket pushes back on the sender (``send`` awaits room
in the queue). Incoming frames are queued by the protocol callback and taken
by whoever calls :meth:`recv` (one reader at a time), or handed at once to
the handler of :meth:`deliver`, which costs no task switch per frame.
Handshake failures are translated in :func:`_map_errors`; a closed
connection becomes :class:`ConnectionClosed` from the close frames received
and sent, naming who ended it (``by``: ``"server"``, ``"client"``,
``"network"``) and why (``cause``).

Nothing waits forever. The opening (TCP, TLS, a proxy's tunnel and the
websocket handshake) is bounded by ``open_timeout`` (10 s by default). Once
open, a keepalive ping goes out every ``ping_interval`` seconds (10 by
default); a ping left unanswered for ``ping_timeout`` seconds (10) fails the
connection with 1011 and drops TCP, so a connection gone silent (the server
stuck, a network path dropped without a reset) raises
``ConnectionClosed(1011, by="client", cause="the server stopped answering
pings (no pong within 10 s)")`` within ``ping_interval + ping_timeout`` seconds
of its last pong: 20 s with the defaults. A close we start (``close()``, or
after a failure) flushes for at most 1 s and waits at most 1 s more for the
server to drop TCP, so a client always ends promptly.

WebSocket options follow the official SDK except for one bound: no permessage-deflate (``compression=None``), JSON goes out as text
frames, and an incoming message may be up to ``max_size`` bytes (64 MiB by
default, far above the largest real event; the SDK sets no bound): a longer
one fails the connection with 1009 before its payload is buffered. A text
message that is not UTF-8 fails it with 1007, as RFC 6455 requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from websockets.exceptions import (
    InvalidHandshake,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State

from rtproto import __version__
from rtproto._wsio import OpenTimeout, ProxyFailure, WebSocketIO, open_websocket
from rtproto.errors import NORMAL_CLOSE_CODES, AuthenticationError, ConnectionClosed, TransportError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "Connection",
    "Recorder",
    "TransportStats",
    "connect",
    "deliver_events",
    "handshake_headers",
    "iter_events",
    "realtime_url",
    "with_model",
]

logger = logging.getLogger("rtproto.transport")

Recorder = Callable[[str, bytes], None]
"""``recorder(direction, frame)``: direction is ``"client"`` or ``"server"``."""

DEFAULT_BASE_URL = "wss://api.openai.com/v1"
#: The default bound of an incoming message (bytes): longer ones fail the connection with 1009.
DEFAULT_MAX_SIZE = 64 * 1024 * 1024
_APIS = ("ga", "beta")
# Query parameters that may appear in error messages; anything else (an Azure
# ``api-key``, a signed token) is left out.
_SHOWN_QUERY = frozenset({"model", "call_id", "intent"})
_TYPE_FIELD = re.compile(rb'"type"\s*:\s*"([^"\\]{1,80})"')
_EXCERPT_CHARS = 200


def realtime_url(
    model: str | None = None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    call_id: str | None = None,
    intent: str | None = None,
    path: str = "/realtime",
) -> str:
    """Return the Realtime endpoint, e.g. ``wss://api.openai.com/v1/realtime?model=gpt-realtime``.

    ``http(s)://`` base URLs are switched to ``ws(s)://`` as the SDK does. GA
    needs ``model``, ``call_id`` (join a call) or ``intent`` (``transcription``).
    """
    if model is None and call_id is None and intent is None:
        raise ValueError("realtime_url() needs a model, a call_id or an intent")
    parts = urlsplit(base_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"base_url must be a ws://, wss://, http:// or https:// URL, got {base_url!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in (("model", model), ("call_id", call_id), ("intent", intent)) if v is not None]
    full_path = parts.path.rstrip("/") + "/" + path.lstrip("/")
    return urlunsplit((scheme, parts.netloc, full_path, urlencode(query, quote_via=quote), ""))


def with_model(url: str, model: str | None) -> str:
    """Return ``url`` with ``model=`` added unless it already has one (the CLI's ``--url``)."""
    parts = urlsplit(url)
    if model is None or any(k == "model" for k, _ in parse_qsl(parts.query, keep_blank_values=True)):
        return url
    extra = urlencode([("model", model)], quote_via=quote)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def handshake_headers(api_key: str | None, *, api: str = "ga", extra: dict | None = None) -> dict:
    """Return the handshake headers: ``Authorization``, ``User-Agent``, and for beta ``OpenAI-Beta``.

    GA sends no ``OpenAI-Beta`` header; ``api="beta"`` sends ``OpenAI-Beta: realtime=v1``.
    ``extra`` headers are added last and win.
    """
    if api not in _APIS:
        raise ValueError(f"api must be one of {', '.join(_APIS)}; got {api!r}")
    headers = {"User-Agent": f"rtproto/{__version__}"}
    if api_key:
        if any(c in api_key for c in "\r\n\0"):
            raise ValueError("the API key contains a line break or NUL character")
        headers["Authorization"] = f"Bearer {api_key}"
    if api == "beta":
        headers["OpenAI-Beta"] = "realtime=v1"
    headers.update(extra or {})
    return headers


@dataclass
class TransportStats:
    """Counters of one connection; ``queue_high_water`` is the deepest the send queue got."""

    frames_sent: int = 0
    bytes_sent: int = 0
    frames_received: int = 0
    bytes_received: int = 0
    queue_high_water: int = 0


class Connection:
    """One websocket connection to a Realtime endpoint, carrying raw frames.

    Open it with :meth:`connect` (or the module-level :func:`connect`, also an
    async context manager). Receiving is single-reader: call :meth:`recv` or
    iterate from one task only.
    """

    def __init__(self, io: WebSocketIO, *, url: str, send_queue_size: int, recorder: Recorder | None):
        if send_queue_size < 1:
            raise ValueError(f"send_queue_size must be at least 1, got {send_queue_size}")
        self.url = url
        self.stats = TransportStats()
        self._io = io
        self._recorder = recorder
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(send_queue_size)
        self._pending = 0  # frames queued or held by the writer: a direct write must not overtake them
        self._failure: BaseException | None = None
        self._closing: asyncio.Future[None] | None = None
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="rtproto-writer")

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        api_key: str | None = None,
        api: str = "ga",
        headers: dict | None = None,
        send_queue_size: int = 256,
        recorder: Recorder | None = None,
        open_timeout: float | None = 10,
        ping_interval: float | None = 10,
        ping_timeout: float | None = 10,
        proxy: str | Literal[True] | None = True,
        max_size: int | None = DEFAULT_MAX_SIZE,
    ) -> Connection:
        """Open the websocket (raises AuthenticationError on 401/403, TransportError otherwise).

        ``open_timeout`` bounds the whole opening (seconds; ``None``: no
        bound): a server that accepts TCP and never answers the handshake
        raises TransportError ("... timed out after 10 s waiting for the
        websocket handshake"). ``ping_interval`` and ``ping_timeout``
        (seconds; ``ping_interval=None`` sends no pings, ``ping_timeout=None``
        never gives up) make a silent connection raise ConnectionClosed
        (1011, ``by="client"``) within ``ping_interval + ping_timeout``.
        ``max_size`` bounds an incoming message (bytes, default
        :data:`DEFAULT_MAX_SIZE`; ``None``: no bound); a longer one fails the
        connection with 1009. HTTP statuses of a refused handshake are kept in
        the error's ``status``.

        ``proxy``: ``True`` (the default) takes an HTTP(S) proxy from the
        environment as websockets does (``HTTPS_PROXY`` for ``wss://``,
        ``HTTP_PROXY`` too for ``ws://``, hosts in ``NO_PROXY`` skipped) but
        never proxies a loopback host (``localhost``, 127.0.0.0/8, ``::1``);
        ``None`` connects directly; a string is the proxy's URL,
        ``http://[user:pass@]host:port`` or ``https://...`` (TLS to the proxy),
        used for every host. The tunnel is an HTTP ``CONNECT``, with
        ``Proxy-Authorization: Basic`` when the URL has credentials. SOCKS
        proxies are not supported. ``open_timeout`` covers the proxy too.
        """
        all_headers = handshake_headers(api_key, api=api, extra=headers)
        user_agent = _pop_header(all_headers, "User-Agent")
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_size must be a positive number of bytes or None, got {max_size!r}")
        with _map_errors(url):
            io = await open_websocket(
                url,
                all_headers,
                user_agent=user_agent,
                open_timeout=open_timeout,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                logger=_wire_logger,
                proxy=proxy,
                max_size=max_size,
            )
        logger.debug("connected to %s", _display_url(url))
        try:
            return cls(io, url=url, send_queue_size=send_queue_size, recorder=recorder)
        except BaseException:
            io.abort()
            raise

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called or the socket is closed."""
        return self._closing is not None or self._io.protocol.state is State.CLOSED

    @property
    def ended(self) -> ConnectionClosed | None:
        """How the connection ended (who closed it, the code and the reason), or None while it is open.

        A normal close (1000, 1001) ends iteration quietly; this says which it was."""
        protocol = self._io.protocol
        if protocol.state is not State.CLOSED and protocol.close_rcvd is None:
            return None
        return _closed_error(self._io)

    async def send(self, frame: bytes | str) -> None:
        """Queue one pre-encoded frame (sent as a text frame).

        Backpressure: when ``send_queue_size`` frames are already waiting, this
        awaits until the writer has made room. Raises the connection's error
        (ConnectionClosed, TransportError) once the writer has failed or the
        connection is closed.
        """
        data = _as_bytes(frame)
        self._check_open()
        if self._pending == 0 and not self._io.paused:
            self._write_checked(data)  # nothing ahead of this frame and room in the socket: write it now
            return
        self._pending += 1
        try:
            await self._queue.put(data)
        except BaseException:
            self._pending -= 1
            raise
        self._note_depth()
        self._check_open()  # the writer may have died while we waited for room

    def send_nowait(self, frame: bytes | str) -> None:
        """Queue one frame without waiting; raises TransportError if the send queue is full."""
        data = _as_bytes(frame)
        self._check_open()
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            raise TransportError(
                f"the send queue is full ({self._queue.maxsize} frames waiting); "
                "await send() to wait for room"
            ) from None
        self._pending += 1
        self._note_depth()

    async def recv(self) -> bytes:
        """Return the next frame as raw bytes; raises ConnectionClosed when the connection ends."""
        io = self._io
        if not io.frames:
            await io.wait_frame()
            if not io.frames:
                raise _closed_error(io)
        return self._received(io.pop_frame())

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield raw frames; ends on a normal close (1000/1001) or our own close, else raises ConnectionClosed."""
        while True:
            try:
                frame = await self.recv()
            except ConnectionClosed as exc:
                if self._ends_quietly(exc):
                    return
                raise
            yield frame

    async def deliver(self, handler: Callable[[bytes], None]) -> None:
        """Call ``handler(frame)`` for each frame as it arrives, until the connection ends.

        The receive path for many sessions per process: each frame is handed
        over inside the socket's callback, with no task switch per frame (the
        handler runs on the event loop and must not block). Ends as ``async
        for`` over the connection does: returns on a normal close (1000/1001)
        or after our own close, raises ConnectionClosed otherwise. If
        ``handler`` raises, delivery stops and the exception is raised here;
        the frames after it stay queued for the next ``recv`` or ``deliver``.
        One reader at a time, as for :meth:`recv`.
        """
        received = self._received
        await self._io.deliver(lambda frame: handler(received(frame)))
        exc = _closed_error(self._io)
        if not self._ends_quietly(exc):
            raise exc

    async def close(self, code: int = 1000, reason: str = "", *, flush_timeout: float = 1.0) -> None:
        """Flush the send queue (up to ``flush_timeout`` s), close the websocket (the server has
        one second to answer the close), stop the writer: at most about two seconds in all.

        Idempotent: later calls wait for the first one to finish.
        """
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close(code, reason, flush_timeout))
        await asyncio.shield(self._closing)

    # -- internals -----------------------------------------------------------

    async def _close(self, code: int, reason: str, flush_timeout: float) -> None:
        if self._failure is None:
            try:
                async with asyncio.timeout(flush_timeout):
                    await self._queue.join()
            except TimeoutError:
                logger.warning("closing with %d frames unsent after %.1f s", self._queue.qsize(), flush_timeout)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        await self._io.close(code, reason)
        logger.debug("closed (code %d)", code)

    async def _write_loop(self) -> None:
        try:
            while True:
                frame = await self._queue.get()
                try:
                    await self._io.writable()
                    self._write_checked(frame)
                finally:
                    self._pending -= 1
                    self._queue.task_done()
        except Exception:  # _write_checked kept it in self._failure for the next send()
            pass
        finally:
            self._discard_queued()

    def _write_checked(self, frame: bytes) -> None:
        """Write one frame; a failure ends all sending."""
        try:
            self._write(frame)
        except TransportError as exc:
            self._failure = exc
            logger.debug("sending stopped: %s", exc)
            raise
        except Exception as exc:  # a recorder bug, say: report it to every later send()
            self._failure = exc
            logger.error("sending stopped: %r", exc)
            raise

    def _write(self, frame: bytes) -> None:
        io = self._io
        if io.protocol.state is not State.OPEN:
            raise _closed_error(io)
        io.send_text(frame)
        self.stats.frames_sent += 1
        self.stats.bytes_sent += len(frame)
        if self._recorder is not None:
            self._recorder("client", frame)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("> %s", _describe(frame))

    def _ends_quietly(self, exc: ConnectionClosed) -> bool:
        # Iteration and delivery end without an error on a normal close or after our own close.
        return exc.normal or self._closing is not None

    def _received(self, frame: bytes) -> bytes:
        self.stats.frames_received += 1
        self.stats.bytes_received += len(frame)
        if self._recorder is not None:
            self._recorder("server", frame)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("< %s", _describe(frame))
        return frame

    def _discard_queued(self) -> None:
        dropped = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            self._pending -= 1
            dropped += 1
        if dropped:
            logger.warning("dropped %d queued frames: the connection is gone", dropped)

    def _check_open(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closing is not None:
            raise TransportError("the connection is closed")
        if self._io.protocol.state is not State.OPEN:
            raise _closed_error(self._io)

    def _note_depth(self) -> None:
        depth = self._queue.qsize()
        if depth > self.stats.queue_high_water:
            self.stats.queue_high_water = depth


class _Connector:
    """What :func:`connect` returns: await it, or use it as ``async with``."""

    def __init__(self, url: str, options: dict[str, Any]):
        self._url = url
        self._options = options
        self._conn: Connection | None = None

    def __await__(self):
        return Connection.connect(self._url, **self._options).__await__()

    async def __aenter__(self) -> Connection:
        self._conn = await Connection.connect(self._url, **self._options)
        return self._conn

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._conn is not None
        await self._conn.close()


def connect(url: str, **options: Any) -> _Connector:
    """Open a :class:`Connection` with :meth:`Connection.connect`'s options.

    ``async with connect(url, api_key=k) as conn:``, or ``conn = await connect(...)``.
    """
    return _Connector(url, options)


async def iter_events(
    conn: Connection,
    *,
    api: str = "ga",
    on_error: Callable[[bytes, Exception], None] | None = None,
    decode: Callable[..., Any] | None = None,
) -> AsyncIterator[tuple[bytes, Any]]:
    """Yield ``(raw_frame, event)`` for each server frame until the connection closes normally.

    ``decode`` defaults to :func:`rtproto.events.decode_server` (called as
    ``decode(raw, api=api)``). A frame it rejects (a ProtocolError or other
    ValueError) is passed to ``on_error(raw, exc)`` (or, without one, logged as
    a warning) and skipped; it never ends the stream. Unknown types arrive as
    ``UnknownEvent``.
    """
    decode_event = _event_decoder(api, on_error, decode)
    async for raw in conn:
        event = decode_event(raw)
        if event is not _SKIPPED:
            yield raw, event


async def deliver_events(
    conn: Connection,
    handler: Callable[[bytes, Any], None],
    *,
    api: str = "ga",
    on_error: Callable[[bytes, Exception], None] | None = None,
    decode: Callable[..., Any] | None = None,
) -> None:
    """Call ``handler(raw_frame, event)`` for each server frame, as :meth:`Connection.deliver` does.

    The callback counterpart of :func:`iter_events`, with the same decoding
    and the same handling of malformed frames; it ends as
    :meth:`Connection.deliver` ends.
    """
    decode_event = _event_decoder(api, on_error, decode)

    def on_frame(raw: bytes) -> None:
        event = decode_event(raw)
        if event is not _SKIPPED:
            handler(raw, event)

    await conn.deliver(on_frame)


_SKIPPED = object()


def _event_decoder(
    api: str, on_error: Callable[[bytes, Exception], None] | None, decode: Callable[..., Any] | None
) -> Callable[[bytes], Any]:
    """``raw -> event``, or ``_SKIPPED`` for a frame ``decode`` rejects (reported, never raised)."""
    if decode is None:
        from rtproto.events import decode_server as decode

    def decode_event(raw: bytes) -> Any:
        try:
            return decode(raw, api=api)
        except ValueError as exc:
            if on_error is None:
                logger.warning("skipped a malformed server frame: %s; frame: %s", exc, _excerpt(raw))
            else:
                on_error(raw, exc)
            return _SKIPPED

    return decode_event


# -- the one error boundary ----------------------------------------------------


class _map_errors:
    """Translate websockets' handshake errors and socket errors into rtproto.errors (messages never carry headers)."""

    __slots__ = ("_url",)

    def __init__(self, url: str):
        self._url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None and isinstance(exc, (InvalidHandshake, InvalidURI, InvalidProxy, ProxyFailure, OSError)):
            raise _translate(exc, _display_url(self._url)) from exc


def _translate(exc: Exception, url: str) -> TransportError:
    # Proxy messages name the proxy as host:port (ProxyFailure.proxy) or
    # scheme://host:port (InvalidProxy.proxy, redacted by _wsio): never its credentials.
    match exc:
        case InvalidStatus():
            return _status_error(exc.response.status_code, exc.response.body, url)
        case InvalidHandshake():
            return TransportError(f"the websocket handshake with {url} failed: {exc}")
        case InvalidURI():
            return TransportError(f"invalid websocket URL {url}: {exc.msg}")
        case InvalidProxy():
            return TransportError(f"cannot use the proxy {exc.proxy}: {exc.msg}")
        case ProxyFailure():
            return _proxy_error(exc.error, exc.proxy, url)
        case OpenTimeout(connected=True):
            return TransportError(f"could not connect to {url}: {exc} waiting for the websocket handshake "
                                  "(the server accepted the connection but never answered)")
        case OpenTimeout():
            return TransportError(f"could not connect to {url}: {exc}")
        case OSError():
            return TransportError(f"could not connect to {url}: {_socket_failure(exc)}")


def _proxy_error(error: BaseException, proxy: str, url: str) -> TransportError:
    match error:
        case InvalidProxyStatus():
            status = f"HTTP {error.response.status_code} {error.response.reason_phrase[:80]}".rstrip()
            hint = " (check the proxy's user name and password)" if error.response.status_code == 407 else ""
            return TransportError(f"the proxy {proxy} refused the tunnel to {url}: {status}{hint}")
        case InvalidProxyMessage():
            return TransportError(f"the proxy {proxy} did not answer CONNECT with valid HTTP")
        case TimeoutError():
            return TransportError(f"could not connect to {url} through the proxy {proxy}: timed out")
        case OSError():
            return TransportError(f"could not connect to the proxy {proxy}: {_socket_failure(error)}")
        case _:
            return TransportError(f"could not connect to {url} through the proxy {proxy}: {error}")


def _socket_failure(exc: OSError) -> str:
    match exc:
        case TimeoutError():
            return "timed out"
        case ConnectionRefusedError():
            return "connection refused"
        case socket.gaierror():
            return f"cannot resolve the host name ({exc.strerror})"
        case _:
            return str(exc.strerror or exc)


def _closed_error(io: WebSocketIO) -> ConnectionClosed:
    """Who ended the connection and why, from the close frames received and sent."""
    protocol = io.protocol
    rcvd, sent = protocol.close_rcvd, protocol.close_sent
    if rcvd is None and sent is None:
        return ConnectionClosed(1006, "connection lost", by="network")
    ours = rcvd is None or protocol.close_rcvd_then_sent is False
    if not ours and sent is not None and rcvd.code in NORMAL_CLOSE_CODES and sent.code not in NORMAL_CLOSE_CODES:
        ours = True  # we failed the connection (e.g. 1002) although the server said goodbye
    if not ours:
        return ConnectionClosed(int(rcvd.code), rcvd.reason, by="server")
    return ConnectionClosed(int(sent.code), sent.reason, by="client", cause=_our_cause(io, sent))


def _our_cause(io: WebSocketIO, sent: Close) -> str:
    if io.ping_expired is not None:
        return f"the server stopped answering pings (no pong within {io.ping_expired:g} s)"
    match int(sent.code):
        case 1002:
            return f"the server broke the websocket protocol ({sent.reason})"
        case 1007:
            return f"the server sent a text message that is not UTF-8 ({sent.reason})"
        case 1009:
            return f"the server sent a message over the size limit ({sent.reason})"
        case _:
            return sent.reason or "closed by the application"


def _status_error(status: int, body: bytes | None, url: str) -> TransportError:
    if status in (401, 403):
        return AuthenticationError(f"the API key was rejected (HTTP {status})", status=status)
    detail = body.decode("utf-8", "replace").strip()[:_EXCERPT_CHARS] if body else ""
    return TransportError(f"the server refused the websocket handshake at {url}: HTTP {status}"
                          + (f": {detail}" if detail else ""), status=status)


# -- logging helpers -------------------------------------------------------------


def _display_url(url: str) -> str:
    """The URL without user info and without query parameters that may be secret."""
    try:
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k in _SHOWN_QUERY]
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, quote_via=quote), ""))


def _describe(frame: bytes) -> str:
    # Type and size only: frames carry audio and, in session.update, MCP tokens.
    match = _TYPE_FIELD.search(frame, 0, 256)
    kind = match.group(1).decode("utf-8", "replace") if match else "?"
    return f"{kind} ({len(frame)} bytes)"


def _excerpt(frame: bytes) -> str:
    text = repr(frame[:_EXCERPT_CHARS].decode("utf-8", "replace"))
    return text + (f"... ({len(frame)} bytes)" if len(frame) > _EXCERPT_CHARS else "")


def _as_bytes(frame: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(frame, str):
        return frame.encode()
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return bytes(frame)
    raise TypeError(
        f"send() takes a pre-encoded frame (bytes or str), got {type(frame).__name__}; "
        "encode events with rtproto.events.encode()"
    )


def _pop_header(headers: dict, name: str) -> str | None:
    for key in list(headers):
        if key.lower() == name.lower():
            return headers.pop(key)
    return None


class _RedactWire(logging.Filter):
    """Keep header values and frame payloads out of websockets' debug log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple):
            return True
        if record.msg in ("> %s: %s", "< %s: %s") and len(args) == 2:
            record.args = (args[0], "[redacted]")
        elif record.msg in ("> %s", "< %s") and len(args) == 1 and _is_data_frame(args[0]):
            record.args = (f"{args[0].opcode.name} [{len(args[0].data)} bytes]",)
        return True


def _is_data_frame(obj: object) -> bool:
    return isinstance(obj, Frame) and obj.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


_wire_logger = logging.getLogger("rtproto.transport.wire")
_wire_logger.addFilter(_RedactWire())
