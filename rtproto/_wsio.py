"""A lean asyncio I/O layer around websockets' sans-I/O client protocol.

Theory of operation: :class:`WebSocketIO` is a plain ``asyncio.Protocol``.
Bytes from the socket go straight into ``websockets.client.ClientProtocol``
inside ``data_received``; complete data frames land, as raw bytes, in a deque,
and a waiting reader is woken through one future (no task per frame).
Sending serialises a text frame with the protocol and writes it to the asyncio
transport at once; the transport's write-buffer limits drive ``paused``, which
callers await with :meth:`WebSocketIO.writable`. The protocol answers pings by
itself; this layer only flushes what it queues. Keepalive pings and every
timeout live here, on loop timers, because the sans-I/O core has no clock.

This module knows neither rtproto's errors nor its frames: handshake failures
surface as websockets' exceptions (``InvalidStatus``, ``InvalidHandshake``)
or ``OSError``/``TimeoutError``, for the transport to translate.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import ssl
from collections import deque

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidMessage
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

# Frames held for a slow reader before the socket stops being read, and the
# depth at which reading resumes.
RECV_HIGH_WATER = 4096
RECV_LOW_WATER = 1024
CLOSE_TIMEOUT = 10.0

_DATA = (Opcode.TEXT, Opcode.BINARY)
_ENDED = (State.CLOSING, State.CLOSED)


class WebSocketIO(asyncio.Protocol):
    """One client websocket: a ``ClientProtocol`` fed by an asyncio transport."""

    def __init__(self, protocol: ClientProtocol, *, ping_interval: float | None, ping_timeout: float | None):
        self.protocol = protocol
        self.frames: deque[bytes] = deque()
        self.paused = False  # the transport's write buffer is above its high-water mark
        self.ended = False  # no more frames will arrive: close frame received or socket gone
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._handshake: asyncio.Future[Response] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._reader: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._fragments: list[bytes] | None = None
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._ping_data: bytes | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol callbacks -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self.flush()  # the handshake request

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self.flush()  # pongs, the reply to a close frame
        for event in events:
            if type(event) is Frame:
                self._on_frame(event)
            else:
                self._on_response(event)
        if protocol.close_rcvd is not None or protocol.state in _ENDED:
            self.ended = True
        if self.frames or self.ended:
            self._wake_reader()

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self.flush()
        # Returning None lets asyncio close the transport: after EOF a
        # websocket client never needs to write again.

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent; the state is now CLOSED
        for timer in (self._ping_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        if not self._handshake.done():
            self._handshake.set_exception(
                self.protocol.handshake_exc or InvalidMessage("the connection closed during the handshake")
            )
        self.ended = True
        self._wake_reader()
        self._wake_writers()
        if not self._lost.done():
            self._lost.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake_writers()

    # -- the caller's side ----------------------------------------------------------

    async def handshake(self) -> Response:
        """Wait for the server's handshake response; raises websockets' handshake errors."""
        return await self._handshake

    async def wait_frame(self) -> None:
        """Wait until a frame is queued or the connection has ended (one reader at a time)."""
        if self.frames or self.ended:
            return
        if self._reader is not None:
            raise RuntimeError("recv() is already waiting in another task; receive from one task only")
        self._reader = self._loop.create_future()
        try:
            await self._reader
        finally:
            self._reader = None

    def pop_frame(self) -> bytes:
        """Take the oldest queued frame (resumes reading below the low-water mark)."""
        frame = self.frames.popleft()
        if self._reading_paused and len(self.frames) < RECV_LOW_WATER:
            self._reading_paused = False
            self._transport.resume_reading()
        return frame

    async def writable(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        while self.paused and not self._lost.done():
            if self._drain is None or self._drain.done():
                self._drain = self._loop.create_future()
            await asyncio.shield(self._drain)

    def send_text(self, data: bytes) -> None:
        """Write one text frame now (the caller checked that the protocol is OPEN)."""
        self.protocol.send_text(data)
        self.flush()

    async def close(self, code: int, reason: str) -> None:
        """Run the closing handshake, waiting up to CLOSE_TIMEOUT for the server to drop TCP."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
            self.flush()
            self._arm_close_timer()
        elif not self._lost.done():
            self._arm_close_timer()
        await asyncio.shield(self._lost)

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        if self._transport is not None:
            self._transport.abort()

    def flush(self) -> None:
        """Write whatever the protocol has queued; an empty chunk means half-close."""
        transport = self._transport
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()
        if self.protocol.close_expected():
            self._arm_close_timer()

    def start_keepalive(self) -> None:
        if self._ping_interval is not None:
            self._ping_timer = self._loop.call_later(self._ping_interval, self._send_ping)

    # -- internals ------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode in _DATA:
            if frame.fin:
                self._push(frame.data)
            else:
                self._fragments = [frame.data]
        elif opcode is Opcode.CONT and self._fragments is not None:
            self._fragments.append(frame.data)
            if frame.fin:
                self._push(b"".join(self._fragments))
                self._fragments = None
        elif opcode is Opcode.PONG and frame.data == self._ping_data:
            self._ping_data = None
            self._ping_timer.cancel()
            self._ping_timer = self._loop.call_later(self._ping_interval, self._send_ping)

    def _push(self, data: bytes | bytearray | memoryview) -> None:
        self.frames.append(data if type(data) is bytes else bytes(data))
        if not self._reading_paused and len(self.frames) > RECV_HIGH_WATER:
            self._reading_paused = True
            self._transport.pause_reading()

    def _on_response(self, response: Response) -> None:
        if self._handshake.done():
            return
        if self.protocol.handshake_exc is not None:
            self._handshake.set_exception(self.protocol.handshake_exc)
        else:
            self._handshake.set_result(response)

    def _wake_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    def _wake_writers(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def _send_ping(self) -> None:
        if self.protocol.state is not State.OPEN:
            return
        self._ping_data = os.urandom(4)
        self.protocol.send_ping(self._ping_data)
        self.flush()
        if self._ping_timeout is None:
            self._ping_data = None
            self._ping_timer = self._loop.call_later(self._ping_interval, self._send_ping)
        else:
            self._ping_timer = self._loop.call_later(self._ping_timeout, self._ping_expired)

    def _ping_expired(self) -> None:
        if self.protocol.state is not State.OPEN:
            return
        self.protocol.logger.debug("! keepalive ping timeout")
        self.protocol.fail(1011, "keepalive ping timeout")
        self.flush()
        self._transport.close()
        self._arm_close_timer()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and not self._lost.done():
            self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self.abort)


