"""rtproto._wsio's hot paths against a websocket server written by hand on 127.0.0.1.

``WebSocketIO`` cuts the server's byte stream into frames itself (a whole
unmasked text or binary frame is taken straight out, every other frame is fed
to websockets whole, a torn frame waits for the next read) and writes masked
text frames itself. These tests drive it through the public client,
``rtproto.transport.connect``, against a raw TCP server (``asyncio.start_server``)
that answers the opening handshake by hand, writes crafted frames in chosen
chunkings and unmasks what the client sends. What they assert (the frames
delivered, the frames the client writes) holds however TCP coalesces the
writes; the chunkings make the torn-frame paths run, which ``reads`` checks.
The last tests round-trip through a real ``websockets`` server.
Every test is bounded by ``asyncio.timeout(LIMIT)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass

import pytest
from websockets.asyncio.server import serve
from websockets.utils import accept_key

from rtproto import _wsio
from rtproto.errors import AuthenticationError, ConnectionClosed, TransportError
from rtproto.transport import connect

LIMIT = 10  # seconds; every test finishes far below this
PAUSE = 3  # event-loop passes between two writes of the server: the client reads each write apart

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MODES = ["recv", "aiter", "deliver"]
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000]  # 7-, 16- and 64-bit lengths and their edges


# -- frames, both ways -------------------------------------------------------------


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bytes | None = None) -> bytes:
    """One frame as a server (unmasked) or, with ``mask``, as a client would write it."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    size, bit = len(payload), 0x80 if mask is not None else 0
    if size < 126:
        head += bytes([bit | size])
    elif size < 65536:
        head += bytes([bit | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + size.to_bytes(8, "big")
    return head + payload if mask is None else head + mask + xor(payload, mask)


def text(payload: bytes | str, *, fin: bool = True) -> bytes:
    return frame(TEXT, payload.encode() if isinstance(payload, str) else payload, fin=fin)


def binary(payload: bytes, *, fin: bool = True) -> bytes:
    return frame(BINARY, payload, fin=fin)


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(CLOSE, close_payload(code, reason))


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


def xor(data: bytes, mask: bytes) -> bytes:
    """Mask or unmask, independently of websockets' apply_mask."""
    size = len(data)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def header_size(data: bytes) -> int:
    second = data[1]
    return 2 + {126: 2, 127: 8}.get(second & 0x7F, 0) + (4 if second & 0x80 else 0)


def data(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def utf8(size: int, seed: int) -> bytes:
    """Random UTF-8 text of exactly ``size`` bytes, with 2-, 3- and 4-byte characters: a valid text payload."""
    rng, out = random.Random(seed), bytearray()
    while len(out) < size:
        char = rng.choice(("a", "~", "é", "€", "😀")).encode()
        out += char if len(out) + len(char) <= size else b"a"
    return bytes(out)


@dataclass
class Sent:
    """A frame the client wrote, as the server read it."""

    fin: bool
    rsv: int
    opcode: int
    masked: bool
    length_bits: int  # 7, 16 or 64: how the client encoded the length
    mask: bytes
    payload: bytes  # unmasked


# -- cutting a byte stream into writes ---------------------------------------------------


def boundaries(frames: list[bytes]) -> list[int]:
    """Cut between frames: one frame a write."""
    ends, at = [], 0
    for one in frames[:-1]:
        at += len(one)
        ends.append(at)
    return ends


def torn(frames: list[bytes]) -> list[int]:
    """Cut every frame in its header (inside an extended length too), at its end, in its payload."""
    cuts, start = set(), 0
    for one in frames:
        head, size = header_size(one), len(one)
        for at in (1, 2, 3, head // 2 + 1, head - 1, head, head + 1, size // 2, size - 1):
            if 0 < at < size:
                cuts.add(start + at)
        start += size
    return sorted(cuts)


def every_byte(frames: list[bytes]) -> list[int]:
    return list(range(1, sum(map(len, frames))))


def random_cuts(frames: list[bytes], count: int = 300, seed: int = 7) -> list[int]:
    size = sum(map(len, frames))
    return sorted(random.Random(seed).sample(range(1, size), min(count, size - 1)))


CHUNKINGS = {"one_write": lambda frames: [], "frame_per_write": boundaries, "torn": torn, "random": random_cuts}


# -- the hand-written server ---------------------------------------------------------------


class Peer:
    """The server's end of one TCP connection: websocket framing done by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    async def read_request(self) -> bytes:
        """Read the opening handshake request; return its Sec-WebSocket-Key."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0].startswith(b"GET /v1/realtime"), lines[0]
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:] if line)}
        assert fields[b"upgrade"].lower() == b"websocket"
        return fields[b"sec-websocket-key"]

    async def write(self, stream: bytes, cuts=()) -> None:
        """Write ``stream`` cut at ``cuts`` (sorted offsets), one write and a pause a piece."""
        start = 0
        for at in [*cuts, len(stream)]:
            if at > start:
                self.writer.write(stream[start:at])
                await self.writer.drain()
                if at < len(stream):
                    for _ in range(PAUSE):
                        await asyncio.sleep(0)
            start = at

    async def read_frame(self) -> Sent:
        first, second = await self.reader.readexactly(2)
        size, bits = second & 0x7F, 7
        if size == 126:
            size, bits = int.from_bytes(await self.reader.readexactly(2), "big"), 16
        elif size == 127:
            size, bits = int.from_bytes(await self.reader.readexactly(8), "big"), 64
        mask = await self.reader.readexactly(4) if second & 0x80 else b""
        payload = await self.reader.readexactly(size)
        return Sent(
            fin=bool(first & 0x80),
            rsv=first >> 4 & 7,
            opcode=first & 0x0F,
            masked=bool(second & 0x80),
            length_bits=bits,
            mask=mask,
            payload=xor(payload, mask) if mask else payload,
        )

    async def expect_close(self, code: int, reason: str = "") -> None:
        """The next frame from the client is a masked close frame with ``code`` and ``reason``."""
        sent = await self.read_frame()
        assert (sent.opcode, sent.fin, sent.masked) == (CLOSE, True, True)
        assert sent.payload == close_payload(code, reason)

    async def expect_eof(self) -> None:
        """Half-close, then check that the client writes nothing more and closes too."""
        self.writer.write_eof()
        assert await self.reader.read() == b""


def response(key: bytes) -> bytes:
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key.decode()).encode() + b"\r\n\r\n"
    )


