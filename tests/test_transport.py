"""rtproto.transport against a real websockets server on 127.0.0.1 (port 0).

Each test starts its own server with a handler that scripts the server side,
and is bounded by ``asyncio.timeout``. Nothing of websockets is mocked; the
only seam used is ``iter_events(decode=...)`` so these tests do not depend on
rtproto.events.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import socket
import traceback
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.server import serve

from rtproto import __version__
from rtproto._wsio import QUEUE_FULL, RECV_HIGH_WATER
from rtproto.errors import AuthenticationError, ConnectionClosed, ProtocolError, TransportError
from rtproto.transport import (
    Connection,
    connect,
    deliver_events,
    handshake_headers,
    iter_events,
    realtime_url,
    with_model,
)

API_KEY = "sk-test-0123456789-SECRET-abcdef"
LIMIT = 5  # seconds; every test finishes far below this


@contextlib.asynccontextmanager
async def local_server(handler=None, **kwargs):
    """Serve ``handler`` on 127.0.0.1:0 and yield the Realtime URL to connect to."""

    async def idle(ws):
        await ws.wait_closed()

    async with serve(handler or idle, "127.0.0.1", 0, max_size=None, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"


def client_messages(caplog) -> list[str]:
    """Log messages of the client side (the test server's own websockets.server log is not ours)."""
    return [r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server")]


def capture_requests(requests):
    def process_request(connection, request):
        requests.append(request)

    return process_request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- URL and headers -------------------------------------------------------------


def test_realtime_url_ga_default():
    assert realtime_url("gpt-realtime") == "wss://api.openai.com/v1/realtime?model=gpt-realtime"


def test_realtime_url_encodes_and_switches_scheme():
    url = realtime_url("a b&c=d/é", base_url="https://example.test/v1/", call_id="rtc_1", intent="transcription")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("wss", "example.test", "/v1/realtime")
    assert parse_qs(parts.query) == {"model": ["a b&c=d/é"], "call_id": ["rtc_1"], "intent": ["transcription"]}
    assert " " not in url and "&c=" not in url


def test_realtime_url_call_id_only_and_custom_path():
    assert realtime_url(call_id="rtc_9") == "wss://api.openai.com/v1/realtime?call_id=rtc_9"
    assert realtime_url("m", base_url="ws://127.0.0.1:9", path="realtime/translations") == (
        "ws://127.0.0.1:9/realtime/translations?model=m"
    )


def test_realtime_url_rejects_bad_input():
    with pytest.raises(ValueError, match="model, a call_id or an intent"):
        realtime_url()
    with pytest.raises(ValueError, match="ftp://x"):
        realtime_url("m", base_url="ftp://x")


@given(st.text(min_size=1))
def test_realtime_url_model_round_trips(model):
    assert parse_qs(urlsplit(realtime_url(model)).query, keep_blank_values=True) == {"model": [model]}


def test_with_model_adds_model_only_when_missing():
    assert with_model("ws://h:1/rt", "m x") == "ws://h:1/rt?model=m%20x"
    assert with_model("ws://h:1/rt?intent=t", "m") == "ws://h:1/rt?intent=t&model=m"
    assert with_model("ws://h:1/rt?model=keep", "other") == "ws://h:1/rt?model=keep"
    assert with_model("ws://h:1/rt", None) == "ws://h:1/rt"


def test_handshake_headers_ga_and_beta():
    ga = handshake_headers(API_KEY)
    assert ga == {"User-Agent": f"rtproto/{__version__}", "Authorization": f"Bearer {API_KEY}"}
    beta = handshake_headers(API_KEY, api="beta", extra={"X-Trace": "1"})
    assert beta["OpenAI-Beta"] == "realtime=v1" and beta["X-Trace"] == "1"
    assert "Authorization" not in handshake_headers(None)


def test_handshake_headers_reject_bad_input_without_echoing_the_key():
    with pytest.raises(ValueError, match="'gamma'"):
        handshake_headers(API_KEY, api="gamma")
    with pytest.raises(ValueError) as info:
        handshake_headers(API_KEY + "\r\nX-Evil: 1")
    assert API_KEY not in str(info.value)


@pytest.mark.parametrize("api, beta_header", [("ga", None), ("beta", "realtime=v1")])
async def test_handshake_sends_our_headers(api, beta_header):
    requests = []
    async with asyncio.timeout(LIMIT):
        async with local_server(process_request=capture_requests(requests)) as url:
            async with connect(url, api_key=API_KEY, api=api, headers={"OpenAI-Project": "proj_1"}):
                pass
    (request,) = requests
    assert request.path == "/v1/realtime?model=gpt-realtime"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers.get("OpenAI-Beta") == beta_header
    assert request.headers.get_all("User-Agent") == [f"rtproto/{__version__}"]
    assert request.headers["OpenAI-Project"] == "proj_1"
    assert "Sec-WebSocket-Extensions" not in request.headers  # compression=None


# -- sending -------------------------------------------------------------------------


async def collect(ws, count, into):
    """Server side: read ``count`` messages into ``into``, then close normally."""
    for _ in range(count):
        into.append(await ws.recv())
    await ws.close()


async def test_send_keeps_order_as_text_frames():
    received = []
    frames = [f'{{"type":"t","n":{i}}}' for i in range(50)]
    async with asyncio.timeout(LIMIT):
        async with local_server(lambda ws: collect(ws, 50, received)) as url:
            async with connect(url) as conn:
                for i, frame in enumerate(frames):
                    await conn.send(frame if i % 2 else frame.encode())
                assert [f async for f in conn] == []
    assert received == frames  # str on the server side: they arrived as text frames
    assert conn.stats.frames_sent == 50
    assert conn.stats.bytes_sent == sum(len(f) for f in frames)


async def test_send_nowait_raises_when_the_queue_is_full_and_send_waits():
    received = []
    async with asyncio.timeout(LIMIT):
        async with local_server(lambda ws: collect(ws, 3, received)) as url:
            async with connect(url, send_queue_size=2) as conn:
                # No await between these calls, so the writer cannot drain the queue.
                conn.send_nowait(b'{"n":1}')
                conn.send_nowait(b'{"n":2}')
                with pytest.raises(TransportError, match="send queue is full"):
                    conn.send_nowait(b'{"n":3}')
                await conn.send(b'{"n":4}')  # waits for room instead
                assert [f async for f in conn] == []
    assert received == ['{"n":1}', '{"n":2}', '{"n":4}']
    assert conn.stats.queue_high_water == 2


async def test_send_rejects_unencoded_events():
    async with asyncio.timeout(LIMIT):
        async with local_server() as url:
            async with connect(url) as conn:
                with pytest.raises(TypeError, match="pre-encoded frame.*dict"):
                    await conn.send({"type": "response.create"})


async def test_close_flushes_queue_and_is_idempotent():
    received = []
    close_codes = []

    async def handler(ws):
        async for message in ws:
            received.append(message)
        close_codes.append(ws.protocol.close_rcvd.code)

    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            conn = await connect(url)
            for n in range(3):
                conn.send_nowait(f'{{"n":{n}}}')
            await conn.close()
            await conn.close()
            assert conn.closed
            with pytest.raises(TransportError, match="closed"):
                await conn.send("{}")
            assert [f async for f in conn] == []
    assert received == ['{"n":0}', '{"n":1}', '{"n":2}']
    assert close_codes == [1000]


async def test_send_after_the_server_closed_raises_connection_closed():
    async with asyncio.timeout(LIMIT):
        async with local_server(lambda ws: ws.close(1011, "boom")) as url:
            async with connect(url) as conn:
                with pytest.raises(ConnectionClosed):
                    await conn.recv()
                with pytest.raises(ConnectionClosed) as info:
                    await conn.send("{}")
    assert (info.value.code, info.value.reason) == (1011, "boom")


# -- receiving --------------------------------------------------------------------


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def test_recorder_sees_both_directions_in_order():
    records = []
    async with asyncio.timeout(LIMIT):
        async with local_server(echo) as url:
            async with connect(url, recorder=lambda d, f: records.append((d, f))) as conn:
                await conn.send('{"type":"a"}')
                assert await conn.recv() == b'{"type":"a"}'
                await conn.send(b'{"type":"b"}')
                assert await conn.recv() == b'{"type":"b"}'
    assert records == [
        ("client", b'{"type":"a"}'), ("server", b'{"type":"a"}'),
        ("client", b'{"type":"b"}'), ("server", b'{"type":"b"}'),
    ]
    assert (conn.stats.frames_received, conn.stats.bytes_received) == (2, 24)


async def test_large_frames_pass_both_ways():
    # The official SDK connects with max_size=None and compression=None;
    # websockets' default cap of 1 MiB would reject this 3 MiB frame.
    big = json.dumps({"type": "response.output_audio.delta", "delta": "A" * (3 << 20)})
    async with asyncio.timeout(LIMIT):
        async with local_server(echo) as url:
            async with connect(url) as conn:
                await conn.send(big)
                frame = await conn.recv()
    assert len(frame) > 3 << 20
    assert frame == big.encode()


async def test_binary_frames_come_back_as_bytes():
    async with asyncio.timeout(LIMIT):
        async with local_server(lambda ws: ws.send(b"\x00\x01")) as url:
            async with connect(url) as conn:
                assert await conn.recv() == b"\x00\x01"


@pytest.mark.parametrize("code", [1000, 1001])
async def test_normal_close_ends_iteration(code):
    async def handler(ws):
        await ws.send('{"type":"one"}')
        await ws.send('{"type":"two"}')
        await ws.close(code, "bye")

    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                frames = [f async for f in conn]
                with pytest.raises(ConnectionClosed) as info:
                    await conn.recv()
    assert frames == [b'{"type":"one"}', b'{"type":"two"}']
    assert info.value.normal and info.value.code == code


@pytest.mark.parametrize("code, reason", [(1011, "boom"), (4000, "beta shape retired")])
async def test_abnormal_close_raises_with_code_and_reason(code, reason):
    async def handler(ws):
        await ws.send('{"type":"first"}')
        await ws.close(code, reason)

    frames = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                with pytest.raises(ConnectionClosed) as info:
                    async for frame in conn:
                        frames.append(frame)
    assert frames == [b'{"type":"first"}']
    assert (info.value.code, info.value.reason, info.value.by) == (code, reason, "server")
    assert not info.value.normal
    assert str(info.value) == f"the server closed the connection with code {code}: {reason}"


async def test_tcp_loss_without_close_frame_is_1006():
    async def handler(ws):
        await ws.send('{"type":"first"}')
        ws.transport.abort()

    frames = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                with pytest.raises(ConnectionClosed) as info:
                    async for frame in conn:
                        frames.append(frame)
    assert frames == [b'{"type":"first"}']
    assert (info.value.code, info.value.reason, info.value.by) == (1006, "connection lost", "network")
    assert info.value.cause == "connection lost (no close frame)"
    assert str(info.value) == "the connection was lost without a close frame (code 1006)"


async def test_our_own_close_is_by_the_client():
    async with asyncio.timeout(LIMIT):
        async with local_server() as url:
            async with connect(url) as conn:
                await conn.close(4000, "done here")
                with pytest.raises(ConnectionClosed) as info:
                    await conn.recv()
    assert (info.value.code, info.value.by, info.value.cause) == (4000, "client", "done here")
    assert str(info.value) == "rtproto closed the connection with code 4000: done here"


# -- never hang: keepalive and the opening deadline ---------------------------------------


def test_the_default_deadlines_notice_a_dead_connection_within_30_s():
    defaults = inspect.signature(Connection.connect).parameters
    assert defaults["open_timeout"].default == 10
    assert defaults["ping_interval"].default + defaults["ping_timeout"].default <= 30


async def test_a_server_that_stops_answering_pings_is_noticed_within_the_keepalive_bound():
    async def silent(ws):
        await ws.send('{"type":"first"}')
        ws.transport.pause_reading()  # reads nothing more: the client's pings go unanswered
        await ws.wait_closed()

    async with asyncio.timeout(LIMIT):
        async with local_server(silent, ping_interval=None, close_timeout=0.1) as url:
            async with connect(url, ping_interval=0.1, ping_timeout=0.2) as conn:
                assert await conn.recv() == b'{"type":"first"}'
                with pytest.raises(ConnectionClosed) as info:
                    await conn.recv()
                with pytest.raises(ConnectionClosed) as on_send:
                    await conn.send("{}")
    closed = info.value
    assert (closed.code, closed.reason, closed.by, closed.normal) == (1011, "keepalive ping timeout", "client", False)
    assert closed.cause == "the server stopped answering pings (no pong within 0.2 s)"
    assert str(closed) == "rtproto closed the connection with code 1011: the server stopped answering pings " \
                          "(no pong within 0.2 s)"
    assert str(on_send.value) == str(closed)


async def test_deliver_ends_when_keepalive_gives_up():
    async def silent(ws):
        ws.transport.pause_reading()
        await ws.wait_closed()

    async with asyncio.timeout(LIMIT):
        async with local_server(silent, ping_interval=None, close_timeout=0.1) as url:
            async with connect(url, ping_interval=0.05, ping_timeout=0.1) as conn:
                with pytest.raises(ConnectionClosed) as info:
                    await deliver_events(conn, lambda raw, event: None, decode=fake_decode)
    assert (info.value.code, info.value.by) == (1011, "client")


# -- handshake failures ---------------------------------------------------------------


def reject_with(status):
    def process_request(connection, request):
        return connection.respond(status, f"Incorrect API key provided: {API_KEY[:6]}\n")

    return process_request


@pytest.mark.parametrize("status", [HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN])
async def test_rejected_key_raises_authentication_error_without_the_key(status, caplog):
    caplog.set_level(logging.DEBUG)
    async with asyncio.timeout(LIMIT):
        async with local_server(process_request=reject_with(status)) as url:
            with pytest.raises(AuthenticationError) as info:
                await connect(url, api_key=API_KEY)
    assert str(info.value) == f"the API key was rejected (HTTP {int(status)})"
    assert info.value.status == status
    everything = "".join(traceback.format_exception(info.value)) + repr(info.value)
    assert API_KEY not in everything
    # The handshake was logged at debug level (so this check can fail), redacted.
    messages = client_messages(caplog)
    assert any("Authorization: [redacted]" in m for m in messages)
    assert not any(API_KEY in m for m in messages)


async def test_other_status_names_status_and_url_without_secret_query():
    async with asyncio.timeout(LIMIT):
        async with local_server(process_request=lambda c, r: c.respond(HTTPStatus.NOT_FOUND, "no such model\n")) as url:
            with pytest.raises(TransportError) as info:
                await connect(url + "&api-key=QUERYSECRET", api_key=API_KEY)
    message = str(info.value)
    assert not isinstance(info.value, AuthenticationError) and info.value.status == 404
    assert "HTTP 404" in message and "no such model" in message
    assert url.split("?")[0] in message and "model=gpt-realtime" in message
    assert "QUERYSECRET" not in message and API_KEY not in message


async def test_refused_port_raises_transport_error():
    url = f"ws://127.0.0.1:{free_port()}/v1/realtime?model=m"
    async with asyncio.timeout(LIMIT):
        with pytest.raises(TransportError) as info:
            await connect(url, api_key=API_KEY)
    assert str(info.value) == f"could not connect to {url}: connection refused"


async def test_handshake_timeout_raises_transport_error():
    async def silent(reader, writer):
        await reader.read()  # accept TCP, never answer the HTTP upgrade

    async with asyncio.timeout(LIMIT):
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(TransportError) as info:
                await connect(f"ws://127.0.0.1:{port}/", open_timeout=0.2)
    assert str(info.value) == (f"could not connect to ws://127.0.0.1:{port}/: timed out after 0.2 s waiting for the "
                               "websocket handshake (the server accepted the connection but never answered)")
    assert info.value.status is None


async def test_debug_logs_carry_neither_secrets_nor_payloads(caplog):
    caplog.set_level(logging.DEBUG)
    audio = "QUFB" * 5000
    token = "mcp-token-XYZ"
    async with asyncio.timeout(LIMIT):
        async with local_server(echo) as url:
            async with connect(url, api_key=API_KEY) as conn:
                append = json.dumps({"type": "input_audio_buffer.append", "audio": audio})
                await conn.send(append)
                await conn.send(json.dumps({"type": "session.update", "tools": [{"authorization": token}]}))
                await conn.recv()
                await conn.recv()
    messages = client_messages(caplog)
    assert sum(f"input_audio_buffer.append ({len(append)} bytes)" in m for m in messages) == 2  # sent, echoed
    assert any("CLOSE 1000 (OK)" in m for m in messages)
    for m in messages:
        assert API_KEY not in m and token not in m and audio[:400] not in m


# -- iter_events -------------------------------------------------------------------------


def fake_decode(data: bytes, api: str = "ga"):
    """Stand-in for rtproto.events.decode_server: JSON with a string ``type``."""
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(obj.get("type"), str):
        raise ProtocolError("missing type", path="$.type")
    return (api, obj["type"])


async def test_iter_events_skips_malformed_frames(caplog):
    garbage = "{oops" + "x" * 5000
    sent = ['{"type":"session.created"}', garbage, '{"no":"type"}', '{"type":"future.event"}']

    async def handler(ws):
        for frame in sent:
            await ws.send(frame)
        await ws.close()

    errors = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                pairs = [
                    p async for p in iter_events(conn, api="beta", decode=fake_decode,
                                                 on_error=lambda raw, exc: errors.append((raw, exc)))
                ]
    assert pairs == [
        (b'{"type":"session.created"}', ("beta", "session.created")),
        (b'{"type":"future.event"}', ("beta", "future.event")),
    ]
    assert [raw for raw, _ in errors] == [garbage.encode(), b'{"no":"type"}']
    assert all(isinstance(exc, ProtocolError) for _, exc in errors)
    # The caller's on_error reports them; logging them too would show each twice.
    assert not [r for r in caplog.records if r.name == "rtproto.transport" and r.levelno == logging.WARNING]


async def test_iter_events_logs_malformed_frames_without_on_error(caplog):
    garbage = "{oops" + "x" * 5000
    sent = [garbage, '{"no":"type"}', '{"type":"future.event"}']

    async def handler(ws):
        for frame in sent:
            await ws.send(frame)
        await ws.close()

    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                pairs = [p async for p in iter_events(conn, api="beta", decode=fake_decode)]
    assert pairs == [(b'{"type":"future.event"}', ("beta", "future.event"))]
    warnings = [r for r in caplog.records if r.name == "rtproto.transport" and r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "not JSON" in warnings[0].getMessage() and "missing type" in warnings[1].getMessage()
    assert "(5005 bytes)" in warnings[0].getMessage() and len(warnings[0].getMessage()) < 600


async def test_iter_events_raises_on_abnormal_close():
    async def handler(ws):
        await ws.send('{"type":"a"}')
        await ws.close(1011, "boom")

    seen = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                with pytest.raises(ConnectionClosed, match="1011: boom"):
                    async for _, event in iter_events(conn, decode=fake_decode):
                        seen.append(event)
    assert seen == [("ga", "a")]


async def test_connection_classmethod_connect():
    async with asyncio.timeout(LIMIT):
        async with local_server(echo) as url:
            async with await Connection.connect(url) as conn:
                await conn.send('{"type":"x"}')
                assert await conn.recv() == b'{"type":"x"}'
    assert conn.closed


# -- deliver / deliver_events -------------------------------------------------------------


class Boom(Exception):
    """A handler's own failure."""


async def until(condition):
    """Poll ``condition()`` on the loop (the caller's asyncio.timeout bounds the wait)."""
    while not condition():
        await asyncio.sleep(0.002)


def send_at_once(ws, frames):
    """Server side: write ``frames`` as text frames in ONE socket write, so they arrive together."""
    for frame in frames:
        ws.protocol.send_text(frame.encode())
    ws.transport.write(b"".join(ws.protocol.data_to_send()))


async def test_deliver_hands_frames_over_in_order_from_the_socket_callback():
    frames = [f'{{"type":"t","n":{i}}}' for i in range(20)]

    async def handler(ws):
        await ws.recv()  # "go": nothing arrives before deliver() is waiting
        for frame in frames:
            await ws.send(frame)
        await ws.close()

    records, got, tasks = [], [], []

    def on_frame(frame):
        got.append(frame)
        tasks.append(asyncio.current_task())

    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url, recorder=lambda d, f: records.append((d, f))) as conn:
                await conn.send("go")
                assert await conn.deliver(on_frame) is None
    expected = [f.encode() for f in frames]
    assert got == expected
    assert tasks == [None] * 20  # called inside the protocol callback, not in a task
    assert records == [("client", b"go")] + [("server", f) for f in expected]
    assert (conn.stats.frames_received, conn.stats.bytes_received) == (20, sum(len(f) for f in expected))


async def test_deliver_hands_over_queued_frames_first():
    async def handler(ws):
        for n in range(3):
            await ws.send(f'{{"n":{n}}}')
        await ws.recv()  # "more"
        for n in range(3, 5):
            await ws.send(f'{{"n":{n}}}')
        await ws.close()

    records, got = [], []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url, recorder=lambda d, f: records.append((d, f))) as conn:
                await until(lambda: len(conn._io.frames) == 3)
                assert conn.stats.frames_received == 0 and records == []  # counted when handed over
                await conn.send("more")
                await conn.deliver(lambda f: got.append((f, asyncio.current_task() is None)))
    expected = [f'{{"n":{n}}}'.encode() for n in range(5)]
    assert [f for f, _ in got] == expected
    # The queued three from deliver()'s own task, the other two from the socket callback.
    assert [in_callback for _, in_callback in got] == [False, False, False, True, True]
    assert [f for d, f in records if d == "server"] == expected
    assert conn.stats.frames_received == 5


@pytest.mark.parametrize("queued", [False, True], ids=["live", "queued"])
@pytest.mark.parametrize("then", ["recv", "deliver"])
async def test_deliver_handler_error_propagates_and_later_frames_stay_queued(queued, then):
    frames = [f'{{"n":{n}}}' for n in range(5)]

    async def handler(ws):
        await ws.recv()  # "go"
        send_at_once(ws, frames)
        await ws.recv()  # "done"
        await ws.close()

    seen, records = [], []
    error = Boom("frame 2 is bad")

    def on_frame(frame):
        seen.append(frame)
        if len(seen) == 2:
            raise error

    expected = [f.encode() for f in frames]
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url, recorder=lambda d, f: records.append((d, f))) as conn:
                await conn.send("go")
                if queued:
                    await until(lambda: len(conn._io.frames) == 5)
                with pytest.raises(Boom) as info:
                    await conn.deliver(on_frame)
                assert info.value is error
                assert seen == expected[:2]
                assert conn.stats.frames_received == 2
                assert not conn.closed
                if then == "recv":
                    rest = [await conn.recv() for _ in range(3)]
                    await conn.send("done")  # still open both ways
                    assert [f async for f in conn] == []
                else:
                    await conn.send("done")
                    rest = []
                    assert await conn.deliver(rest.append) is None
    assert rest == expected[2:]
    assert [f for d, f in records if d == "server"] == expected  # each frame exactly once
    assert conn.stats.frames_received == 5


