"""rtproto's framing (``_wsio.WebSocketIO``) against websockets' own parser, on arbitrary byte streams.

A stream is a list of the peer's frames, valid or not: every opcode (reserved ones
too), masked or not, fragmented, control frames inside fragmented messages,
reserved bits, oversized control frames, non-minimal length encodings, text
that is not UTF-8, close frames with bad codes or a 1-byte payload, frames over
``max_size``, and sometimes an EOF, perhaps in the middle of a frame.

Both sides are held to it: rtproto as a client (the peer is a server, whose frames
are mostly unmasked) and as a server (the peer is a client, whose frames are mostly
masked, with arbitrary keys). The reference is websockets' ``ClientProtocol`` (or
``ServerProtocol``) given the stream one frame at a time, plus what websockets leaves to its I/O layer: a text message that is not
UTF-8 fails the connection with 1007 as soon as its last frame arrives (RFC
6455 section 8.1; rtproto names it ``invalid UTF-8: `` before websockets' own
reason). rtproto gets the same bytes cut at arbitrary points into socket
reads. Both must deliver the same messages, write the same frames back (pongs,
close frames) and end in the same state with the same close
codes and reasons.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.server import ServerProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from rtproto import _wsio

URI = parse_uri("ws://127.0.0.1/")
EOF = ("EOF",)


# -- the peer's side: frames as bytes, and what the client wrote back ---------------------------


def encode(opcode: int, payload: bytes, *, fin=True, rsv=0, mask=None, wide=0) -> bytes:
    """A frame (masked with ``mask``, if given); ``wide`` forces a 16-bit (1) or 64-bit (2) length even when a shorter one fits."""
    size = len(payload)
    bit = 0x80 if mask is not None else 0
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    if size < 126 and not wide:
        head += bytes([bit | size])
    elif size < 65536 and wide != 2:
        head += bytes([bit | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + size.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def written(chunks: list[bytes | tuple], masked: bool = True) -> list[tuple]:
    """The frames written back as ``(opcode, fin, payload)`` (masked by a client); a half-close as ``EOF``."""
    out, data = [], b"".join(c for c in chunks if isinstance(c, bytes))
    pos = 0
    while pos < len(data):
        first, length = data[pos], data[pos + 1] & 0x7F
        pos += 2
        if length >= 126:
            extra = 2 if length == 126 else 8
            length, pos = int.from_bytes(data[pos : pos + extra], "big"), pos + extra
        mask, pos = (data[pos : pos + 4], pos + 4) if masked else (b"\0\0\0\0", pos)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data[pos : pos + length]))
        out.append((first & 0x0F, bool(first & 0x80), payload))
        pos += length
    return out + [EOF] * sum(1 for c in chunks if c == EOF)


# -- the two receivers ------------------------------------------------------------------------


def outcome(protocol: ClientProtocol | ServerProtocol, messages: list[bytes], sent: list) -> tuple:
    close = lambda c: None if c is None else (c.code, c.reason)  # noqa: E731
    return (
        messages,
        written(sent, masked=isinstance(protocol, ClientProtocol)),
        protocol.state,
        close(protocol.close_rcvd),
        close(protocol.close_sent),
        protocol.close_rcvd_then_sent,
    )


def opened(side: str, max_size: int | None) -> ClientProtocol | ServerProtocol:
    if side == "server":
        return ServerProtocol(state=State.OPEN, max_size=max_size)
    return ClientProtocol(URI, state=State.OPEN, max_size=max_size)


def reference(frames: list[bytes], eof: bool, max_size: int | None, side: str = "client") -> tuple:
    """websockets' parser, one frame at a time, with its I/O layer's UTF-8 rule."""
    protocol = opened(side, max_size)
    messages, sent, parts, text, failed = [], [], None, False, False
    for one in frames:
        protocol.receive_data(one)
        for frame in protocol.events_received():
            if failed or frame.opcode not in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                continue
            if frame.opcode is not Opcode.CONT:
                parts, text = [], frame.opcode is Opcode.TEXT
            parts.append(frame.data)
            if frame.fin:
                failed = not deliver(protocol, b"".join(parts), text, messages)
        sent += protocol.data_to_send()
    if eof:
        protocol.receive_eof()
        sent += protocol.data_to_send()
    return outcome(protocol, messages, [EOF if c == b"" else c for c in sent])


def deliver(protocol: ClientProtocol, message: bytes, text: bool, messages: list[bytes]) -> bool:
    if text:
        try:
            message.decode()
        except UnicodeDecodeError as exc:
            protocol.fail(1007, f"invalid UTF-8: {exc.reason} at position {exc.start}")
            return False
    messages.append(message)
    return True


class Recorder(asyncio.Transport):
    """A transport that keeps what the client writes (``EOF`` for a half-close)."""

    def __init__(self):
        super().__init__()
        self.chunks: list[bytes | tuple] = []

    def write(self, data) -> None:
        self.chunks.append(bytes(data))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.chunks.append(EOF)

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass


def through_wsio(stream: bytes, cuts: list[int], eof: bool, max_size: int | None, side: str = "client") -> tuple:
    """rtproto's framing, given ``stream`` in the reads that ``cuts`` make."""

    async def run() -> tuple:
        protocol = opened(side, max_size)
        io = _wsio.WebSocketIO(protocol, ping_interval=None, ping_timeout=None)
        transport = Recorder()
        io.connection_made(transport)
        for start, end in zip([0, *cuts], [*cuts, len(stream)]):
            at = start
            while at < end:  # as recv_into does: at most what the buffer holds
                buffer = io.get_buffer(-1)
                size = min(len(buffer), end - at)
                buffer[:size] = stream[at : at + size]
                io.buffer_updated(size)
                at += size
        if eof:
            io.eof_received()
        return outcome(protocol, list(io.frames), transport.chunks)

    return asyncio.run(run())