@contextlib.asynccontextmanager
async def raw_server():
    """A TCP server on 127.0.0.1:0; yields ``(url, peers)``, a queue of the accepted :class:`Peer`."""
    peers: asyncio.Queue[Peer] = asyncio.Queue()
    accepted: list[Peer] = []

    async def on_client(reader, writer):
        peer = Peer(reader, writer)
        accepted.append(peer)
        await peers.put(peer)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime", peers
    finally:
        for peer in accepted:
            peer.writer.close()
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def opened(first: bytes = b"", cuts=(), *, head_cuts=(), **options):
    """Yield ``(conn, peer)``: the handshake answered by hand, ``first`` written right after the head.

    ``options`` go to ``connect`` (keepalive is off unless they turn it on).

    The 101 response and ``first`` go out as ONE stream, cut at ``head_cuts``
    (offsets into the head) and ``cuts`` (offsets into ``first``).
    """
    async with raw_server() as (url, peers):
        opening = asyncio.ensure_future(connect(url, proxy=None, **{"ping_interval": None, **options}))
        conn = None
        try:
            peer = await peers.get()
            head = response(await peer.read_request())
            await peer.write(head + first, [*head_cuts, *(len(head) + at for at in cuts)])
            conn = await opening
            yield conn, peer
        finally:
            if conn is None:
                opening.cancel()
                with contextlib.suppress(BaseException):
                    await opening
            else:
                peer.writer.close()  # the server drops TCP, so that close() never waits for its timer
                await conn.close()


@pytest.fixture
def reads(monkeypatch):
    """``[(bytes read, bytes left torn)]`` per ``data_received`` call, to check that a chunking tore frames."""
    log: list[tuple[int, int]] = []
    original = _wsio.WebSocketIO.data_received

    def data_received(self, data):
        original(self, data)
        log.append((len(data), len(self._unparsed)))

    monkeypatch.setattr(_wsio.WebSocketIO, "data_received", data_received)
    return log