@pytest.mark.parametrize("code", [1000, 1001])
async def test_deliver_returns_on_normal_close(code):
    async def handler(ws):
        await ws.send('{"type":"one"}')
        await ws.send('{"type":"two"}')
        await ws.close(code, "bye")

    got = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                assert await conn.deliver(got.append) is None
                with pytest.raises(ConnectionClosed) as info:
                    await conn.recv()
                assert await conn.deliver(got.append) is None  # again: nothing left, ends at once
    assert got == [b'{"type":"one"}', b'{"type":"two"}']
    assert info.value.normal and info.value.code == code


@pytest.mark.parametrize("code, reason", [(1011, "boom"), (4000, "beta shape retired")])
async def test_deliver_raises_on_abnormal_close(code, reason):
    async def handler(ws):
        await ws.send('{"type":"first"}')
        await ws.close(code, reason)

    got = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                with pytest.raises(ConnectionClosed) as info:
                    await conn.deliver(got.append)
    assert got == [b'{"type":"first"}']
    assert (info.value.code, info.value.reason) == (code, reason)
    assert not info.value.normal


async def test_deliver_raises_1006_on_tcp_loss():
    async def handler(ws):
        await ws.send('{"type":"first"}')
        ws.transport.abort()

    got = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                with pytest.raises(ConnectionClosed) as info:
                    await conn.deliver(got.append)
    assert got == [b'{"type":"first"}']
    assert (info.value.code, info.value.reason) == (1006, "connection lost")


