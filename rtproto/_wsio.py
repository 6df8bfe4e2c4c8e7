"""A lean asyncio I/O layer around websockets' sans-I/O protocols (client and server side).

Theory of operation: :class:`WebSocketIO` is a plain ``asyncio.BufferedProtocol``
(socket reads land in one preallocated buffer per connection) around
``websockets.client.ClientProtocol`` or ``websockets.server.ServerProtocol``,
which runs the opening and closing handshakes, answers pings and judges every
unusual frame. The two hot paths skip its generator-based parser and frame
objects: ``data_received`` cuts the byte stream into frames itself (a few
header bytes each) and takes a whole text or binary message straight out
(unmasked from a server, masked from a client: that is the one difference
between the sides), while every other frame is fed to websockets whole, so its
parser always starts on a frame boundary; ``send_message`` writes a frame
(masked by a client) to the asyncio transport at once.
A server side hands the client's request to its caller (:meth:`WebSocketIO.handshake`)
and holds any bytes that follow it, unread, until the caller answers with
:meth:`WebSocketIO.respond`.
Whatever websockets' sans-I/O core leaves to its I/O layer is done here too:
a text message that is not UTF-8 fails the connection with 1007, and a frame
longer than ``max_size`` reaches websockets at its header, which fails the
connection with 1009 before the payload is buffered.
Data frames, as raw bytes, either go to the handler of
:meth:`WebSocketIO.deliver` at once (no task switch at all) or land in a
deque, and a waiting reader is woken through one future. The transport's
write-buffer limits drive ``paused``, which callers await with
:meth:`WebSocketIO.writable`. Reading stops for as long as any one reason
holds (a full queue, a handshake awaiting its answer, a caller's
:meth:`WebSocketIO.stop_reading`), and resumes when none does. Keepalive pings and every timeout live here, on
loop timers, because the sans-I/O core has no clock. A ping left unanswered
for ``ping_timeout`` fails the connection with 1011 at once (``ping_expired``
says so): a silent peer is noticed within ``ping_interval + ping_timeout``.

This module knows neither rtproto's errors nor its frames: handshake failures
surface as websockets' exceptions (``InvalidStatus``, ``InvalidHandshake``)
or ``OSError``/``TimeoutError``, for the transport to translate; a failure to
open the tunnel through an HTTP proxy surfaces as :class:`ProxyFailure`, and a
proxy that cannot be used as websockets' ``InvalidProxy`` (both name the proxy
without its credentials).

Proxies: an HTTP(S) proxy is reached with websockets' own CONNECT helper
(``HTTPProxyConnection``: ``prepare_connect_request`` and its response
parser), then the tunnel's transport is handed to :class:`WebSocketIO`, with
``loop.start_tls`` first for ``wss://``, as websockets' asyncio client does.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import ssl
import struct
import sys
from collections import deque
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.server import ServerProtocol
from websockets.exceptions import InvalidMessage, InvalidProxy, ProxyError
from websockets.frames import Frame, Opcode, apply_mask
from websockets.http11 import Request, Response
from websockets.protocol import Side, State
from websockets.uri import WebSocketURI, parse_uri

from rtproto._compat import HTTPProxyConnection, Proxy, frame_limit, get_proxy, parse_proxy, partial_size

# Socket reads go into one buffer per connection (asyncio.BufferedProtocol):
# asyncio's default read allocates 256 KiB per read, above glibc's mmap
# threshold, which costs an mmap and a munmap for every 1 KB audio frame.
READ_BUFFER = 16384
# Frames held for a slow reader before the socket stops being read, and the
# depth at which reading resumes.
RECV_HIGH_WATER = 4096
RECV_LOW_WATER = 1024
CLOSE_TIMEOUT = 1.0  # seconds the closing handshake may take before TCP is dropped (a client ends promptly)
# Why reading is stopped (a bit each); it resumes when no reason is left.
QUEUE_FULL, HANDSHAKE, PEER_BUSY = 1, 2, 4

_DATA = (Opcode.TEXT, Opcode.BINARY)
_PLAIN = (0x81, 0x82)
_OPCODES = frozenset({0, 1, 2, 8, 9, 10})  # continuation, text, binary, close, ping, pong  # first byte of a whole text or binary message: FIN, no reserved bits
_MAX_HEAD = 65536  # bytes of handshake response head buffered before websockets judges it
_MASK_POOL = 4096  # masking keys come from os.urandom, 1024 at a time
_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")
_ENDED = (State.CLOSING, State.CLOSED)


class WebSocketIO(asyncio.BufferedProtocol):
    """One websocket: a ``ClientProtocol`` (or ``ServerProtocol``) fed by an asyncio transport."""

    def __init__(self, protocol: ClientProtocol | ServerProtocol, *, ping_interval: float | None,
                 ping_timeout: float | None):
        self.protocol = protocol
        server = protocol.side is Side.SERVER
        self._mask_in = 0x80 if server else 0  # a client masks every frame it sends, a server none
        self._mask_out = not server
        self.close_timeout = CLOSE_TIMEOUT
        self.frames: deque[bytes] = deque()
        self.paused = False  # the transport's write buffer is above its high-water mark
        self.ended = False  # no more frames will arrive: close frame received or socket gone
        self.ping_expired: float | None = None  # the ping timeout (s) that failed the connection, if one did
        limit = frame_limit(protocol)
        self._max_size = sys.maxsize if limit is None else limit
        self._failed = False  # we failed the connection: no later frame may be delivered
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._handshake: asyncio.Future[Response | Request] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._reader: asyncio.Future[None] | None = None
        self._handler: Callable[[bytes], None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._stopped_by = 0  # QUEUE_FULL | HANDSHAKE | PEER_BUSY: why reading is stopped
        self._fragments: list[bytes] | None = None
        self._fragmented_text = False
        self._unparsed = bytearray()  # the start of a frame (or of the handshake response) torn by a read
        self._direct: memoryview | None = None  # a long whole message being read straight into its buffer
        self._filled = 0  # bytes of it received so far
        self._missing = 0  # bytes still to come of the torn frame in _unparsed, once its header is complete
        self._owed = 0  # bytes still to come of a torn frame websockets is parsing as it arrives
        self._read_buffer = memoryview(bytearray(READ_BUFFER))
        self._response_fed = False
        self._masks = b""
        self._mask_pos = _MASK_POOL
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._ping_data: bytes | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol callbacks -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self.flush()  # the handshake request

    def get_buffer(self, sizehint: int) -> memoryview:
        # The rest of a long message is read straight into its place, not through the read buffer.
        direct = self._direct
        return self._read_buffer if direct is None else direct[self._filled :]

    def buffer_updated(self, nbytes: int) -> None:
        if self._direct is None:
            self.data_received(self._read_buffer[:nbytes])
            return
        self._filled += nbytes
        if self._filled == len(self._direct):
            self.data_received(self._take_direct())

    def data_received(self, data: bytes | bytearray | memoryview) -> None:
        # Every byte is copied out (frames, websockets' buffer, _unparsed) before the next read reuses the buffer.
        if self._direct is not None:  # called with data, not through get_buffer: copy it into place
            direct, filled = self._direct, self._filled
            taken = min(len(data), len(direct) - filled)
            direct[filled : filled + taken] = data[:taken]
            self._filled += taken
            if self._filled < len(direct):
                return
            rest = data[taken:]
            self.data_received(self._take_direct())
            if not rest:
                return
            data = rest
        if self._owed:  # the rest of a frame websockets is parsing: it goes there first
            taken = min(len(data), self._owed)
            self._feed(bytes(data[:taken]))
            self._owed -= taken
            data = data[taken:]
            if not data:
                self._after_feed()
                return
        if len(data) < self._missing:  # the middle of a long frame: append in place, nothing to parse
            self._unparsed += data
            self._missing -= len(data)
            return
        if self._unparsed:
            self._unparsed += data
            data, self._unparsed, self._missing = self._unparsed, bytearray(), 0
        protocol = self.protocol
        if protocol.state is State.CONNECTING and not self._response_fed:
            data = self._feed_head(bytes(data))
        fed = True
        if data:
            if protocol.state is State.OPEN:
                fed = self._split(data)
            elif self._awaiting_answer():
                self._unparsed = bytearray(data)  # frames sent before our 101: read once it is sent
                self.stop_reading(HANDSHAKE)
                return
            else:
                self._feed(data)
        if fed:
            self._after_feed()
        elif self.frames:
            self._wake_reader()

    def _after_feed(self) -> None:
        # websockets may have queued pongs or a close reply, or ended the connection.
        protocol = self.protocol
        self.flush()
        if protocol.handshake_exc is not None and not self._handshake.done():
            self._handshake.set_exception(protocol.handshake_exc)  # a malformed request or response head
        if protocol.close_rcvd is not None or protocol.state in _ENDED:
            self.ended = True
        if self.frames or self.ended:
            self._wake_reader()

    def eof_received(self) -> None:
        if self._direct is not None:
            self._unparsed = bytearray(self._direct[: self._filled])
            self._direct.release()
            self._direct = None
        if self._unparsed:
            self._feed(self._unparsed)  # a torn frame: websockets reports the unclean end
            self._unparsed = bytearray()
        self.protocol.receive_eof()
        self.flush()
        # Returning None lets asyncio close the transport: after EOF a
        # websocket client never needs to write again.

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent; the state is now CLOSED
        self._drop_partial()  # a message torn by the loss never completes: its buffer goes now
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

    async def handshake(self) -> Response | Request:
        """Wait for the server's handshake response (the client's request, on a server side).

        Raises websockets' handshake errors (``InvalidMessage`` for a
        connection that closed first).
        """
        return await self._handshake

    def respond(self, response: Response) -> None:
        """Server side: send the handshake response to the request :meth:`handshake` returned.

        A 101 opens the connection, and what the client sent after its request
        is read now; any other status is sent and the connection closed.
        """
        self.protocol.send_response(response)
        self.flush()
        if self.protocol.state is not State.OPEN:
            self._transport.close()
            return
        held, self._unparsed = self._unparsed, bytearray()
        self.start_reading(HANDSHAKE)
        if held:
            self.data_received(held)

    def stop_reading(self, reason: int) -> None:
        """Stop reading the socket for ``reason`` (``QUEUE_FULL``, ``HANDSHAKE`` or ``PEER_BUSY``)."""
        if not self._stopped_by and self._transport is not None:
            self._transport.pause_reading()
        self._stopped_by |= reason

    @property
    def reading_stopped(self) -> int:
        """Why reading is stopped: a mask of ``QUEUE_FULL``, ``HANDSHAKE`` and ``PEER_BUSY``; 0 while reading."""
        return self._stopped_by

    def start_reading(self, reason: int) -> None:
        """Drop ``reason`` to stop reading; reading resumes once no reason is left."""
        if self._stopped_by & reason:
            self._stopped_by &= ~reason
            if not self._stopped_by:
                self._transport.resume_reading()

    async def wait_frame(self) -> None:
        """Wait until a frame is queued or the connection has ended (one reader at a time)."""
        self._check_one_reader()
        if self.frames or self.ended:
            return
        self._reader = self._loop.create_future()
        try:
            await self._reader
        finally:
            self._reader = None

    async def deliver(self, handler: Callable[[bytes], None]) -> None:
        """Call ``handler(frame)`` for every frame, from the socket callback, until the connection ends.

        Queued frames go first. If ``handler`` raises, delivery stops, the
        frames after it stay queued, and the exception is raised here.
        """
        self._check_one_reader()
        while self.frames:
            handler(self.pop_frame())
        if self.ended:
            return
        self._reader = self._loop.create_future()
        self._handler = handler
        try:
            await self._reader
        finally:
            self._handler = None
            self._reader = None

    def pop_frame(self) -> bytes:
        """Take the oldest queued frame (resumes reading below the low-water mark)."""
        self._check_one_reader()
        frame = self.frames.popleft()
        if self._stopped_by & QUEUE_FULL and len(self.frames) < RECV_LOW_WATER:
            self.start_reading(QUEUE_FULL)
        return frame

    async def writable(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        while self.paused and not self._lost.done():
            if self._drain is None or self._drain.done():
                self._drain = self._loop.create_future()
            await asyncio.shield(self._drain)

    def send_text(self, data: bytes) -> None:
        """Write one text frame now (the caller checked that the protocol is OPEN)."""
        self._transport.write(self.encode_message(data, True))

    def send_message(self, data: bytes, text: bool) -> None:
        """Write one text or binary frame now, masked by a client (the caller checked that the protocol is OPEN)."""
        self._transport.write(self.encode_message(data, text))

    def encode_message(self, data: bytes, text: bool) -> bytes:
        """One whole text or binary frame of ``data`` as this side sends it (masked by a client)."""
        first, size = 0x81 if text else 0x82, len(data)
        if not self._mask_out:
            if size < 126:
                return bytes((first, size)) + data
            return (_HEAD16.pack(first, 126, size) if size < 65536 else _HEAD64.pack(first, 127, size)) + data
        pos = self._mask_pos
        if pos == _MASK_POOL:
            self._masks, pos = os.urandom(_MASK_POOL), 0
        self._mask_pos = pos + 4
        mask = self._masks[pos : pos + 4]
        if size < 126:
            head = bytes((first, 0x80 | size))
        else:
            head = _HEAD16.pack(first, 0xFE, size) if size < 65536 else _HEAD64.pack(first, 0xFF, size)
        return head + mask + apply_mask(data, mask)

    def start_close(self, code: int | None, reason: str = "") -> None:
        """Send a close frame now, if the connection is open (``code=None``: one without a status)."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)  # type: ignore[arg-type]
            self.flush()
            self._arm_close_timer()

    async def close(self, code: int, reason: str) -> None:
        """Run the closing handshake, waiting up to CLOSE_TIMEOUT for the server to drop TCP."""
        if self.protocol.state is State.OPEN:
            self.start_close(code, reason)
        elif not self._lost.done():
            self._arm_close_timer()
        await asyncio.shield(self._lost)

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is gone (closed or dropped)."""
        await asyncio.shield(self._lost)

    def buffered(self) -> int:
        """Bytes written and not yet sent: the transport's write buffer."""
        return self._transport.get_write_buffer_size()

    @property
    def connected(self) -> bool:
        """True once the transport (TCP, TLS) is up, before or after the opening handshake."""
        return self._transport is not None

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

    def _feed_head(self, data: bytes | bytearray) -> bytes | bytearray:
        """Give websockets the handshake's head (response, or request on a server) alone, so that
        frames start on a boundary; return the rest."""
        end = data.find(b"\r\n\r\n")
        if end < 0 and len(data) <= _MAX_HEAD:
            self._unparsed = bytearray(data)
            return b""
        end = len(data) if end < 0 else end + 4  # an overlong head: websockets rejects it
        self._response_fed = True  # what follows (a refusal's body) goes to websockets as it comes
        self._feed(data[:end])
        return data[end:]

    def _awaiting_answer(self) -> bool:
        # A server side that has the client's request and has not answered it yet (not: one closing).
        protocol = self.protocol
        return (bool(self._mask_in) and self._response_fed and protocol.state is State.CONNECTING
                and protocol.handshake_exc is None)

    def _split(self, data: bytes | bytearray) -> bool:
        """Cut ``data`` into frames: plain data frames go straight to ``_push``, all others to websockets.

        A plain frame is a whole text or binary message (FIN set, no reserved
        bits, masked if and only if we are the server) outside a fragmented
        message: the frame nearly every event arrives in. websockets parses everything else (control
        frames, fragments, frames it must reject), always from a frame boundary,
        because only whole frames reach it. A torn last frame waits in
        ``_unparsed`` for the next read. Returns whether websockets got a frame.
        """
        protocol, mask_bit = self.protocol, self._mask_in
        partial, fed = partial_size(protocol), False
        plain, limit = partial is None, self._max_size - (partial or 0)
        pos, size = 0, len(data)
        while size - pos >= 2:
            first, second = data[pos], data[pos + 1]
            if second & 0x80 != mask_bit or first & 0x0F not in _OPCODES:
                self._feed(data[pos:])  # websockets rejects this head at once: incorrect masking, invalid opcode
                return True
            length, start = second & 0x7F, pos + 2
            if length >= 126:
                start += 2 if length == 126 else 8
                if start > size:
                    break
                length = int.from_bytes(data[pos + 2 : start], "big")
            if length > limit:  # websockets fails the connection (1009) at the header, before any payload
                self._feed(data[pos:])
                return True
            if mask_bit:
                start += 4  # a client's frame carries its masking key
            end = start + length
            whole_message = plain and first in _PLAIN
            if end > size and whole_message:
                if end - size >= READ_BUFFER:  # a long message: the rest is read straight into its place
                    self._start_direct(data, pos, end)
                    return fed
                self._missing = end - size  # it grows in place until whole
                break
            if end > size:  # any other frame goes to websockets as it comes: it may reject its header now
                self._feed(data[pos:])
                self._owed, pos, fed = end - size, size, True
                break
            if whole_message:
                if mask_bit:
                    message = apply_mask(memoryview(data)[start:end], data[start - 4 : start])
                else:
                    message = bytes(memoryview(data)[start:end])  # one copy: slicing a bytearray would copy twice
                text = first == 0x81
                if text and not message.isascii() and not self._is_utf8(message):
                    return True
                self._push(message, text)
            else:
                self._feed(data[pos:end])
                partial = partial_size(protocol)
                plain = partial is None and protocol.state is State.OPEN
                limit = self._max_size - (partial or 0)  # websockets bounds a fragment by what is left
                fed = True
            pos = end
        if pos < size:
            # A frame torn by the read waits for the rest; a long one grows in place (no copy per read).
            self._unparsed = data if pos == 0 and type(data) is bytearray else bytearray(data[pos:])
        return fed

    def _start_direct(self, data: bytes | bytearray, pos: int, end: int) -> None:
        # The whole frame gets its buffer now; get_buffer() hands out the part still to come.
        frame = bytearray(end - pos)
        frame[: len(data) - pos] = memoryview(data)[pos:]
        self._unparsed, self._direct, self._filled = bytearray(), memoryview(frame), len(data) - pos

    def partial_bytes(self) -> int:
        """Bytes of a frame read so far and not yet whole (a long message's, read straight into place, too)."""
        return self._filled if self._direct is not None else len(self._unparsed)

    def _drop_partial(self) -> None:
        self._direct, self._unparsed = None, bytearray()

    def _take_direct(self) -> bytearray:
        direct, self._direct = self._direct, None
        frame = direct.obj
        direct.release()
        return frame  # type: ignore[return-value]

    def _feed(self, data: bytes | bytearray) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if type(event) is Frame:
                if not self._failed:
                    self._on_frame(event)
            else:
                self._on_handshake(event)

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode in _DATA:
            if frame.fin:
                self._push_message(frame.data, opcode is Opcode.TEXT)
            else:
                self._fragments = [frame.data]
                self._fragmented_text = opcode is Opcode.TEXT
        elif opcode is Opcode.CONT and self._fragments is not None:
            self._fragments.append(frame.data)
            if frame.fin:
                message, self._fragments = b"".join(self._fragments), None
                self._push_message(message, self._fragmented_text)
        elif opcode is Opcode.PONG and frame.data == self._ping_data:
            self._ping_data = None
            self._ping_timer.cancel()
            self._ping_timer = self._loop.call_later(self._ping_interval, self._send_ping)

    def _push_message(self, message: bytes, text: bool) -> None:
        if not text or message.isascii() or self._is_utf8(message):
            self._push(message, text)

    def _is_utf8(self, message: bytes) -> bool:
        """Whether a text message is UTF-8; if not, fail the connection with 1007 (RFC 6455 section 8.1)."""
        try:
            message.decode()
        except UnicodeDecodeError as exc:
            self._failed = True
            self.protocol.fail(1007, f"invalid UTF-8: {exc.reason} at position {exc.start}")
            return False
        return True

    def _push(self, frame: bytes, text: bool) -> None:
        # ``text``: a text message (a subclass that forwards messages keeps their kind).
        if self._handler is not None and not self._reader.done():  # done: deliver() failed or was cancelled
            try:
                self._handler(frame)
            except Exception as exc:  # the handler's failure ends delivery, not the connection
                self._reader.set_exception(exc)
            return
        self.frames.append(frame)
        if len(self.frames) > RECV_HIGH_WATER:
            self.stop_reading(QUEUE_FULL)

    def _on_handshake(self, event: Response | Request) -> None:
        if self._handshake.done():
            return
        if self.protocol.handshake_exc is not None:
            self._handshake.set_exception(self.protocol.handshake_exc)
        else:
            self._handshake.set_result(event)

    def _check_one_reader(self) -> None:
        # A waiting reader owns the queue, even when woken and not yet running.
        if self._reader is not None:
            raise RuntimeError("another task is already receiving; receive from one task only")

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
        self.ping_expired = self._ping_timeout
        self._failed = True
        self.protocol.fail(1011, "keepalive ping timeout")
        self.flush()
        # The server is gone or stuck: drop TCP now rather than wait for it to read our close
        # frame, and tell the reader at once.
        self.ended = True
        self._wake_reader()
        self._transport.abort()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and not self._lost.done():
            self._close_timer = self._loop.call_later(self.close_timeout, self.abort)