def tore(reads) -> bool:
    return any(left for _, left in reads)


async def collect(conn, mode: str) -> list[bytes]:
    """Every frame until the connection ends normally, received by ``recv``, ``async for`` or ``deliver``."""
    got: list[bytes] = []
    if mode == "recv":
        while True:
            try:
                got.append(await conn.recv())
            except ConnectionClosed as exc:
                assert exc.normal, exc
                return got
    if mode == "aiter":
        async for one in conn:
            got.append(one)
        return got
    await conn.deliver(got.append)
    return got


# -- the opening handshake ---------------------------------------------------------------


async def test_handshake_response_and_first_frames_in_one_write():
    frames = [text("a"), frame(PING, b"p"), binary(b"\x00\xff"), text(utf8(300, 1)), close_frame(1000)]
    async with asyncio.timeout(LIMIT):
        async with opened(b"".join(frames)) as (conn, peer):
            assert await collect(conn, "recv") == [b"a", b"\x00\xff", utf8(300, 1)]
            pong = await peer.read_frame()
            assert (pong.opcode, pong.payload, pong.masked) == (PONG, b"p", True)
            await peer.expect_close(1000)


@pytest.mark.parametrize(
    "where",
    [
        "first_40_bytes_one_by_one",
        "inside_the_blank_line",
        "head_then_frames",
        "frames_start_with_the_head_end",
        "a_frame_torn_in_the_head_s_read",
    ],
)
async def test_handshake_response_head_split_across_reads(where, reads):
    frames = [text("one"), text(utf8(200, 2)), close_frame(1000)]
    head_size = len(response(b"x" * 24))  # the accept key is always 28 characters
    head_cuts = {
        "first_40_bytes_one_by_one": list(range(1, 41)),
        "inside_the_blank_line": [head_size - 3, head_size - 2, head_size - 1],
        "head_then_frames": [head_size],
        "frames_start_with_the_head_end": [head_size - 1],
        "a_frame_torn_in_the_head_s_read": [head_size + len(frames[0]) + 50],  # the head, a frame, a torn one
    }[where]
    async with asyncio.timeout(LIMIT):
        async with opened(b"".join(frames), head_cuts=head_cuts) as (conn, peer):
            assert await collect(conn, "aiter") == [b"one", utf8(200, 2)]
            await peer.expect_close(1000)
    if where == "first_40_bytes_one_by_one":
        assert tore(reads)  # a part of the head waited for the next read


async def test_eof_inside_the_handshake_head_fails_the_handshake():
    async with asyncio.timeout(LIMIT):
        async with raw_server() as (url, peers):
            opening = asyncio.ensure_future(connect(url, proxy=None, ping_interval=None))
            peer = await peers.get()
            head = response(await peer.read_request())
            await peer.write(head[:30], [10, 20])
            peer.writer.close()
            with pytest.raises(TransportError):
                await opening


async def test_refused_handshake_with_its_body_in_a_later_read_raises_at_once():
    body = b'{"error": {"message": "Incorrect API key provided"}}'
    head = b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    async with asyncio.timeout(LIMIT):
        async with raw_server() as (url, peers):
            opening = asyncio.ensure_future(connect(url, proxy=None, ping_interval=None, open_timeout=1))
            peer = await peers.get()
            await peer.read_request()
            await peer.write(head + body, [len(head)])  # the server keeps the connection open
            with pytest.raises(AuthenticationError):
                await opening


# -- data frames, cut every way ------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunking", list(CHUNKINGS))
async def test_frames_of_every_length_encoding_arrive_once_in_order_byte_exact(chunking, mode, reads):
    payloads = [utf8(size, seed) for seed, size in enumerate(SIZES)]
    payloads += [data(size, seed) for seed, size in enumerate(SIZES[::-1])]
    frames = [text(p) for p in payloads[: len(SIZES)]] + [binary(p) for p in payloads[len(SIZES) :]]
    frames.append(close_frame(1000, "done"))
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            got, _ = await asyncio.gather(collect(conn, mode), peer.write(b"".join(frames), CHUNKINGS[chunking](frames)))
            assert got == payloads
            assert conn.stats.frames_received == len(payloads)
            await peer.expect_close(1000, "done")
    if chunking in ("torn", "random"):
        assert tore(reads)