@pytest.mark.parametrize("code, reason", [(1000, "bye"), (1011, "boom")])
async def test_deliver_after_the_connection_ended_hands_over_what_is_queued(code, reason):
    async def handler(ws):
        await ws.send('{"type":"one"}')
        await ws.send('{"type":"two"}')
        await ws.close(code, reason)

    got = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                await until(lambda: conn._io.ended)
                if code == 1000:
                    assert await conn.deliver(got.append) is None
                else:
                    with pytest.raises(ConnectionClosed) as info:
                        await conn.deliver(got.append)
                    assert (info.value.code, info.value.reason) == (code, reason)
    assert got == [b'{"type":"one"}', b'{"type":"two"}']
    assert conn.stats.frames_received == 2


@pytest.mark.parametrize("code", [1000, 4001])
async def test_our_own_close_from_another_task_ends_deliver(code):
    close_codes = []

    async def handler(ws):
        await ws.wait_closed()
        close_codes.append(ws.protocol.close_rcvd.code)

    got = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            conn = await connect(url)
            task = asyncio.create_task(conn.deliver(got.append))
            await until(lambda: conn._io._reader is not None)
            await asyncio.sleep(0.02)
            assert not task.done()
            await conn.close(code, "done here")
            assert await task is None  # even for a code that is not "normal"
            assert await conn.deliver(got.append) is None  # after close: ends at once
    assert got == []
    assert close_codes == [code]
    assert conn.closed