async def open_websocket(
    url: str,
    headers: dict,
    *,
    user_agent: str | None,
    open_timeout: float | None,
    ping_interval: float | None,
    ping_timeout: float | None,
    logger: logging.Logger,
    proxy: str | Literal[True] | None = None,
    max_size: int | None = None,
    factory: Callable[[ClientProtocol], WebSocketIO] | None = None,
) -> WebSocketIO:
    """Connect TCP (TLS for ``wss://``), run the opening handshake, start keepalive.

    ``proxy``: ``None`` connects directly; ``True`` takes an HTTP(S) proxy from
    the environment as websockets does (see :func:`choose_proxy`); a string is
    the proxy's URL. ``open_timeout`` covers the proxy, the tunnel, TLS and the
    handshake. No extensions (no compression); ``max_size`` bounds an incoming
    message (bytes; ``None``: no bound). ``factory(protocol)``, when given,
    builds the :class:`WebSocketIO` (a subclass, say) instead of this module,
    and then owns its keepalive settings. Raises ``InvalidURI``, ``InvalidProxy``,
    :class:`ProxyFailure`, ``InvalidStatus``/``InvalidHandshake``, ``OSError``
    or :class:`OpenTimeout`.
    """
    uri = parse_uri(url)
    via = choose_proxy(uri, proxy)
    protocol = ClientProtocol(uri, max_size=max_size, logger=logger)
    request = protocol.connect()
    for name, value in headers.items():
        request.headers[name] = value
    if user_agent is not None and "User-Agent" not in request.headers:
        request.headers["User-Agent"] = user_agent
    protocol.send_request(request)
    loop = asyncio.get_running_loop()
    if factory is None:
        io = WebSocketIO(protocol, ping_interval=ping_interval, ping_timeout=ping_timeout)
    else:
        io = factory(protocol)
    tls = _tls_context() if uri.secure else None
    tunnel: asyncio.Transport | None = None
    try:
        async with asyncio.timeout(open_timeout):
            if via is None:
                await loop.create_connection(
                    lambda: io, uri.host, uri.port, ssl=tls, server_hostname=uri.host if tls else None
                )
            else:
                logger.debug("= connecting through the HTTP proxy %s", proxy_address(via))
                tunnel = await _open_tunnel(via, uri, user_agent)
                tunnel.set_protocol(io)
                transport = tunnel if tls is None else await loop.start_tls(tunnel, io, tls, server_hostname=uri.host)
                io.connection_made(transport)
            await io.handshake()
    except BaseException as exc:
        io.abort()
        if tunnel is not None:
            tunnel.abort()
        elif via is not None and isinstance(exc, TimeoutError):  # the deadline passed before the tunnel opened
            raise ProxyFailure(proxy_address(via), exc) from exc
        if isinstance(exc, TimeoutError):
            raise OpenTimeout(open_timeout, connected=io.connected) from exc
        raise
    io.start_keepalive()
    return io


