"""The local replay server, driven by real websocket clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rtproto.errors import TranscriptError
from rtproto.server import (
    DEFAULT_MAX_FRAME,
    CloseStep,
    Departure,
    ExpectStep,
    RealtimeServer,
    SendStep,
    plan_replay,
)
from rtproto.testing import ScriptBuilder, serve_transcript
from rtproto.transcript import RAW_FRAME_TYPE, TranscriptWriter, read_transcript

LIMIT = 10  # seconds; every test is bounded by asyncio.timeout(LIMIT)
API_KEY = "sk-test-Hq3Zr8Kd0LmXw2Pv7NcYb5Tf"
AUDIO = "AAABAAIAAwAEAAUABgAHAAgACQAKAAsADAANAA4ADwA="


def conversation(after_ms: float = 0.0) -> ScriptBuilder:
    """A short voice turn as the GA server would play it."""
    return (
        ScriptBuilder(model="gpt-realtime")
        .server("session.created", event_id="event_A1", session={"type": "realtime", "id": "sess_A1"})
        .expect_client("session.update")
        .server("session.updated", event_id="event_A2", session={"type": "realtime"}, after_ms=after_ms)
        .expect_client("input_audio_buffer.append")
        .expect_client("input_audio_buffer.append")
        .expect_client("input_audio_buffer.commit")
        .server("input_audio_buffer.committed", event_id="event_A3", item_id="item_U1", after_ms=after_ms)
        .expect_client("response.create")
        .server("response.created", event_id="event_A4", response={"id": "resp_R1", "status": "in_progress"})
        .server(
            "response.output_audio.delta",
            event_id="event_A5",
            response_id="resp_R1",
            item_id="item_M1",
            output_index=0,
            content_index=0,
            delta=AUDIO,
            after_ms=after_ms,
        )
        .server("response.done", event_id="event_A6", response={"id": "resp_R1", "status": "completed"})
    )


def client_event(kind: str, **fields) -> str:
    return json.dumps({"type": kind, **fields})


async def recv_event(ws) -> dict:
    return json.loads(await ws.recv())


async def recv_until_closed(ws) -> list[dict]:
    """Every event until the server closes; the close code is then on ``ws.close_code``."""
    events = []
    try:
        while True:
            events.append(json.loads(await ws.recv()))
    except ConnectionClosed:
        return events


async def play_client_side(ws, appends: int) -> list[dict]:
    """Send the client half of `conversation()` and collect the six server events."""
    await ws.send(client_event("session.update", session={"type": "realtime"}))  # before session.created
    received = [await recv_event(ws), await recv_event(ws)]
    for _ in range(appends):
        await ws.send(client_event("input_audio_buffer.append", audio=AUDIO))
    await ws.send(client_event("input_audio_buffer.commit"))
    received.append(await recv_event(ws))
    await ws.send(client_event("input_audio_buffer.append", audio=AUDIO))  # appends never depart
    await ws.send(client_event("response.create"))
    received += [await recv_event(ws) for _ in range(3)]
    return received


# ---------------------------------------------------------------------------
# Matching


@pytest.mark.parametrize("appends", [0, 1, 5])
async def test_replays_recorded_events_in_order_for_any_append_run(appends):
    script = conversation().build()
    async with asyncio.timeout(LIMIT), serve_transcript(script, speed="max") as server:
        async with connect(server.url) as ws:
            received = await play_client_side(ws, appends)
        session = await server.wait_session_done()

    assert received == script.server_events()
    assert session.departures == []
    assert session.completed
    assert session.sent == script.server_events()
    assert [e["type"] for e in session.received if e["type"] != "input_audio_buffer.append"] == [
        "session.update", "input_audio_buffer.commit", "response.create",
    ]
    assert sum(e["type"] == "input_audio_buffer.append" for e in server.received) == appends + 1


async def test_server_waits_for_the_expected_client_event():
    async with asyncio.timeout(LIMIT), serve_transcript(conversation(), speed="max") as server:
        async with connect(server.url) as ws:
            first = await recv_event(ws)
        session = await server.wait_session_done()

    assert first["type"] == "session.created"
    assert [e["type"] for e in session.sent] == ["session.created"]
    assert not session.completed
    assert session.close_code == 1000


async def test_departures_are_reported_and_replay_goes_on(caplog):
    script = (
        ScriptBuilder()
        .expect_client("response.create")
        .server("response.created", event_id="event_B1", response={"id": "resp_B1"})
    )
    caplog.set_level(logging.WARNING, logger="rtproto.server")
    async with asyncio.timeout(LIMIT), serve_transcript(script, speed="max") as server:
        async with connect(server.url) as ws:
            wrong = {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": []}}
            await ws.send(json.dumps(wrong))
            await ws.send(client_event("response.create"))
            answer = await recv_event(ws)
            await ws.send(client_event("response.cancel"))
        session = await server.wait_session_done()

    assert answer["type"] == "response.created"
    assert session.departures == [
        Departure(0, "response.create", "conversation.item.create", wrong),
        Departure(1, None, "response.cancel", {"type": "response.cancel"}),
    ]
    assert server.departures == session.departures
    messages = [record.getMessage() for record in caplog.records]
    assert "departure at client event 0: expected response.create, got conversation.item.create" in messages
    assert "departure at client event 1: expected no more client events, got response.cancel" in messages
    assert not any('"role"' in message for message in messages)  # types only, never contents


async def test_strict_server_closes_with_1008_naming_the_departure():
    async with asyncio.timeout(LIMIT), serve_transcript(conversation(), speed="max", strict=True) as server:
        async with connect(server.url) as ws:
            await ws.send(client_event("response.create"))
            events = await recv_until_closed(ws)
        session = await server.wait_session_done()

    assert [e["type"] for e in events] in ([], ["session.created"])
    assert ws.close_code == 1008
    assert ws.close_reason == "departure at client event 0: expected session.update, got response.create"
    assert session.departures[0].got_type == "response.create"


@pytest.mark.parametrize(
    ("frame", "departed"),
    [
        ("{not json", {"type": RAW_FRAME_TYPE, "raw": "{not json"}),
        (b"\xff\xfe", {"type": RAW_FRAME_TYPE, "raw": "\\xff\\xfe"}),
        ("[1, 2]", {"type": RAW_FRAME_TYPE, "raw": "[1, 2]"}),
        ('{"event_id": "e1"}', {"event_id": "e1"}),
    ],
)
async def test_frame_without_a_json_type_is_a_departure_not_a_crash(frame, departed):
    script = ScriptBuilder().expect_client("response.create").server("response.created", event_id="event_C1")
    async with asyncio.timeout(LIMIT), serve_transcript(script, speed="max") as server:
        async with connect(server.url) as ws:
            await ws.send(frame)
            await ws.send(client_event("response.create"))
            answer = await recv_event(ws)
        session = await server.wait_session_done()

    assert answer == {"type": "response.created", "event_id": "event_C1"}
    assert session.departures == [Departure(0, "response.create", None, departed)]


async def test_strict_server_closes_on_invalid_json():
    async with asyncio.timeout(LIMIT), serve_transcript(conversation(), speed="max", strict=True) as server:
        async with connect(server.url) as ws:
            await ws.send("{oops")
            await recv_until_closed(ws)

    assert ws.close_code == 1008
    assert ws.close_reason == "departure at client event 0: expected session.update, got a frame without a JSON type"


# ---------------------------------------------------------------------------
# Pacing, closing, reconnecting


def test_plan_keeps_recorded_gaps_and_skips_appends():
    script = (
        ScriptBuilder()
        .server("session.created", after_ms=40)
        .expect_client("session.update", after_ms=10)
        .expect_client("input_audio_buffer.append", after_ms=100)
        .server("session.updated", after_ms=25)
        .local({"type": "playback.cleared", "item_id": "item_1", "content_index": 0, "played_ms": 5})
        .close(1011, "boom", after_ms=5)
        .server("never.sent")
        .build()
    )
    plan = plan_replay(script)
    assert plan.expected == ("session.update",)
    assert plan.steps == (
        SendStep({"type": "session.created"}, '{"type":"session.created"}', 40.0),
        ExpectStep(0, "session.update"),
        SendStep({"type": "session.updated"}, '{"type":"session.updated"}', 125.0),
        CloseStep(1011, "boom", 5.0),
    )


@pytest.mark.parametrize("code", [999, 1015, 2000, "1011"])
def test_unsendable_recorded_close_code_is_refused_with_its_line(code):
    script = ScriptBuilder().server("session.created").close(code).build()
    with pytest.raises(TranscriptError, match=f"transcript:3: cannot replay close code {code!r}"):
        plan_replay(script)


@pytest.mark.parametrize("speed", ["max", 1.0, 4.0])
async def test_every_speed_plays_the_same_events(speed):
    script = conversation(after_ms=15).build()
    async with asyncio.timeout(LIMIT), serve_transcript(script, speed=speed) as server:
        async with connect(server.url) as ws:
            received = await play_client_side(ws, appends=2)
    assert received == script.server_events()


@pytest.mark.parametrize("speed", [0, -1, "fast", float("nan")])
def test_bad_speed_is_refused(speed):
    with pytest.raises(ValueError, match="speed must be 'max' or a positive number"):
        RealtimeServer(conversation().build(), speed=speed)


@pytest.mark.parametrize(
    ("code", "reason", "seen"),
    [
        (1011, "upstream failure", (1011, "upstream failure")),
        (4000, "", (4000, "")),
        (None, "", (1005, "")),
        (1005, "", (1005, "")),
    ],
)
async def test_scripted_close_code_and_reason(code, reason, seen):
    script = ScriptBuilder().server("session.created", event_id="event_D1").close(code, reason, after_ms=5)
    async with asyncio.timeout(LIMIT), serve_transcript(script) as server:
        async with connect(server.url) as ws:
            events = await recv_until_closed(ws)
        session = await server.wait_session_done()

    assert events == [{"type": "session.created", "event_id": "event_D1"}]
    assert (ws.close_code, ws.close_reason) == seen
    assert (session.close_code, session.close_reason) == seen


async def test_scripted_1006_drops_the_connection_without_a_close_frame():
    script = ScriptBuilder().server("session.created").close(1006)
    async with asyncio.timeout(LIMIT), serve_transcript(script, speed="max") as server:
        async with connect(server.url) as ws:
            events = await recv_until_closed(ws)
    assert [e["type"] for e in events] == ["session.created"]
    assert ws.close_code == 1006


async def test_close_when_done_and_each_connection_replays_from_the_start():
    script = ScriptBuilder().server("session.created", event_id="event_E1")
    async with asyncio.timeout(LIMIT), serve_transcript(script, speed="max", close_when_done=True) as server:
        codes = []
        for _ in range(2):
            async with connect(server.url) as ws:
                assert await recv_until_closed(ws) == [{"type": "session.created", "event_id": "event_E1"}]
                codes.append((ws.close_code, ws.close_reason))
        second = await server.wait_session_done(1)

    assert codes == [(1000, "end of recording")] * 2
    assert len(server.sessions) == 2 and second.completed


async def test_replays_a_recorded_file_including_a_raw_server_frame(tmp_path):
    path = tmp_path / "recorded.jsonl"
    with TranscriptWriter.open(path, model="gpt-realtime") as writer:
        writer.server(b'{"type":"session.created","event_id":"event_F1","session":{"type":"realtime","x":1.50}}')
        writer.client({"type": "response.create"})
        writer.server(b"{truncated")
        writer.local({"type": "playback.cleared", "item_id": "item_1", "content_index": 0, "played_ms": 30})
        writer.server(b'{"type":"response.done","event_id":"event_F2"}')

    async with asyncio.timeout(LIMIT), RealtimeServer(path, speed="max") as server:
        async with connect(server.url) as ws:
            first = await ws.recv()
            await ws.send(client_event("response.create"))
            rest = [await ws.recv(), await ws.recv()]

    assert first == '{"type":"session.created","event_id":"event_F1","session":{"type":"realtime","x":1.5}}'
    assert rest == ["{truncated", '{"type":"response.done","event_id":"event_F2"}']
    assert read_transcript(path).lines[2].event["type"] == RAW_FRAME_TYPE


# ---------------------------------------------------------------------------
# Handshake: paths and auth


async def test_unknown_path_gets_404_and_query_strings_are_accepted():
    async with asyncio.timeout(LIMIT), serve_transcript(conversation(), speed="max") as server:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"ws://127.0.0.1:{server.port}/v1/chat"):
                pass
        async with connect(server.url + "?model=gpt-realtime") as ws:
            assert (await recv_event(ws))["type"] == "session.created"
        session = await server.wait_session_done()

    assert info.value.response.status_code == 404
    assert session.path == "/v1/realtime?model=gpt-realtime"
    assert len(server.sessions) == 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk-test-wrong"}, {"Authorization": API_KEY}])
async def test_wrong_or_missing_key_gets_401(headers, caplog):
    caplog.set_level(logging.DEBUG, logger="rtproto")
    async with asyncio.timeout(LIMIT), serve_transcript(conversation(), speed="max", api_key=API_KEY) as server:
        with pytest.raises(InvalidStatus) as info:
            async with connect(server.url, additional_headers=headers):
                pass
        async with connect(server.url, additional_headers={"Authorization": f"Bearer {API_KEY}"}) as ws:
            assert (await recv_event(ws))["type"] == "session.created"

    assert info.value.response.status_code == 401
    assert API_KEY not in info.value.response.body.decode()
    server_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("rtproto"))
    assert "< Authorization: [redacted]" in server_logs  # websockets logs headers; values are redacted
    assert API_KEY not in server_logs


# ---------------------------------------------------------------------------
# Real clients


async def test_official_sdk_client_talks_to_the_server():
    openai = pytest.importorskip("openai")
    script = (
        ScriptBuilder(model="gpt-realtime")
        .server("session.created", event_id="event_G1", session={"type": "realtime", "model": "gpt-realtime"})
        .expect_client("session.update")
        .server("session.updated", event_id="event_G2", session={"type": "realtime", "instructions": "Be brief."})
        .expect_client("response.create")
        .server("response.created", event_id="event_G3", response={"id": "resp_G1", "status": "in_progress"})
        .server(
            "response.output_audio.delta",
            event_id="event_G4",
            response_id="resp_G1",
            item_id="item_G1",
            output_index=0,
            content_index=0,
            delta=AUDIO,
        )
        .server("response.done", event_id="event_G5", response={"id": "resp_G1", "status": "completed"})
    )
    async with asyncio.timeout(LIMIT), serve_transcript(script, speed="max", api_key=API_KEY) as server:
        client = openai.AsyncOpenAI(api_key=API_KEY, websocket_base_url=f"ws://127.0.0.1:{server.port}/v1")
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime", "instructions": "Be brief."})
            events = [await conn.recv(), await conn.recv()]
            await conn.response.create()
            events += [await conn.recv() for _ in range(3)]
        session = await server.wait_session_done()

    assert [(e.type, e.event_id) for e in events] == [
        ("session.created", "event_G1"),
        ("session.updated", "event_G2"),
        ("response.created", "event_G3"),
        ("response.output_audio.delta", "event_G4"),
        ("response.done", "event_G5"),
    ]
    assert events[1].session.instructions == "Be brief."
    assert events[3].delta == AUDIO
    assert events[4].response.status == "completed"
    assert session.path == "/v1/realtime?model=gpt-realtime"
    assert [e["type"] for e in session.received] == ["session.update", "response.create"]
    assert session.departures == []


SERVE = textwrap.dedent(
    """
    import asyncio, sys
    from rtproto.server import run_server
    asyncio.run(run_server(sys.argv[1], "127.0.0.1", 0, "max", True))
    """
)


async def test_run_server_announces_its_url_and_serves(tmp_path):
    path = conversation().save(tmp_path / "script.jsonl")
    root = Path(__file__).resolve().parents[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVE, str(path),
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        async with asyncio.timeout(LIMIT):
            line = (await proc.stdout.readline()).decode()
            assert line.startswith("listening on ws://127.0.0.1:") and line.endswith("/v1/realtime\n")
            async with connect(line.split()[-1]) as ws:
                received = await play_client_side(ws, appends=1)
    finally:
        proc.kill()
        await proc.wait()
    assert [e["event_id"] for e in received] == [f"event_A{n}" for n in range(1, 7)]
    assert orjson.loads(path.read_bytes().splitlines()[0])["model"] == "gpt-realtime"


# ---------------------------------------------------------------------------
# Bounded client frames


async def send_and_wait_close(url: str, frame: str) -> int | None:
    """Send one frame, then read until the server closes; returns the close code it sent."""
    ws = await connect(url, max_size=None)
    try:
        await ws.send(frame)
    except ConnectionClosed:
        pass  # the server may close before the last bytes of the frame are written
    await ws.wait_closed()  # closed by the server: no close() of ours to race with it
    return ws.close_code


@pytest.mark.parametrize(("max_frame", "size"), [(4096, 4097), (None, 17 * 1024 * 1024)])
async def test_a_client_frame_over_the_bound_closes_with_1009(max_frame, size):
    options = {} if max_frame is None else {"max_frame": max_frame}
    async with asyncio.timeout(LIMIT), serve_transcript(conversation(), speed="max", **options) as server:
        assert server.max_frame == (max_frame or DEFAULT_MAX_FRAME) and DEFAULT_MAX_FRAME == 16 * 1024 * 1024
        frame = client_event("session.update", pad="x" * (size - len(client_event("session.update", pad=""))))
        assert len(frame) == size
        code = await send_and_wait_close(server.url, frame)
        session = await server.wait_session_done()
    assert code == 1009
    assert session.received == []  # refused, never buffered into an event


async def test_a_client_frame_at_the_bound_is_accepted():
    async with asyncio.timeout(LIMIT), serve_transcript(conversation(), speed="max", max_frame=4096) as server:
        async with connect(server.url) as ws:
            await recv_event(ws)
            frame = client_event("session.update", pad="x" * (4096 - len(client_event("session.update", pad=""))))
            await ws.send(frame)
            assert (await recv_event(ws))["type"] == "session.updated"
    assert server.received[0]["type"] == "session.update"


def test_max_frame_must_be_positive():
    with pytest.raises(ValueError, match="max_frame"):
        RealtimeServer(conversation().build(), max_frame=0)


async def test_serves_an_older_recording_whose_lines_have_no_type(tmp_path):
    path = tmp_path / "old.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"rtproto": "transcript/1", "api": "ga"},
        {"t": 1, "dir": "server", "event": {"type": "session.created", "event_id": "e1"}},
        {"t": 2, "dir": "server", "event": {"no": "type"}},
        {"t": 3, "dir": "client", "event": {"type": 5}},
        {"t": 4, "dir": "server", "event": {"type": "session.updated", "event_id": "e2"}},
    ]) + "\n")
    async with asyncio.timeout(LIMIT), serve_transcript(path, speed="max") as server:
        async with connect(server.url) as ws:
            got = [json.loads(await ws.recv()) for _ in range(3)]
    assert got == [{"type": "session.created", "event_id": "e1"}, {"no": "type"},
                   {"type": "session.updated", "event_id": "e2"}]


async def test_a_peer_that_is_not_a_websocket_client_is_one_log_line_never_a_traceback(caplog):
    script = ScriptBuilder(model="gpt-realtime").server("session.created", session={"type": "realtime"})
    caplog.set_level(logging.INFO, logger="rtproto.server")
    async with serve_transcript(script, speed="max") as server:
        for garbage in (b"\x00\xff" * 5000, b"GET /v1/realtime HTTP/1.1\r\nX: " + b"a" * 100_000 + b"\r\n\r\n"):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(garbage)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 10) is not None  # the server hangs up
            writer.close()
    failures = [r for r in caplog.records if "opening handshake failed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info is None and "\n" not in caplog.handler.format(r) for r in failures)