async def test_deliver_while_another_task_receives_raises_runtime_error():
    async with asyncio.timeout(LIMIT):
        async with local_server(echo) as url:
            async with connect(url) as conn:
                reader = asyncio.create_task(conn.recv())
                await until(lambda: conn._io._reader is not None)
                with pytest.raises(RuntimeError, match="another task"):
                    await conn.deliver(lambda f: None)
                await conn.send('{"type":"x"}')
                assert await reader == b'{"type":"x"}'  # the first reader was not disturbed


async def test_recv_or_deliver_while_deliver_runs_raises_runtime_error():
    got = []
    async with asyncio.timeout(LIMIT):
        async with local_server(echo) as url:
            async with connect(url) as conn:
                task = asyncio.create_task(conn.deliver(got.append))
                await until(lambda: conn._io._reader is not None)
                with pytest.raises(RuntimeError, match="another task"):
                    await conn.recv()
                with pytest.raises(RuntimeError, match="another task"):
                    await conn.deliver(got.append)
                await conn.send('{"type":"x"}')
                await until(lambda: got)
                assert not task.done()
            assert await task is None
    assert got == [b'{"type":"x"}']


async def test_handler_can_reply_with_send_nowait():
    count = 50
    replies = []

    async def handler(ws):
        for n in range(count):
            await ws.send(f'{{"type":"ping","n":{n}}}')
        for _ in range(count):
            replies.append(await ws.recv())
        await ws.close()

    def on_frame(frame):
        n = json.loads(frame)["n"]
        conn.send_nowait(f'{{"type":"pong","n":{n}}}')

    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                await conn.deliver(on_frame)
    assert replies == [f'{{"type":"pong","n":{n}}}' for n in range(count)]
    assert conn.stats.frames_sent == count and conn.stats.frames_received == count


