"""rtproto.faults: each fault of the FaultServer, observed by rtproto's own client on 127.0.0.1.

Every test plays one scripted voice turn (``turn()``) through
``rtproto.testing.serve_with_faults`` and connects with
``rtproto.transport.connect``; what the client sees (events, rejected frames,
the ``ConnectionClosed`` with its code, reason, ``by`` and message) is the
assertion. Nothing is mocked. Every test is bounded by ``asyncio.timeout(LIMIT)``
and waits on conditions, never on the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from rtproto.errors import AuthenticationError, ConnectionClosed, TransportError
from rtproto.events import Error, decode_server
from rtproto.faults import EXPIRED, MAX_FRAME_BYTES, MAX_PIECES
from rtproto.server_errors import classify, retry_after_ms
from rtproto.testing import (
    Fault,
    FaultServer,
    ScriptBuilder,
    Trigger,
    after_client,
    after_server,
    serve_with_faults,
)
from rtproto.transport import DEFAULT_MAX_SIZE, Connection, connect, deliver_events

LIMIT = 10  # seconds; every test finishes far below this
AUDIO = "AAABAAIAAwAEAAUABgAHAAgACQAKAAsADAANAA4ADwA="
DELTAS = 4
TRANSCRIPT = "Héllo € 😀 " * 40  # multibyte characters: pieces of a fragmented frame cut them
TURN = ["session.created", "session.updated", "response.created", *["response.output_audio.delta"] * DELTAS,
        "response.output_audio_transcript.delta", "response.done"]


def turn() -> ScriptBuilder:
    """One spoken answer as the GA server plays it."""
    response = {"object": "realtime.response", "id": "resp_1", "status": "in_progress", "output": []}
    ids = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
    script = (
        ScriptBuilder(model="gpt-realtime")
        .server("session.created", event_id="event_1", session={"type": "realtime", "id": "sess_1"})
        .expect_client("session.update")
        .server("session.updated", event_id="event_2", session={"type": "realtime"})
        .expect_client("response.create")
        .server("response.created", event_id="event_3", response=response)
    )
    for n in range(DELTAS):
        script.server("response.output_audio.delta", event_id=f"event_d{n}", delta=AUDIO, **ids)
    script.server("response.output_audio_transcript.delta", event_id="event_t", delta=TRANSCRIPT, **ids)
    return script.server("response.done", event_id="event_9", response={**response, "status": "completed"})


def client_event(kind: str, **fields: Any) -> bytes:
    return orjson.dumps({"type": kind, **fields})


@dataclass
class Outcome:
    """What rtproto's client saw: event types in order, rejected frames, and how the connection ended."""

    types: list[str] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    rejected: list[tuple[bytes, Exception]] = field(default_factory=list)
    closed: ConnectionClosed | None = None


async def play_turn(url: str, **options: Any) -> Outcome:
    """Send session.update and response.create, then take every event with deliver_events until the end."""
    seen = Outcome()

    def on_event(raw: bytes, event: Any) -> None:
        seen.raw.append(raw)
        seen.events.append(event)
        seen.types.append(orjson.loads(raw)["type"])

    async with connect(url, proxy=None, **options) as conn:
        with contextlib.suppress(ConnectionClosed):  # a fault may have closed it already: delivery says how
            await conn.send(client_event("session.update", session={"type": "realtime"}))
            await conn.send(client_event("response.create"))
        try:
            await deliver_events(conn, on_event, on_error=lambda raw, exc: seen.rejected.append((raw, exc)))
        except ConnectionClosed as exc:
            seen.closed = exc
        else:
            seen.closed = await end_of(conn)
    return seen


async def end_of(conn: Connection) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as info:
        await conn.recv()
    return info.value


def serve(*faults: Fault, **options: Any):
    return serve_with_faults(turn(), faults=faults, speed="max", close_when_done=True, **options)


def fired(server: FaultServer, index: int = 0) -> list[str]:
    return [fault.kind for fault in server.connections[index].fired]


# -- no fault -------------------------------------------------------------------------


async def test_without_faults_the_turn_plays_whole_and_ends_normally():
    async with asyncio.timeout(LIMIT):
        async with serve() as server:
            seen = await play_turn(server.url)
    assert seen.types == TURN and not seen.rejected
    assert (seen.closed.code, seen.closed.by, seen.closed.normal) == (1000, "server", True)
    assert fired(server) == [] and not server.departures