async def open_websocket(
    url: str,
    headers: dict,
    *,
    user_agent: str | None,
    open_timeout: float | None,
    ping_interval: float | None,
    ping_timeout: float | None,
    logger: logging.Logger,
) -> WebSocketIO:
    """Connect TCP (TLS for ``wss://``), run the opening handshake, start keepalive.

    No extensions (no compression) and no frame-size limit. Raises
    ``InvalidURI``, ``InvalidStatus``/``InvalidHandshake``, ``OSError`` or
    ``TimeoutError``.
    """
    uri = parse_uri(url)
    protocol = ClientProtocol(uri, max_size=None, logger=logger)
    request = protocol.connect()
    for name, value in headers.items():
        request.headers[name] = value
    if user_agent is not None and "User-Agent" not in request.headers:
        request.headers["User-Agent"] = user_agent
    protocol.send_request(request)
    loop = asyncio.get_running_loop()
    io = WebSocketIO(protocol, ping_interval=ping_interval, ping_timeout=ping_timeout)
    tls = _tls_context() if uri.secure else None
    try:
        async with asyncio.timeout(open_timeout):
            await loop.create_connection(
                lambda: io, uri.host, uri.port, ssl=tls, server_hostname=uri.host if tls else None
            )
            await io.handshake()
    except BaseException:
        io.abort()
        raise
    io.start_keepalive()
    return io


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Built once: loading the CA store costs milliseconds, and a relay opens hundreds of sessions.
    return ssl.create_default_context()


def closed_by(io: WebSocketIO) -> tuple[Close | None, Close | None]:
    """The close frames received and sent so far."""
    return io.protocol.close_rcvd, io.protocol.close_sent