async def test_deliver_events_skips_malformed_frames_via_on_error(caplog):
    garbage = "{oops" + "x" * 5000
    sent = ['{"type":"session.created"}', garbage, '{"no":"type"}', '{"type":"future.event"}']

    async def handler(ws):
        for frame in sent:
            await ws.send(frame)
        await ws.close()

    pairs, errors = [], []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                result = await deliver_events(
                    conn, lambda raw, event: pairs.append((raw, event)), api="beta", decode=fake_decode,
                    on_error=lambda raw, exc: errors.append((raw, exc)),
                )
    assert result is None
    assert pairs == [
        (b'{"type":"session.created"}', ("beta", "session.created")),
        (b'{"type":"future.event"}', ("beta", "future.event")),
    ]
    assert [raw for raw, _ in errors] == [garbage.encode(), b'{"no":"type"}']
    assert all(isinstance(exc, ProtocolError) for _, exc in errors)
    assert not [r for r in caplog.records if r.name == "rtproto.transport" and r.levelno == logging.WARNING]
    assert conn.stats.frames_received == 4


async def test_deliver_events_logs_malformed_frames_without_on_error(caplog):
    garbage = "{oops" + "x" * 5000
    sent = [garbage, '{"no":"type"}', '{"type":"future.event"}']

    async def handler(ws):
        for frame in sent:
            await ws.send(frame)
        await ws.close()

    pairs = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                await deliver_events(conn, lambda raw, event: pairs.append((raw, event)), decode=fake_decode)
    assert pairs == [(b'{"type":"future.event"}', ("ga", "future.event"))]
    warnings = [r for r in caplog.records if r.name == "rtproto.transport" and r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "not JSON" in warnings[0].getMessage() and "missing type" in warnings[1].getMessage()
    assert "(5005 bytes)" in warnings[0].getMessage() and len(warnings[0].getMessage()) < 600


async def test_deliver_events_raises_on_abnormal_close_and_handler_errors():
    async def handler(ws):
        await ws.recv()  # "go"
        send_at_once(ws, ['{"type":"a"}', '{"type":"b"}', '{"type":"c"}'])
        await ws.recv()  # "again"
        await ws.close(1011, "boom")

    seen = []

    def on_event(raw, event):
        seen.append(event)
        if event == ("ga", "a"):
            raise Boom("a")

    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                await conn.send("go")
                with pytest.raises(Boom):
                    await deliver_events(conn, on_event, decode=fake_decode)
                await conn.send("again")
                with pytest.raises(ConnectionClosed, match="1011: boom"):
                    await deliver_events(conn, on_event, decode=fake_decode)
    assert seen == [("ga", "a"), ("ga", "b"), ("ga", "c")]


async def test_deliver_many_frames_each_exactly_once():
    count = 2000
    frames = [f'{{"n":{n}}}' for n in range(count)]

    async def handler(ws):
        for frame in frames:
            await ws.send(frame)
        await ws.close()

    got = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                await conn.deliver(got.append)
    assert got == [f.encode() for f in frames]
    assert conn.stats.frames_received == count


async def test_deliver_drains_a_paused_backlog_and_reading_resumes():
    backlog_size = RECV_HIGH_WATER + 500
    frames = [f'{{"n":{n}}}' for n in range(backlog_size + 500)]

    async def handler(ws):
        for frame in frames[:backlog_size]:
            await ws.send(frame)
        await ws.recv()  # "go": the rest can only be read once reading has resumed
        for frame in frames[backlog_size:]:
            await ws.send(frame)
        await ws.close()

    got = []
    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                await until(lambda: conn._io.reading_stopped & QUEUE_FULL)  # the backlog stopped socket reads
                assert len(conn._io.frames) > RECV_HIGH_WATER
                await conn.send("go")
                await conn.deliver(got.append)
                assert not conn._io.reading_stopped & QUEUE_FULL
    assert got == [f.encode() for f in frames]
    assert conn.stats.frames_received == len(frames)


async def test_frames_after_deliver_is_cancelled_are_not_lost():
    async def handler(ws):
        await ws.recv()  # "go"
        send_at_once(ws, ['{"n":1}', '{"n":2}', '{"n":3}'])
        await ws.recv()  # "done"
        await ws.close()

    seen = []

    def on_frame(frame):
        seen.append(frame)
        if frame == b'{"n":1}':
            task.cancel()  # e.g. a frame that ends the session stops the task running deliver()
        elif frame == b'{"n":2}':
            raise Boom("frame 2")

    async with asyncio.timeout(LIMIT):
        async with local_server(handler) as url:
            async with connect(url) as conn:
                task = asyncio.create_task(conn.deliver(on_frame))
                await until(lambda: conn._io._reader is not None)
                await conn.send("go")
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert not conn.closed
                rest = [await conn.recv() for _ in range(3 - len(seen))]
                await conn.send("done")
                assert [f async for f in conn] == []
    assert seen == [b'{"n":1}']  # once deliver() is cancelled, later frames are queued, not handed over
    assert rest == [b'{"n":2}', b'{"n":3}']


async def test_deliver_refused_while_recv_waits_takes_no_queued_frame():
    got = []
    async with asyncio.timeout(LIMIT):
        async with local_server(echo) as url:
            async with connect(url) as conn:
                reader = asyncio.create_task(conn.recv())
                await until(lambda: conn._io._reader is not None)
                await conn.send('{"type":"x"}')
                while not conn._io.frames:  # one loop turn at a time: stop once the frame is queued
                    await asyncio.sleep(0)  # and the reader woken, before the reader has run
                with pytest.raises(RuntimeError, match="another task"):
                    await conn.deliver(got.append)
                (received,) = await asyncio.gather(reader, return_exceptions=True)
    assert got == []
    assert received == b'{"type":"x"}'