# -- closes and drops -------------------------------------------------------------------


async def test_close_after_a_server_event_type_names_code_reason_and_the_server():
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.close(1011, "boom", when=after_server("response.created"))) as server:
            seen = await play_turn(server.url)
    assert seen.types == TURN[:3]
    closed = seen.closed
    assert (closed.code, closed.reason, closed.by) == (1011, "boom", "server")
    assert str(closed) == "the server closed the connection with code 1011: boom"
    assert closed.cause == "the server closed with 1011: boom"
    assert fired(server) == ["close"]


@pytest.mark.parametrize("code, reason", [(1000, "bye"), (1001, "going away"), (1008, "policy"), (4000, "custom")])
async def test_close_with_any_code_and_reason(code, reason):
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.close(code, reason)) as server:
            seen = await play_turn(server.url)
    assert (seen.closed.code, seen.closed.reason, seen.closed.by) == (code, reason, "server")


async def test_abort_mid_response_is_1006_by_the_network():
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.abort(when=after_server("response.output_audio.delta", count=2))) as server:
            seen = await play_turn(server.url)
    assert seen.types == TURN[:5]  # two of the four deltas, then nothing
    closed = seen.closed
    assert (closed.code, closed.by, closed.normal) == (1006, "network", False)
    assert str(closed) == "the connection was lost without a close frame (code 1006)"


async def test_silent_server_is_noticed_by_keepalive_and_nothing_hangs():
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.silence(when=after_server("session.created"))) as server:
            async with connect(server.url, proxy=None, ping_interval=0.2, ping_timeout=0.2) as conn:
                await conn.send(client_event("session.update", session={"type": "realtime"}))
                seen = []
                with pytest.raises(ConnectionClosed) as info:
                    await deliver_events(conn, lambda raw, event: seen.append(raw))
                with pytest.raises(ConnectionClosed):
                    await conn.send(client_event("response.create"))
            assert server.connections[0].held  # the server still holds TCP open, silent
    closed = info.value
    assert len(seen) == 1
    assert (closed.code, closed.by) == (1011, "client")
    assert closed.cause == "the server stopped answering pings (no pong within 0.2 s)"
    assert str(closed) == ("rtproto closed the connection with code 1011: "
                           "the server stopped answering pings (no pong within 0.2 s)")


async def test_session_expired_sends_the_error_then_closes_1001():
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.session_expired(when=after_server("response.created"))) as server:
            seen = await play_turn(server.url)
    assert seen.types == [*TURN[:3], "error"]
    error = seen.events[-1]
    assert isinstance(error, Error) and error.error.code == "session_expired" and error.error.message == EXPIRED
    assert (seen.closed.code, seen.closed.reason, seen.closed.by) == (1001, EXPIRED, "server")


# -- the handshake ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_key_is_an_authentication_error(status):
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.refuse(status, "Incorrect API key provided")) as server:
            with pytest.raises(AuthenticationError) as info:
                await connect(server.url, proxy=None)
    assert info.value.status == status
    assert str(info.value) == f"the API key was rejected (HTTP {status})"
    assert fired(server) == ["refuse"] and server.connections[0].session is None


@pytest.mark.parametrize("status, body", [(429, '{"error": {"code": "rate_limit_exceeded"}}'), (500, "upstream down")])
async def test_refused_handshake_names_status_and_body(status, body):
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.refuse(status, body, headers={"Retry-After": "2"})) as server:
            url = server.url
            with pytest.raises(TransportError) as info:
                await connect(url, proxy=None)
    assert not isinstance(info.value, AuthenticationError)
    assert info.value.status == status
    assert str(info.value) == f"the server refused the websocket handshake at {url}: HTTP {status}: {body}"


async def test_a_stalled_handshake_ends_at_open_timeout_and_the_server_still_stops():
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.stall_handshake()) as server:
            url = server.url
            with pytest.raises(TransportError) as info:
                await connect(url, proxy=None, open_timeout=0.3)
    assert str(info.value) == (f"could not connect to {url}: timed out after 0.3 s waiting for the websocket "
                               "handshake (the server accepted the connection but never answered)")
    assert fired(server) == ["stall_handshake"]


# -- hostile frames -------------------------------------------------------------------------


