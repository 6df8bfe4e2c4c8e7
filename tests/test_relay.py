"""The recording relay, between real clients and rtproto's own server, on 127.0.0.1 only.

The upstream is a :class:`~rtproto.server.RealtimeServer` that also keeps the raw
client frames and handshake headers it got, so that a test can compare what the
client sent, what the relay forwarded, and what the relay recorded. Every wait is
on a condition under ``asyncio.timeout(LIMIT)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import socket
import sys
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from cli_harness import FIXTURES, RATE, Conversation, cli_env, codec, fixture_deltas, running, speech_like, until
from rtproto.redact import Secrets
from rtproto.relay import Relay, cli_relay, requires_token, upstream_url
from rtproto.server import RealtimeServer
from rtproto.testing import ScriptBuilder, serve_with_faults
from rtproto.transcript import read_transcript

LIMIT = 15  # seconds
RELAY_KEY = "sk-relay-Q8wXr2Lk9TzPv4NcYb7Hf3Jm"
CLIENT_KEY = "sk-client-Z1aBc2De3Fg4Hi5Jk6Lm7No8"
TOKEN = "relay-token-5e0c1f8a9b7d4c2e"
REPO = Path(__file__).resolve().parents[1]


class Upstream(RealtimeServer):
    """A replaying server that also keeps the raw client frames and the handshake headers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.raw: list[str | bytes] = []
        self.authorizations: list[list[str]] = []
        self.paths: list[str] = []

    async def _opened(self, ws, session):
        self.authorizations.append(ws.request.headers.get_all("Authorization"))
        self.paths.append(ws.request.path)

    async def _client_frame(self, ws, session, message):
        self.raw.append(message)


def wire_events(path: Path, direction: str) -> list[bytes]:
    """The ``event`` bytes of each wire line of ``direction``, exactly as in the file."""
    out = []
    for line in path.read_bytes().splitlines()[1:]:
        if line.startswith(b'{"t":') and b'"dir":"%s","event":' % direction.encode() in line[:40]:
            out.append(line[line.index(b'"event":') + 8: -1])
    return out


def recording(directory: Path) -> Path:
    files = sorted(directory.glob("relay-*.jsonl"))
    assert len(files) == 1, files
    return files[0]


def assert_no_secrets(path: Path) -> None:
    text = path.read_text()
    for secret in (RELAY_KEY, CLIENT_KEY, TOKEN):
        assert secret not in text


# -- 1. the official SDK's client -> relay -> serve -------------------------------------


async def test_official_sdk_session_is_relayed_and_recorded_byte_for_byte(tmp_path):
    openai = pytest.importorskip("openai")
    fixture = read_transcript(FIXTURES / "mcp_call.jsonl")
    async with asyncio.timeout(LIMIT), Upstream(fixture, speed="max", api_key=RELAY_KEY) as upstream, \
            Relay(upstream=upstream.url, api_key=RELAY_KEY, record_dir=str(tmp_path)) as relay:
        client = openai.AsyncOpenAI(api_key=CLIENT_KEY, websocket_base_url=f"ws://127.0.0.1:{relay.port}/v1")
        received = []
        async with client.realtime.connect(model="gpt-realtime") as conn:
            for line in fixture.lines:
                if line.dir == "client":
                    await conn.send(line.event)
                elif line.dir == "server":
                    received.append(await conn.recv_bytes())
        served = await upstream.wait_session_done()
        await relay.sessions[0].done.wait()
        upstream_at = upstream.url

    played = [orjson.dumps(e) for e in fixture.server_events()]
    assert [e["type"] for e in served.sent] == [e["type"] for e in fixture.server_events()]
    assert received == played  # the client got exactly what the server played
    path = recording(tmp_path)
    assert wire_events(path, "server") == played  # recorded byte for byte
    sent = [m.encode() if isinstance(m, str) else m for m in upstream.raw]
    assert [orjson.loads(m) for m in sent] == fixture.client_events()  # forwarded in order, none lost
    recorded = wire_events(path, "client")
    secrets = Secrets([RELAY_KEY])
    exact = 0
    for wire, line in zip(sent, recorded, strict=True):
        if secrets.needs(orjson.loads(wire)):  # the MCP tool's authorization: recorded redacted
            assert orjson.loads(line) == secrets.value(orjson.loads(wire))
        else:
            assert line == wire
            exact += 1
    assert exact == len(sent) - 1
    header = read_transcript(path).header
    assert header["api"] == "ga" and header["model"] == "gpt-realtime"
    assert header["url"] == f"{upstream_at}?model=gpt-realtime"
    assert upstream.authorizations == [[f"Bearer {RELAY_KEY}"]]  # the relay's key, not the SDK's
    assert_no_secrets(path)
    session = relay.sessions[0]
    assert session.frames == {"client": len(sent), "server": len(played)}
    assert session.tokens == sum(e["response"]["usage"]["total_tokens"] for e in fixture.server_events()
                                 if e["type"] == "response.done")
    assert session.closed_by == "client" and session.close_code == 1000