@pytest.mark.parametrize("mode", MODES)
async def test_small_frames_written_one_byte_at_a_time(mode, reads):
    small = [0, 1, 125, 126, 127]
    payloads = [utf8(size, seed) for seed, size in enumerate(small)] + [data(size, seed) for seed, size in enumerate(small)]
    frames = [text(p) for p in payloads[:5]] + [binary(p) for p in payloads[5:]] + [close_frame(1000)]
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            got, _ = await asyncio.gather(collect(conn, mode), peer.write(b"".join(frames), every_byte(frames)))
            assert got == payloads
            await peer.expect_close(1000)
    assert tore(reads)


async def test_text_and_binary_frames_come_out_as_the_same_bytes():
    payloads = [b"{}", b"\x00\x01\xfe\xff", "é€😀".encode(), b"", data(1000, 3)]
    frames = [text(payloads[0]), binary(payloads[1]), text(payloads[2]), binary(payloads[3]), binary(payloads[4])]
    async with asyncio.timeout(LIMIT):
        async with opened(b"".join(frames)) as (conn, peer):
            got = [await conn.recv() for _ in payloads]
            assert got == payloads
            assert all(type(one) is bytes for one in got)


# -- control frames -------------------------------------------------------------------------


@pytest.mark.parametrize("chunking", ["one_write", "torn", "every_byte"])
@pytest.mark.parametrize("mode", MODES)
async def test_pings_between_data_frames_are_answered_and_an_unsolicited_pong_is_ignored(chunking, mode):
    pings = [b"ping-1", b"", data(125, 4)]  # 125 bytes: the longest control frame
    frames = [
        text("a"),
        frame(PING, pings[0]),
        text(utf8(130, 5)),
        frame(PING, pings[1]),
        frame(PONG, b"unsolicited"),
        binary(b"b"),
        frame(PING, pings[2]),
        text("c"),
        close_frame(1000),
    ]
    cut = every_byte if chunking == "every_byte" else CHUNKINGS[chunking]
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            got, _ = await asyncio.gather(collect(conn, mode), peer.write(b"".join(frames), cut(frames)))
            assert got == [b"a", utf8(130, 5), b"b", b"c"]
            for payload in pings:
                pong = await peer.read_frame()
                assert (pong.opcode, pong.fin, pong.masked, pong.payload) == (PONG, True, True, payload)
            await peer.expect_close(1000)  # and nothing answered the unsolicited pong


# -- fragmented messages ------------------------------------------------------------------------


FRAGMENTED = [
    text("before"),
    text("frag-", fin=False),
    frame(CONT, b"men", fin=False),
    frame(PING, b"inside"),
    frame(CONT, b"ted"),
    text("between"),
    binary(data(70000, 6), fin=False),
    frame(CONT, b"", fin=False),
    frame(CONT, data(126, 7)),
    text(b"", fin=False),
    frame(CONT, b""),
    text("after"),
    close_frame(1000),
]
JOINED = [b"before", b"frag-mented", b"between", data(70000, 6) + data(126, 7), b"", b"after"]


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("mode", MODES)
async def test_fragmented_messages_arrive_joined_with_a_ping_inside(chunking, mode):
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            stream = b"".join(FRAGMENTED)
            got, _ = await asyncio.gather(collect(conn, mode), peer.write(stream, CHUNKINGS[chunking](FRAGMENTED)))
            assert got == JOINED
            pong = await peer.read_frame()
            assert (pong.opcode, pong.payload) == (PONG, b"inside")
            await peer.expect_close(1000)


async def test_a_small_fragmented_message_written_one_byte_at_a_time():
    frames = [text("x"), text("ab", fin=False), frame(PING, b"!"), frame(CONT, b"cd", fin=False), frame(CONT, b"e")]
    frames += [binary(b"y"), close_frame(1000)]
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            got, _ = await asyncio.gather(collect(conn, "recv"), peer.write(b"".join(frames), every_byte(frames)))
            assert got == [b"x", b"abcde", b"y"]
            pong = await peer.read_frame()
            assert (pong.opcode, pong.payload) == (PONG, b"!")
            await peer.expect_close(1000)