async def test_invalid_utf8_in_a_text_frame_fails_the_connection_with_1007():
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.invalid_utf8(when=after_server("session.updated"))) as server:
            seen = await play_turn(server.url)
            session = await server.wait_session_done()
    assert seen.types == TURN[:2] and not seen.rejected  # the bad frame never reached the decoder
    closed = seen.closed
    assert (closed.code, closed.by) == (1007, "client")
    assert str(closed).startswith("rtproto closed the connection with code 1007: "
                                  "the server sent a text message that is not UTF-8 (invalid UTF-8: ")
    assert session.close_code == 1007  # the server got our close frame


async def test_a_frame_over_max_size_fails_with_1009():
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.huge_frame(2 << 20, when=after_server("session.created"))) as server:
            seen = await play_turn(server.url, max_size=1 << 20)
    assert seen.types == TURN[:1]
    closed = seen.closed
    assert (closed.code, closed.by) == (1009, "client")
    assert str(closed) == ("rtproto closed the connection with code 1009: the server sent a message over the size "
                           f"limit (frame with {2 << 20} bytes exceeds limit of {1 << 20} bytes)")


async def test_the_default_bound_passes_32_mib_and_fails_one_byte_over_64_mib():
    faults = [Fault.huge_frame(32 << 20), Fault.huge_frame(DEFAULT_MAX_SIZE + 1)]
    async with asyncio.timeout(LIMIT):
        async with serve(*faults) as server:
            async with connect(server.url, proxy=None) as conn:
                frame = await conn.recv()
                with pytest.raises(ConnectionClosed) as info:
                    await conn.recv()
    assert DEFAULT_MAX_SIZE == 64 << 20
    assert len(frame) == 32 << 20 and frame.startswith(b'{"type":"response.output_audio.delta"')
    assert (info.value.code, info.value.by) == (1009, "client")


async def test_a_binary_frame_is_reported_as_malformed_and_the_session_goes_on():
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.binary(when=after_server("response.output_audio.delta", count=1))) as server:
            seen = await play_turn(server.url)
    assert seen.types == TURN and seen.closed.normal
    [(raw, exc)] = seen.rejected
    assert raw == bytes(960) and isinstance(exc, ValueError)


async def test_a_fragmented_frame_with_pings_between_pieces_arrives_whole():
    # The transcript delta carries multibyte characters: the pieces cut them, the whole is UTF-8.
    fault = Fault.fragmented(pieces=7, when=after_server("response.output_audio.delta", count=DELTAS))
    async with asyncio.timeout(LIMIT):
        async with serve(fault) as server:
            seen = await play_turn(server.url)
            session = await server.wait_session_done()
    assert seen.types == TURN and not seen.rejected and seen.closed.normal
    assert [orjson.loads(raw) for raw in seen.raw] == session.sent
    assert seen.events[-2].delta == TRANSCRIPT


# -- the real server's error events -------------------------------------------------------------


@pytest.mark.parametrize(
    "fault, code, severity",
    [
        (Fault.active_response(), "conversation_already_has_active_response", "benign"),
        (Fault.rate_limited(1.5), "rate_limit_exceeded", "transient"),
        (Fault.insufficient_quota(), "insufficient_quota", "fatal"),
        (Fault.error("server_error", "The server had an error.", type="server_error", event_id=None), "server_error",
         "transient"),
    ],
)
async def test_error_events_decode_as_the_real_servers(fault, code, severity):
    async with asyncio.timeout(LIMIT):
        async with serve(fault) as server:
            seen = await play_turn(server.url)
    assert seen.types == ["error", *TURN] and seen.closed.normal  # an error event ends nothing by itself
    error = seen.events[0]
    assert isinstance(error, Error) and error.error.code == code and error.error.event_id is None
    assert classify(error.error.code, error.error.type) == severity


async def test_rate_limit_message_carries_the_retry_hint_and_a_null_event_id_decodes():
    rate = decode_server(Fault.rate_limited(1.5).args[0])
    assert "Please try again in 1.5s." in rate.error.message and retry_after_ms(rate.error.message) == 1500
    null_id = decode_server(Fault.error("x", "m", event_id=None).args[0])
    assert null_id.event_id is None


async def test_active_response_after_the_clients_response_create():
    fault = Fault.active_response(when=after_client("response.create"))
    async with asyncio.timeout(LIMIT):
        async with serve(fault) as server:
            seen = await play_turn(server.url)
    assert "error" in seen.types and seen.types.index("error") >= seen.types.index("session.created")
    assert [t for t in seen.types if t != "error"] == TURN