# -- 2. rtproto's own CLI -> the relay CLI -> serve ---------------------------------------


async def start_relay_process(*args: str, env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rtproto.relay", "--port", "0", *args, env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    line = (await proc.stdout.readline()).decode()
    assert line.startswith("listening on ws://127.0.0.1:") and line.endswith("/v1/realtime\n"), line
    return proc, line.split()[-1]


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_rtproto_cli_through_the_relay_command(tmp_path):
    codec.write_wav(tmp_path / "question.wav", speech_like(0.4), RATE)
    text = "The latest release is 3.51.0."
    script = Conversation().session().answer("resp_A1", "item_A1", fixture_deltas("mcp_call.jsonl")[:5], text)
    env = cli_env(tmp_path, OPENAI_API_KEY=RELAY_KEY)
    async with asyncio.timeout(LIMIT), Upstream(script.script.build(), speed="max", api_key=RELAY_KEY) as upstream:
        proc, url = await start_relay_process("--upstream", upstream.url, "--record", str(tmp_path / "rec"), env=env)
        try:
            async with running("--url", url, "--input", "question.wav", "--output", "answer.wav",
                               "--record", "own.jsonl", cwd=tmp_path) as cli:
                await cli.expect(f"assistant ▸ {text}\n")
                cli.interrupt()
                assert await cli.wait() == 0, cli.screen()
            session_line = (await proc.stdout.readline()).decode()
        finally:
            code, out, err = await stop(proc)
        served = await upstream.wait_session_done()

    assert code == 0, err
    assert session_line.startswith("session 1: model gpt-realtime, ")
    assert f"{len(upstream.raw)} frames client->server, {len(served.sent)} server->client, 170 tokens" in session_line
    assert served.close_code == 1000 and not served.departures  # the CLI's close reached the server
    own, relayed = read_transcript(tmp_path / "own.jsonl"), read_transcript(recording(tmp_path / "rec"))
    assert relayed.client_events() == own.client_events()
    assert relayed.server_events() == own.server_events() == script.script.build().server_events()
    assert relayed.local_events()[-1] == {"type": "connection.closed", "code": 1000, "reason": "", "by": "client"}
    assert_no_secrets(recording(tmp_path / "rec"))
    assert RELAY_KEY not in session_line + out + err


# -- 3. close codes both ways -------------------------------------------------------------


def opening() -> ScriptBuilder:
    return (ScriptBuilder(model="gpt-realtime")
            .server("session.created", event_id="event_1", session={"type": "realtime"})
            .expect_client("session.update"))


async def test_upstream_close_code_and_reason_reach_the_client(tmp_path):
    script = opening().close(1011, "upstream broke down")
    async with asyncio.timeout(LIMIT), Upstream(script.build(), speed="max") as upstream, \
            Relay(upstream=upstream.url, record_dir=str(tmp_path)) as relay:
        async with connect(relay.url + "?model=gpt-realtime") as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        await relay.sessions[0].done.wait()

    assert (ws.close_code, ws.close_reason) == (1011, "upstream broke down")
    closed = read_transcript(recording(tmp_path)).local_events()[-1]
    assert closed == {"type": "connection.closed", "code": 1011, "reason": "upstream broke down", "by": "server"}


async def test_after_the_closing_handshake_the_relay_ends_tcp(monkeypatch):
    # RFC 6455 7.1.1: the server closes TCP first. A relay that did not would leave every client
    # waiting out a close timeout (10 s for websockets'); here the relay's own is made longer than
    # the test's limit, so only a relay that ends TCP by itself passes.
    monkeypatch.setattr("rtproto.relay.CLOSE_TIMEOUT", 10 * LIMIT)
    from websockets.client import ClientProtocol
    from websockets.frames import Close, Opcode
    from websockets.uri import parse_uri

    script = opening().close(1011, "upstream broke down")
    async with asyncio.timeout(LIMIT), Upstream(script.build(), speed="max") as upstream, \
            Relay(upstream=upstream.url) as relay:
        client = ClientProtocol(parse_uri(relay.url + "?model=gpt-realtime"))
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        client.send_request(client.connect())
        writer.write(b"".join(client.data_to_send()))
        closes = []
        while not closes:
            client.receive_data(await reader.read(65536))
            for event in client.events_received():
                if getattr(event, "opcode", None) is Opcode.TEXT:  # session.created: the script waits for this
                    client.send_text(json.dumps({"type": "session.update", "session": {"type": "realtime"}}).encode())
                elif getattr(event, "opcode", None) is Opcode.CLOSE:
                    closes.append(event)
            writer.write(b"".join(d for d in client.data_to_send() if d))  # the close reply, once it came
        assert Close.parse(closes[0].data) == Close(1011, "upstream broke down")
        assert await reader.read(65536) == b""  # the relay ended TCP
        writer.close()


@pytest.mark.parametrize(("code", "reason"), [(1000, "bye"), (4001, "app says stop")])
async def test_client_close_code_and_reason_reach_upstream(code, reason):
    async with asyncio.timeout(LIMIT), Upstream(opening().build(), speed="max") as upstream, \
            Relay(upstream=upstream.url) as relay:
        async with connect(relay.url) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            await ws.close(code, reason)
        served = await upstream.wait_session_done()
        await relay.sessions[0].done.wait()

    assert (served.close_code, served.close_reason) == (code, reason)
    assert (relay.sessions[0].closed_by, relay.sessions[0].close_code) == ("client", code)


# -- 4. an upstream refusal is the client's refusal ------------------------------------------


@pytest.mark.parametrize("status", [401, 429, 500])
async def test_upstream_refusal_reaches_the_client_as_the_same_status(status):
    from rtproto.testing import Fault

    async with asyncio.timeout(LIMIT), \
            serve_with_faults(opening(), faults=[Fault.refuse(status, f"refused {RELAY_KEY}")], speed="max") as up, \
            Relay(upstream=up.url, api_key=RELAY_KEY) as relay:
        with pytest.raises(InvalidStatus) as info:
            async with connect(relay.url):
                pass
    assert info.value.response.status_code == status
    assert RELAY_KEY not in info.value.response.body.decode()  # an echoed key is redacted
    assert not relay.sessions


async def test_upstream_that_rejects_the_relays_key_gives_401():
    async with asyncio.timeout(LIMIT), Upstream(opening().build(), api_key="sk-some-other-key-0123456789") as up, \
            Relay(upstream=up.url, api_key=RELAY_KEY) as relay:
        with pytest.raises(InvalidStatus) as info:
            async with connect(relay.url):
                pass
    assert info.value.response.status_code == 401


# -- 5. the token, and client credentials never forwarded ---------------------------------


@pytest.mark.parametrize(("host", "needed"), [
    ("127.0.0.1", False), ("127.0.0.2", False), ("::1", False), ("[::1]", False), ("localhost", False),
    ("0.0.0.0", True), ("::", True), ("192.168.1.20", True), ("relay.example.com", True), ("", True),
])
def test_binding_off_loopback_requires_a_token(host, needed):
    assert requires_token(host) is needed


async def test_cli_refuses_a_public_bind_without_token(capsys):
    args = argparse.Namespace(host="0.0.0.0", port=0, record=None, upstream="ws://127.0.0.1:9/v1/realtime", token=None)
    assert await cli_relay(args) == 2
    assert "--token" in capsys.readouterr().err


@pytest.mark.parametrize("present", [
    {"additional_headers": {"Authorization": f"Bearer {TOKEN}"}},
    {"additional_headers": {"api-key": TOKEN}},
    {"query": f"&api-key={TOKEN}"},
])
async def test_token_accepted_where_sdks_put_it_and_never_forwarded_or_recorded(tmp_path, present):
    async with asyncio.timeout(LIMIT), Upstream(opening().build(), speed="max", api_key=RELAY_KEY) as upstream, \
            Relay(upstream=upstream.url, api_key=RELAY_KEY, token=TOKEN, record_dir=str(tmp_path)) as relay:
        url = relay.url + "?model=gpt-realtime" + present.get("query", "")
        async with connect(url, additional_headers=present.get("additional_headers")) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
        await relay.sessions[0].done.wait()

    assert upstream.authorizations == [[f"Bearer {RELAY_KEY}"]]
    assert upstream.paths == ["/v1/realtime?model=gpt-realtime"]  # the api-key query is not forwarded
    assert_no_secrets(recording(tmp_path))


WRONG = "relay-token-wrong-4b1d9e7c"


@pytest.mark.parametrize("offered", [
    {}, {"additional_headers": {"Authorization": f"Bearer {CLIENT_KEY}"}}, {"additional_headers": {"api-key": WRONG}},
    # a browser's: its key as a subprotocol (wrong, missing, or the token with a suffix)
    {"subprotocols": ["realtime", f"openai-insecure-api-key.{WRONG}"]}, {"subprotocols": ["realtime"]},
    {"subprotocols": [f"openai-insecure-api-key.{TOKEN}x"]},
])
async def test_loopback_relay_with_token_refuses_a_client_without_it(caplog, offered):
    caplog.set_level(logging.DEBUG, logger="rtproto.server")
    async with asyncio.timeout(LIMIT), Upstream(opening().build(), speed="max") as upstream, \
            Relay(upstream=upstream.url, token=TOKEN) as relay:
        with pytest.raises(InvalidStatus) as info:
            async with connect(relay.url, **offered):
                pass
    assert info.value.response.status_code == 401
    assert upstream.sessions == []  # refused before any upstream connection
    logged = "\n".join(caplog.handler.format(r) for r in caplog.records)
    assert "> HTTP/1.1 401" in logged  # the handshake was logged, and no key in it
    assert CLIENT_KEY not in logged and WRONG not in logged and TOKEN not in logged


async def test_client_authorization_is_replaced_by_the_relays_key(tmp_path):
    async with asyncio.timeout(LIMIT), Upstream(opening().build(), speed="max", api_key=RELAY_KEY) as upstream, \
            Relay(upstream=upstream.url, api_key=RELAY_KEY, record_dir=str(tmp_path)) as relay:
        headers = {"Authorization": f"Bearer {CLIENT_KEY}", "OpenAI-Beta": "realtime=v1"}
        async with connect(relay.url + "?model=gpt-4o-realtime-preview", additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
        await relay.sessions[0].done.wait()

    assert upstream.authorizations == [[f"Bearer {RELAY_KEY}"]]
    assert read_transcript(recording(tmp_path)).header["api"] == "beta"
    assert_no_secrets(recording(tmp_path))


def test_upstream_url_keeps_the_query_and_drops_credentials():
    url = upstream_url("wss://api.openai.com/v1/realtime", "/v1/realtime?model=m&call_id=c1&intent=x&api-key=k")
    assert url == "wss://api.openai.com/v1/realtime?model=m&call_id=c1&intent=x"
    assert upstream_url("ws://h:1/v1/realtime", "/v1/realtime/translations") == "ws://h:1/v1/realtime/translations"


# -- 6. a slow side never grows the relay's memory: bytes held are bounded both ways ------------

BURST, FRAME_BYTES, WRITE_LIMIT = 160, 64 * 1024, 2**15
# What the relay may hold of one direction: its write buffer's high-water mark, one frame written
# past it, one socket read, and one frame being assembled.
HELD_BOUND = WRITE_LIMIT + FRAME_BYTES + 16384 + FRAME_BYTES + 512


def small_buffer_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # no kernel autotuning to hide behind
    return sock


async def test_slow_client_stops_the_relay_reading_upstream_with_bounded_buffers():
    script = ScriptBuilder()
    for i in range(BURST):
        script.server("response.output_audio.delta", event_id=f"event_{i}", delta="A" * FRAME_BYTES)
    async with asyncio.timeout(LIMIT), Upstream(script.build(), speed="max") as upstream, \
            Relay(upstream=upstream.url, write_limit=WRITE_LIMIT) as relay:
        sock = small_buffer_socket()
        sock.connect(("127.0.0.1", relay.port))
        async with connect(relay.url, sock=sock, max_queue=1, max_size=2 * FRAME_BYTES) as ws:
            # The client reads nothing until the relay has stopped reading upstream.
            await until(lambda: relay.sessions and relay.sessions[0].waiting("server"), "the relay to stop reading")
            held = relay.sessions[0].held("server")
            got = [json.loads(await ws.recv())["event_id"] for _ in range(BURST)]
        await relay.sessions[0].done.wait()

    assert got == [f"event_{i}" for i in range(BURST)]  # nothing lost, in order
    session = relay.sessions[0]
    assert WRITE_LIMIT <= held <= HELD_BOUND
    assert WRITE_LIMIT < session.write_high_water["server"] <= HELD_BOUND
    assert BURST * FRAME_BYTES > 50 * HELD_BOUND  # far more passed through than was ever held


async def test_slow_upstream_stops_the_relay_reading_the_client_with_bounded_buffers():
    read_now = asyncio.Event()
    received: list[bytes] = []

    async def slow_reader(ws):
        await read_now.wait()
        async for message in ws:
            received.append(message)

    listener = small_buffer_socket()
    listener.bind(("127.0.0.1", 0))
    async with asyncio.timeout(LIMIT), serve(slow_reader, sock=listener, max_queue=1, max_size=None), \
            Relay(upstream=f"ws://127.0.0.1:{listener.getsockname()[1]}/v1/realtime",
                  write_limit=WRITE_LIMIT) as relay:
        frames = [b'{"type":"input_audio_buffer.append","n":%d,"audio":"%s"}' % (i, b"B" * FRAME_BYTES)
                  for i in range(BURST)]
        async with connect(relay.url, max_size=None) as ws:
            sender = asyncio.create_task(send_all(ws, frames))
            await until(lambda: relay.sessions and relay.sessions[0].waiting("client"), "the relay to stop reading")
            held = relay.sessions[0].held("client")
            read_now.set()
            await sender
            await until(lambda: len(received) == BURST, "the upstream to read every frame")
        await relay.sessions[0].done.wait()

    assert received == [f.decode() for f in frames]  # in order, text frames as text, byte for byte
    session = relay.sessions[0]
    assert WRITE_LIMIT <= held <= HELD_BOUND
    assert WRITE_LIMIT < session.write_high_water["client"] <= HELD_BOUND


async def send_all(ws, frames: list[bytes]) -> None:
    for frame in frames:
        await ws.send(frame, text=True)