# -- frames websockets must reject: the client fails the connection with 1002 ---------------------


VIOLATIONS = {
    "text_inside_a_fragmented_message": (text("x", fin=False) + text("y"), "expected a continuation frame"),
    "binary_inside_a_fragmented_message": (binary(b"x", fin=False) + binary(b"y"), "expected a continuation frame"),
    "masked_frame": (frame(TEXT, b"masked", mask=b"\x01\x02\x03\x04"), "incorrect masking"),
    "masked_frame_16bit_length": (frame(BINARY, data(300, 8), mask=b"\xaa\xbb\xcc\xdd"), "incorrect masking"),
    "masked_frame_without_payload": (frame(TEXT, b"", mask=b"\x00\x00\x00\x00"), "incorrect masking"),
    "rsv1_set": (frame(TEXT, b"deflated?", rsv=4), "reserved bits must be 0"),
    "rsv2_set": (frame(BINARY, b"x", rsv=2), "reserved bits must be 0"),
    "rsv3_set_16bit_length": (frame(TEXT, data(200, 9), rsv=1), "reserved bits must be 0"),
    "continuation_without_a_start": (frame(CONT, b"orphan"), "unexpected continuation frame"),
    "reserved_opcode": (frame(0x3, b"?"), "invalid opcode"),
    "control_frame_too_long": (frame(PING, data(126, 10)), "control frame too long"),
    "fragmented_control_frame": (frame(PING, b"p", fin=False), "fragmented control frame"),
}


@pytest.mark.parametrize("chunking", ["one_write", "every_byte"])
@pytest.mark.parametrize("violation", list(VIOLATIONS))
async def test_a_frame_websockets_rejects_fails_the_connection_with_1002(violation, chunking):
    bad, reason = VIOLATIONS[violation]
    frames = [text("before"), bad, text("after"), frame(PING, b"late")]
    cut = every_byte if chunking == "every_byte" else CHUNKINGS[chunking]
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            await peer.write(b"".join(frames), cut(frames))
            assert await conn.recv() == b"before"
            for _ in range(2):
                with pytest.raises(ConnectionClosed) as info:
                    await conn.recv()
                assert (info.value.code, info.value.reason) == (1002, reason)
            assert not conn._io.frames  # nothing after the bad frame was delivered
            await peer.expect_close(1002, reason)
            await peer.expect_eof()  # no pong for the late ping: the client ignores all after failing
            started = time.monotonic()
            await conn.close()
            assert time.monotonic() - started < 1


@pytest.mark.parametrize("mode", ["aiter", "deliver"])
async def test_iteration_and_deliver_raise_on_a_protocol_violation(mode):
    async with asyncio.timeout(LIMIT):
        async with opened(text("ok") + frame(TEXT, b"m", mask=b"abcd")) as (conn, peer):
            got = []
            with pytest.raises(ConnectionClosed) as info:
                if mode == "aiter":
                    async for one in conn:
                        got.append(one)
                else:
                    await conn.deliver(got.append)
            assert (info.value.code, got) == (1002, [b"ok"])
            await peer.expect_close(1002, "incorrect masking")


# -- what websockets leaves to its I/O layer: UTF-8 (1007) and the size bound (1009) ---------------


NOT_UTF8 = {
    "plain_frame": [text(b'{"delta":"\xff"}')],
    "truncated_character": [text("é€".encode()[:-1])],
    "surrogate": [text(b"\xed\xa0\x80")],
    "overlong_slash": [text(b"\xc0\xaf")],
    "fragmented": [text(b"ok ", fin=False), frame(PING, b"p"), frame(CONT, b"\xfe\xff")],
    "character_never_completed": [text("€".encode()[:2], fin=False), frame(CONT, b"x")],
}