class OpenTimeout(TimeoutError):
    """``open_timeout`` (s) passed before the websocket opened.

    ``connected`` is True when TCP (and TLS) connected but the server never
    completed the opening handshake, False when the connection itself did not open.
    """

    def __init__(self, timeout: float | None, *, connected: bool):
        super().__init__(f"timed out after {timeout:g} s" if timeout is not None else "timed out")
        self.timeout = timeout
        self.connected = connected


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Built once: loading the CA store costs milliseconds, and a relay opens hundreds of sessions.
    return ssl.create_default_context()


class ProxyFailure(Exception):
    """The tunnel through the HTTP proxy at ``proxy`` (``host:port``, never credentials) did not open.

    ``error`` says why: ``OSError`` (the proxy is unreachable), ``TimeoutError``
    (``open_timeout`` passed first), websockets' ``InvalidProxyStatus`` (the
    proxy refused: ``error.response.status_code``) or ``InvalidProxyMessage``.
    """

    def __init__(self, proxy: str, error: BaseException):
        super().__init__(f"through the proxy {proxy}: {error}")
        self.proxy = proxy
        self.error = error


def choose_proxy(uri: WebSocketURI, proxy: str | Literal[True] | None) -> Proxy | None:
    """The HTTP(S) proxy to reach ``uri`` through, or ``None`` to connect directly.

    ``True`` asks the environment as websockets does (``get_proxy``:
    ``wss_proxy``/``https_proxy`` for ``wss://``, also ``ws_proxy``/``http_proxy``
    for ``ws://``, in either case, skipping hosts in ``no_proxy``) and never
    proxies a loopback host (``localhost``, 127.0.0.0/8, ``::1``), which a
    proxy could not reach anyway. A URL without a scheme (``host:port``) means
    ``http://``. Raises ``InvalidProxy`` (naming the proxy without credentials)
    for a malformed URL or a SOCKS proxy.
    """
    if proxy is None or proxy is False:
        return None
    from_env = proxy is True
    if from_env:
        if _is_loopback(uri.host):
            return None
        proxy = get_proxy(uri)
        if proxy is None:
            return None
    if "://" not in proxy:
        proxy = f"http://{proxy}"
    try:
        parsed = parse_proxy(proxy)
    except (InvalidProxy, ValueError) as exc:  # both may quote the URL, credentials and all
        reason = exc.msg if isinstance(exc, InvalidProxy) else "the host or port is not valid"
        raise InvalidProxy(_shown_proxy(proxy), reason) from None
    if parsed.scheme.startswith("socks"):
        where, fixes = ("the environment's proxy", ", the host in NO_PROXY") if from_env else ("the proxy", "")
        raise InvalidProxy(
            _shown_proxy(proxy),
            f"{where} is a SOCKS proxy, which rtproto does not support; use an http:// proxy{fixes}, or proxy=None",
        )
    return parsed