# -- arbitrary streams --------------------------------------------------------------------------

VALID_TEXT = st.text(max_size=40).map(str.encode)
BAD_UTF8 = st.sampled_from([b"\xff", b"\xc3", b"a\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"])
CLOSE_CODES = st.sampled_from([1000, 1001, 1002, 1005, 1006, 1007, 1011, 1015, 1016, 2999, 3000, 4999, 5000, 999])
BIG = st.integers(126, 70000).map(lambda n: b"x" * n)


@st.composite
def payloads(draw, opcode: int) -> bytes:
    if opcode == Opcode.CLOSE:
        kind = draw(st.sampled_from(["code", "code", "empty", "short", "bad reason"]))
        if kind == "empty":
            return b""
        if kind == "short":
            return b"\x03"
        reason = draw(BAD_UTF8) if kind == "bad reason" else draw(VALID_TEXT)[:20]
        return draw(CLOSE_CODES).to_bytes(2, "big") + reason
    if opcode == Opcode.TEXT or opcode == Opcode.CONT:
        return draw(st.one_of(VALID_TEXT, VALID_TEXT, BAD_UTF8, st.binary(max_size=8), BIG))
    return draw(st.one_of(st.binary(max_size=40), BIG))


MASKS = st.binary(min_size=4, max_size=4)


@st.composite
def frames(draw, side: str = "client") -> bytes:
    # ``side``: rtproto's; its peer masks every frame if it is a client, none if a server (mostly).
    opcode = draw(st.sampled_from([1, 1, 1, 2, 2, 0, 0, 9, 10, 8, 3, 11]))
    fin = draw(st.sampled_from([True, True, False]))
    rsv = draw(st.sampled_from([0] * 6 + [1, 2, 4]))
    odd = draw(st.integers(0, 15)) == 0
    mask = draw(MASKS) if (side == "server") != odd else None
    wide = draw(st.sampled_from([0] * 8 + [1, 2]))
    return encode(opcode, draw(payloads(opcode)), fin=fin, rsv=rsv, mask=mask, wide=wide)