@pytest.mark.parametrize("chunking", ["one_write", "every_byte"])
@pytest.mark.parametrize("case", list(NOT_UTF8))
async def test_a_text_message_that_is_not_utf8_fails_the_connection_with_1007(case, chunking):
    frames = [text("before"), binary(b"\xff binary is not text"), *NOT_UTF8[case], text("after"), frame(PING, b"late")]
    cut = every_byte if chunking == "every_byte" else CHUNKINGS[chunking]
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            await peer.write(b"".join(frames), cut(frames))
            assert [await conn.recv(), await conn.recv()] == [b"before", b"\xff binary is not text"]
            with pytest.raises(ConnectionClosed) as info:
                await conn.recv()
            closed = info.value
            assert (closed.code, closed.by) == (1007, "client")
            assert closed.reason.startswith("invalid UTF-8: ") and " at position " in closed.reason
            assert not conn._io.frames  # nothing after the bad message is delivered
            sent = await peer.read_frame()
            if case == "fragmented":  # the ping inside the message was answered before the bad fragment came
                assert (sent.opcode, sent.payload) == (PONG, b"p")
                sent = await peer.read_frame()
            assert (sent.opcode, sent.payload) == (CLOSE, close_payload(1007, closed.reason))
            await peer.expect_eof()  # no pong for the late ping


async def test_utf8_characters_cut_across_fragments_and_reads_arrive_whole():
    message = "é€😀 text".encode()
    frames = [text(message[:1], fin=False), frame(CONT, message[1:4], fin=False), frame(PING, b"p"),
              frame(CONT, message[4:6], fin=False), frame(CONT, message[6:]), text(message), close_frame(1000)]
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            got, _ = await asyncio.gather(collect(conn, "recv"), peer.write(b"".join(frames), every_byte(frames)))
            assert got == [message, message]


@pytest.mark.parametrize("whole", [False, True])
async def test_a_frame_over_max_size_fails_with_1009_at_its_header(whole):
    # The header announces 70000 bytes; with whole=False the payload never comes: the client fails at once.
    big = binary(data(70000, 13))
    async with asyncio.timeout(LIMIT):
        async with opened(text("ok") + (big if whole else big[:20]), max_size=65536) as (conn, peer):
            assert await conn.recv() == b"ok"
            with pytest.raises(ConnectionClosed) as info:
                await conn.recv()
            assert (info.value.code, info.value.by) == (1009, "client")
            assert info.value.reason == "frame with 70000 bytes exceeds limit of 65536 bytes"
            await peer.expect_close(1009, info.value.reason)


async def test_a_fragmented_message_over_max_size_fails_with_1009():
    frames = [text(utf8(40000, 14), fin=False), frame(CONT, utf8(40000, 15))]
    async with asyncio.timeout(LIMIT):
        async with opened(b"".join(frames), max_size=65536) as (conn, peer):
            with pytest.raises(ConnectionClosed) as info:
                await conn.recv()
            assert (info.value.code, info.value.by) == (1009, "client")
            await peer.expect_close(1009, info.value.reason)


async def test_a_message_at_max_size_passes():
    payload = data(65536, 16)
    async with asyncio.timeout(LIMIT):
        async with opened(binary(payload) + close_frame(1000), max_size=65536) as (conn, peer):
            assert await collect(conn, "recv") == [payload]


async def test_an_unanswered_ping_fails_the_connection_with_1011_at_once():
    async with asyncio.timeout(LIMIT):
        async with opened(ping_interval=0.05, ping_timeout=0.1) as (conn, peer):
            ping = await peer.read_frame()  # read and never answered
            assert ping.opcode == PING
            with pytest.raises(ConnectionClosed) as info:
                await conn.recv()
            closed = info.value
            assert (closed.code, closed.reason, closed.by) == (1011, "keepalive ping timeout", "client")
            assert closed.cause == "the server stopped answering pings (no pong within 0.1 s)"
            await peer.expect_close(1011, "keepalive ping timeout")
            assert await peer.reader.read() == b""  # and TCP is dropped without waiting for the server
            with pytest.raises(ConnectionClosed):
                await conn.send("{}")


async def test_answered_pings_keep_the_connection_open():
    async with asyncio.timeout(LIMIT):
        async with opened(ping_interval=0.01, ping_timeout=0.5) as (conn, peer):
            for _ in range(5):  # five pings, each answered only after the next one was due
                ping = await peer.read_frame()
                assert ping.opcode == PING and ping.masked
                await peer.write(frame(PONG, ping.payload))
            await peer.write(text("still open"))
            assert await conn.recv() == b"still open"