def proxy_address(proxy: Proxy) -> str:
    """``host:port`` of the proxy, for messages: never its credentials."""
    host = f"[{proxy.host}]" if ":" in proxy.host else proxy.host
    return f"{host}:{proxy.port}"


async def _open_tunnel(proxy: Proxy, uri: WebSocketURI, user_agent: str | None) -> asyncio.Transport:
    """TCP (TLS for ``https://``) to the proxy, ``CONNECT host:port``, wait for a 2xx; returns the tunnel."""
    loop = asyncio.get_running_loop()
    tls = _tls_context() if proxy.scheme == "https" else None
    try:
        transport, connection = await loop.create_connection(
            lambda: HTTPProxyConnection(uri, proxy, user_agent),
            proxy.host,
            proxy.port,
            ssl=tls,
            server_hostname=proxy.host if tls else None,
        )
    except OSError as exc:
        raise ProxyFailure(proxy_address(proxy), exc) from exc
    try:
        await connection.response
    except BaseException as exc:
        transport.abort()
        if isinstance(exc, (OSError, ProxyError)):
            raise ProxyFailure(proxy_address(proxy), exc) from exc
        raise
    return transport


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _shown_proxy(proxy: str) -> str:
    """The proxy URL as ``scheme://host:port``, without credentials."""
    try:
        parts = urlsplit(proxy)
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "<unparsable proxy URL>"
    return f"{parts.scheme}://{netloc}"