@st.composite
def streams(draw, side: str = "client"):
    chosen = draw(st.lists(frames(side), max_size=8))
    eof = draw(st.booleans())
    if chosen and draw(st.booleans()):  # the stream stops in the middle of the last frame (EOF or not)
        chosen[-1] = chosen[-1][: draw(st.integers(1, len(chosen[-1])))]
    total = sum(map(len, chosen))
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, total - 1)), max_size=12)))) if total > 1 else []
    max_size = draw(st.sampled_from([None, 2**20, 1000, 125, 10, 0]))
    return chosen, cuts, eof, max_size, side


def assert_same(chosen: list[bytes], cuts: list[int], eof: bool, max_size: int | None, side: str = "client") -> None:
    expected = reference(chosen, eof, max_size, side)
    assert through_wsio(b"".join(chosen), cuts, eof, max_size, side) == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(streams())
def test_wsio_frames_streams_as_websockets_does(case):
    assert_same(*case)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(streams("server"))
def test_wsio_as_a_server_frames_a_clients_streams_as_websockets_does(case):
    assert_same(*case)


# -- examples kept as regular tests -------------------------------------------------------------


def test_a_ping_after_a_text_message_that_is_not_utf8_is_not_answered():
    chosen = [encode(Opcode.TEXT, b"\xff"), encode(Opcode.PING, b"hi")]
    for cuts in ([], [1], [3]):
        assert_same(chosen, cuts, False, None)
    assert reference(chosen, False, None)[4] == (1007, "invalid UTF-8: invalid start byte at position 0")


def test_a_fragment_over_what_is_left_of_max_size_fails_with_1009_at_its_header():
    chosen = [encode(Opcode.TEXT, b"a" * 60, fin=False), encode(Opcode.CONT, b"b" * 60)]
    assert_same(chosen, [70], False, 100)
    assert reference(chosen, False, 100)[4][0] == 1009


def test_a_frame_websockets_rejects_at_its_header_fails_before_its_payload_arrives():
    # websockets fails the connection (1002, invalid opcode) at the header, before the payload arrives.
    assert_same([b"\x83\x01"], [], False, None)


def test_a_non_minimal_64_bit_length_is_accepted_as_websockets_does():
    chosen = [encode(Opcode.BINARY, b"abc", wide=2), encode(Opcode.TEXT, b"ok", wide=1)]
    assert_same(chosen, [5, 11], False, None)
    assert reference(chosen, False, None)[0] == [b"abc", b"ok"]


def test_a_reference_frame_is_a_websockets_frame():
    # The reference reads frames through websockets' public Frame type, not a copy of it.
    protocol = ClientProtocol(URI, state=State.OPEN)
    protocol.receive_data(encode(Opcode.BINARY, b"x"))
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"x")]


@pytest.mark.parametrize(("side", "head"), [("server", b"\x81~"), ("client", b"\x83~"), ("client", b"\x81\xfe")])
def test_a_head_websockets_rejects_in_two_bytes_fails_before_its_length_arrives(side, head):
    # Incorrect masking and an invalid opcode are judged on the first two bytes, before an extended length.
    assert_same([head], [], False, None, side)
    assert reference([head], False, None, side)[4][0] == 1002


@pytest.mark.parametrize("side", ["client", "server"])
def test_a_long_message_read_straight_into_its_place_equals_websockets(side):
    # Over READ_BUFFER bytes still to come: the rest is read into the message's own buffer.
    mask = b"\x9a\x01\xfe\x42" if side == "server" else None
    chosen = [encode(Opcode.TEXT, b"t" * 100_000, mask=mask), encode(Opcode.BINARY, b"b" * 70_000, mask=mask),
              encode(Opcode.TEXT, b"ok", mask=mask)]
    for cuts in ([], [5], [20_000, 100_013], [100_020]):
        assert_same(chosen, cuts, False, None, side)
    assert_same(chosen, [50_000], True, None, side)  # EOF in the middle of the next message