# -- the closing handshake and the end of the stream ---------------------------------------------


@pytest.mark.parametrize("chunking", ["one_write", "every_byte"])
@pytest.mark.parametrize("code, reason", [(1000, "bye"), (1001, ""), (1000, "é" * 61)])
async def test_a_close_frame_ends_iteration_is_echoed_and_later_frames_are_dropped(code, reason, chunking):
    frames = [text("a"), close_frame(code, reason), text("dropped"), frame(PING, b"late")]
    cut = every_byte if chunking == "every_byte" else CHUNKINGS[chunking]
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            got, _ = await asyncio.gather(collect(conn, "aiter"), peer.write(b"".join(frames), cut(frames)))
            assert got == [b"a"]
            await peer.expect_close(code, reason)  # websockets echoes the close frame as it came
            await peer.write(text("later") + frame(PING, b"later"))
            with pytest.raises(ConnectionClosed) as info:
                await conn.recv()
            assert (info.value.code, info.value.reason, info.value.normal) == (code, reason, True)
            await peer.expect_eof()  # nothing more from the client: no pong, no second close
            assert not conn._io.frames
            started = time.monotonic()
            await conn.close()
            assert time.monotonic() - started < 1 and conn.closed


async def test_an_abnormal_close_code_raises_from_iteration_and_is_echoed():
    async with asyncio.timeout(LIMIT):
        async with opened(text("a") + close_frame(4321, "custom")) as (conn, peer):
            got = []
            with pytest.raises(ConnectionClosed) as info:
                async for one in conn:
                    got.append(one)
            assert (got, info.value.code, info.value.reason) == ([b"a"], 4321, "custom")
            await peer.expect_close(4321, "custom")


async def test_a_close_frame_inside_a_fragmented_message_is_answered_with_1002():
    # websockets judges the close frame: "incomplete fragmented message". The server said goodbye
    # (1000), but a message was cut: recv() reports the 1002 we sent, not a normal end.
    async with asyncio.timeout(LIMIT):
        async with opened(text("a") + text("part", fin=False) + close_frame(1000, "bye")) as (conn, peer):
            assert await conn.recv() == b"a"
            with pytest.raises(ConnectionClosed) as info:
                await conn.recv()
            assert (info.value.code, info.value.reason) == (1002, "incomplete fragmented message")
            assert not conn._io.frames  # the partial message is never delivered
            await peer.expect_close(1002, "incomplete fragmented message")


TAILS = {
    "at_a_frame_boundary": b"",
    "first_header_byte": text("x")[:1],
    "inside_a_16bit_length": text(data(300, 11))[:3],
    "inside_a_64bit_length": binary(data(70000, 12))[:6],
    "inside_a_64bit_payload": binary(data(70000, 12))[:5000],
    "last_payload_byte_missing": text("almost")[:-1],
    "inside_a_ping": frame(PING, b"ping")[:4],
    "inside_a_fragment": text("ab", fin=False) + frame(CONT, b"cd")[:3],
}


@pytest.mark.parametrize("mode", ["recv", "deliver"])
@pytest.mark.parametrize("tail", list(TAILS))
async def test_eof_in_the_middle_of_a_frame_is_1006(tail, mode):
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            await peer.write(text("whole") + TAILS[tail], [len(text("whole")), len(text("whole")) + 1])
            peer.writer.write_eof()
            got = []
            with pytest.raises(ConnectionClosed) as info:
                if mode == "recv":
                    while True:
                        got.append(await conn.recv())
                else:
                    await conn.deliver(got.append)
            assert (got, info.value.code) == ([b"whole"], 1006)
            assert await peer.reader.read() == b""  # no close frame goes out after an unclean end


@pytest.mark.parametrize(
    "tail, reason",
    [
        (frame(TEXT, b"masked", mask=b"abcd")[:4], "incorrect masking"),
        (frame(0xB, b"reserved")[:3], "invalid opcode"),
    ],
)
async def test_eof_in_a_frame_websockets_rejects_at_its_header_is_1002(tail, reason):
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            await peer.write(text("whole") + tail)
            peer.writer.write_eof()
            assert await conn.recv() == b"whole"
            with pytest.raises(ConnectionClosed) as info:
                await conn.recv()
            assert (info.value.code, info.value.reason) == (1002, reason)  # the torn frame reached websockets
            await peer.expect_close(1002, reason)
            assert await peer.reader.read() == b""