# -- triggers and connections -------------------------------------------------------------------


async def test_after_n_client_frames_counts_every_frame():
    fault = Fault.close(4001, "three", when=after_client(count=3))
    async with asyncio.timeout(LIMIT):
        async with serve(fault) as server:
            async with connect(server.url, proxy=None) as conn:
                for _ in range(3):
                    await conn.send(client_event("input_audio_buffer.append", audio=AUDIO))
                with pytest.raises(ConnectionClosed) as info:
                    await deliver_events(conn, lambda raw, event: None)
            session = await server.wait_session_done()
    assert (info.value.code, info.value.reason) == (4001, "three")
    assert len(session.received) == 3


async def test_each_connection_gets_its_own_faults():
    per_connection = [[Fault.close(1011, "first")], [Fault.refuse(429, "slow down")], []]
    async with asyncio.timeout(LIMIT):
        async with serve_with_faults(turn(), faults_per_connection=per_connection, speed="max",
                                     close_when_done=True) as server:
            first = await play_turn(server.url)
            with pytest.raises(TransportError, match="HTTP 429: slow down"):
                await connect(server.url, proxy=None)
            third = await play_turn(server.url)
    assert (first.closed.code, first.closed.reason) == (1011, "first")
    assert third.types == TURN and third.closed.normal
    assert [fired(server, n) for n in range(3)] == [["close"], ["refuse"], []]
    assert len(server.sessions) == 2  # the refused handshake made no session


async def test_faults_apply_to_every_connection():
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.close(1011, "again")) as server:
            outcomes = [await play_turn(server.url) for _ in range(2)]
    assert [(o.closed.code, o.closed.reason) for o in outcomes] == [(1011, "again")] * 2


# -- a slow consumer --------------------------------------------------------------------------------


async def test_a_server_that_stops_reading_makes_send_wait_and_send_nowait_raise():
    frame = client_event("input_audio_buffer.append", audio="A" * (256 << 10))
    async with asyncio.timeout(LIMIT):
        async with serve(Fault.stop_reading()) as server:
            async with connect(server.url, proxy=None, ping_interval=None, send_queue_size=4) as conn:
                sent = await fill_until_full(conn, frame, bound=400)  # 100 MiB: far past loopback's buffers
                assert conn.stats.queue_high_water == 4
                buffered = conn._io._transport.get_write_buffer_size()
                assert buffered <= 64 * 1024 + len(frame) + 16  # asyncio's high-water mark and one frame
                waiting = asyncio.ensure_future(conn.send(frame))
                for _ in range(50):
                    await asyncio.sleep(0)
                assert not waiting.done()  # send waits for room in the queue
                server.connections[0].resume_reading()
                await waiting
            session = await server.wait_session_done()
    appends = [e for e in session.received if e["type"] == "input_audio_buffer.append"]
    assert len(appends) == sent + 1  # nothing lost, nothing grew without bound


async def fill_until_full(conn: Connection, frame: bytes, bound: int) -> int:
    """send_nowait until it raises because the queue is full; returns how many frames went in."""
    for sent in range(bound):
        try:
            conn.send_nowait(frame)
        except TransportError as exc:
            assert "send queue is full" in str(exc)
            return sent
        await asyncio.sleep(0)  # let the writer take the frame while the socket has room
    pytest.fail(f"the send queue never filled in {bound} frames")


# -- bounds and usage ---------------------------------------------------------------------------------


def test_fault_parameters_are_checked():
    with pytest.raises(ValueError, match="HTTP error status"):
        Fault.refuse(200)
    with pytest.raises(ValueError, match="Fault.abort"):
        Fault.close(1006)
    with pytest.raises(ValueError, match="123 UTF-8 bytes"):
        Fault.close(1011, "x" * 124)
    with pytest.raises(ValueError, match="size must be"):
        Fault.huge_frame(MAX_FRAME_BYTES + 1)
    with pytest.raises(ValueError, match="pieces must be"):
        Fault.fragmented(MAX_PIECES + 1)
    with pytest.raises(ValueError, match="count must be"):
        after_server("response.created", count=0)
    with pytest.raises(ValueError, match="side must be"):
        Trigger("later")
    with pytest.raises(ValueError, match="not both"):
        FaultServer(turn().build(), faults=[Fault.abort()], faults_per_connection=[[]])
    with pytest.raises(TypeError, match="Fault objects"):
        FaultServer(turn().build(), faults=["close"])