# -- sending ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, bits", [(0, 7), (1, 7), (125, 7), (126, 16), (127, 16), (65535, 16), (65536, 64), (100000, 64)]
)
async def test_sent_frames_are_masked_text_frames_with_the_right_length_encoding(size, bits):
    payload = data(size, size)
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):
            await conn.send(payload)
            await conn.send(payload.hex()[:size])  # a str goes out encoded as UTF-8
            for expected in (payload, payload.hex()[:size].encode()):
                sent = await peer.read_frame()
                assert (sent.fin, sent.rsv, sent.opcode, sent.masked, sent.length_bits) == (True, 0, TEXT, True, bits)
                assert sent.payload == expected
                assert len(sent.mask) == 4


async def test_two_thousand_sends_use_fresh_masking_keys_across_pool_refills():
    count = 2000  # the pool holds 1024 keys: two refills
    async with asyncio.timeout(LIMIT):
        async with opened() as (conn, peer):

            async def read_all():
                return [await peer.read_frame() for _ in range(count)]

            async def send_all():
                for n in range(count):
                    await conn.send(n.to_bytes(2, "big") + b"masked?")

            sent, _ = await asyncio.gather(read_all(), send_all())
    assert [one.payload for one in sent] == [n.to_bytes(2, "big") + b"masked?" for n in range(count)]
    masks = [one.mask for one in sent]
    assert b"\x00\x00\x00\x00" not in masks
    # Keys repeating at a refill (a pool reused, a position not advanced) would repeat by the hundred;
    # two random 32-bit keys of 2000 coincide by chance with p ~ 5e-4, hence the slack of two.
    assert len(set(masks)) >= count - 2
    assert masks[1024:2048] != masks[:976] and masks[:4] != masks[1024:1028]


# -- a real websockets server ---------------------------------------------------------------------


def random_messages(seed: int, count: int = 500) -> list[str]:
    """Messages of random sizes, biased to the length-encoding edges, with multibyte characters."""
    rng = random.Random(seed)
    printable = bytes(range(32, 127))
    table = bytes(printable[i % len(printable)] for i in range(256))
    messages = []
    for _ in range(count):
        pick = rng.random()
        if pick < 0.2:
            size = rng.choice([0, 1, 124, 125, 126, 127, 65535, 65536])
        elif pick < 0.9:
            size = int(2 ** rng.uniform(0, 12))
        else:
            size = rng.randrange(60000, 140000)
        body = rng.randbytes(size).translate(table).decode()
        messages.append(body if rng.random() < 0.8 or size < 4 else "é€😀" + body[4:])
    return messages


@contextlib.asynccontextmanager
async def echo_server():
    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/realtime"


async def test_a_websockets_server_echoes_500_random_messages_through_send_and_recv():
    messages = random_messages(seed=20)
    async with asyncio.timeout(LIMIT):
        async with echo_server() as url, connect(url, proxy=None) as conn:

            async def send_all():
                for message in messages:
                    await conn.send(message)

            sending = asyncio.ensure_future(send_all())
            got = [await conn.recv() for _ in messages]
            await sending
    assert got == [m.encode() for m in messages]


async def test_a_websockets_server_echoes_500_random_messages_through_deliver():
    messages = random_messages(seed=21)
    got: list[bytes] = []
    all_back = asyncio.Event()

    def on_frame(one: bytes) -> None:
        got.append(one)
        if len(got) == len(messages):
            all_back.set()

    async with asyncio.timeout(LIMIT):
        async with echo_server() as url, connect(url, proxy=None) as conn:

            async def send_then_close():
                for message in messages:
                    await conn.send(message)
                await all_back.wait()
                await conn.close()  # our own close ends deliver()

            closing = asyncio.ensure_future(send_then_close())
            await conn.deliver(on_frame)
            await closing
    assert got == [m.encode() for m in messages]
