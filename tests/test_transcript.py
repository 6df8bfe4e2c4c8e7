"""The transcript/1 format: writer, redaction, reader and its errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtproto.errors import TranscriptError
from rtproto.transcript import (
    Secrets,
    RAW_FRAME_TYPE,
    REDACTED,
    Line,
    Transcript,
    TranscriptWriter,
    iter_transcript,
    read_transcript,
    redact,
    redact_text,
)

# Real-looking secrets (random, not real credentials).
OPENAI_KEY = "sk-proj-Zx81QmPq4JrT0vWc9yLk2NbH7sDfG3aE5uI6oP1lKj8hGf_-Ab12Cd34Ef56Gh78Ij90KlMnOpQrStUvWxYz0123"
LEGACY_KEY = "sk-Vh3Kd92LmQp7RtXw0ZyB8cNfJ4gE6aS1T3BlbkFJq2Wm5Yx9Lz"
GITHUB_TOKEN = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngOnlyAbCdEf12"
GITHUB_PAT = "github_pat_11AAJQ2KY0x7dF3Lm9PqRs_T2uVwXyZaBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789AbCdEfGhIjK"
EPHEMERAL_KEY = "ek_68af5f0c4bd481908e2e6f6c0f8ed2d6"
OAUTH_TOKEN = "ya29.a0AfB_byC9xQmZl4Rr7Tt2Uu8Vv1Ww3Xx5Yy6Zz0Aa9Bb"
HEADER_VALUE = "hv-Secret-Value-0f9e8d7c6b5a"
QUERY_TOKEN = "qT7x9KpL2mN4vB6cX8zA0sD"

ALL_SECRETS = [OPENAI_KEY, LEGACY_KEY, GITHUB_TOKEN, GITHUB_PAT, EPHEMERAL_KEY, OAUTH_TOKEN, HEADER_VALUE, QUERY_TOKEN]


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, ms: float) -> None:
        self.now += ms / 1000.0


def mcp_session_update() -> dict:
    return {
        "type": "session.update",
        "event_id": "event_C1",
        "session": {
            "type": "realtime",
            "instructions": f"You are helpful. Debug key: {OPENAI_KEY}. Never say {GITHUB_TOKEN}.",
            "tools": [
                {
                    "type": "mcp",
                    "server_label": "deepwiki",
                    "server_url": f"https://mcp.example.com/sse?token={QUERY_TOKEN}&mode=ro",
                    "authorization": OAUTH_TOKEN,
                    "headers": {"X-Api-Token": HEADER_VALUE, "X-Trace": "abc"},
                    "require_approval": "always",
                }
            ],
        },
    }


# ---------------------------------------------------------------------------
# Redaction


def test_redact_replaces_secret_keys_headers_and_tokens_without_touching_ids():
    event = {
        "type": "session.update",
        "Authorization": f"Bearer {LEGACY_KEY}",
        "nested": [{"AUTHORIZATION": {"deep": "value"}}, {"api_key": "plain-value"}],
        "headers": {"Authorization": "x", "X-Other": "y"},
        "ids": ["event_C9aBc", "item_C9aBc", "resp_C9aBc", "call_C9aBc", "mcp_C9aBc", "sess_C9aBcDeFgHiJkLmNoPqRsT"],
        "text": f"pat={GITHUB_PAT}; ephemeral {EPHEMERAL_KEY}.",
        "count": 3,
        "none": None,
    }
    original = json.loads(json.dumps(event))

    out = redact(event)

    assert event == original  # the input is not modified
    assert out["Authorization"] == REDACTED
    assert out["nested"] == [{"AUTHORIZATION": REDACTED}, {"api_key": REDACTED}]
    assert out["headers"] == {"Authorization": REDACTED, "X-Other": REDACTED}
    assert out["ids"] == event["ids"]
    assert out["text"] == f"pat={REDACTED}; ephemeral {REDACTED}."
    assert out["count"] == 3 and out["none"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {OPENAI_KEY} here", f"key {REDACTED} here"),
        (f"Authorization: Bearer {OAUTH_TOKEN}", f"Authorization: Bearer {REDACTED}"),
        (f"bearer\t{OAUTH_TOKEN}", f"bearer\t{REDACTED}"),
        (f"https://mcp.example.com/sse?api_key={QUERY_TOKEN}#top", f"https://mcp.example.com/sse?api_key={REDACTED}#top"),
        (f"https://x.example/?a=1&token={QUERY_TOKEN}", f"https://x.example/?a=1&token={REDACTED}"),
        (f"https://x.example/{GITHUB_TOKEN}/sse", f"https://x.example/{REDACTED}/sse"),
        (f'{{"k":"{EPHEMERAL_KEY}"}}', f'{{"k":"{REDACTED}"}}'),
        ("task-management-system-for-teams and risk-assessment-matrix", None),
        ("event_C9aBcDeFgHiJkLmNoPqRsTuV item_C9aBcDeFgHiJkLmNoPqRs", None),
        ("UklGRiQAAABXQVZFZm10IBAAAAABAAEAwF0AAIC7AAACABAAZGF0YQAAAAA=", None),
    ],
)
def test_redact_text_in_place(text, expected):
    assert redact_text(text) == (text if expected is None else expected)


@given(
    prefix=st.text(st.sampled_from(" .,:;=/\"'()\n"), max_size=3),
    words=st.text(max_size=40),
    secret=st.sampled_from([OPENAI_KEY, LEGACY_KEY, GITHUB_TOKEN, GITHUB_PAT, EPHEMERAL_KEY]),
)
def test_embedded_token_never_survives(prefix, words, secret):
    text = words + prefix + secret + prefix + words
    assert secret not in redact_text(text)


# ---------------------------------------------------------------------------
# Writer and reader round trip


def test_round_trip_of_every_line_kind(tmp_path):
    clock = FakeClock()
    path = tmp_path / "s.jsonl"
    created = {"type": "session.created", "event_id": "event_1", "session": {"type": "realtime"}}
    with TranscriptWriter.open(path, api="ga", url="wss://api.openai.com/v1/realtime?model=gpt-realtime",
                               model="gpt-realtime", clock=clock, scenario="hello") as writer:
        clock.advance_ms(12.34)
        writer.server(orjson.dumps(created))
        clock.advance_ms(1)
        writer.client(json.dumps({"type": "response.create"}))  # str frame
        clock.advance_ms(2)
        writer.local({"type": "playback.cleared", "item_id": "item_1", "content_index": 0, "played_ms": 480})
        clock.advance_ms(3)
        writer.client({"type": "input_audio_buffer.append", "audio": "AAAA"})  # dict frame

    transcript = read_transcript(path)

    assert transcript.header["rtproto"] == "transcript/1"
    assert transcript.api == "ga"
    assert transcript.header["model"] == "gpt-realtime"
    assert transcript.header["scenario"] == "hello"
    assert transcript.header["started_at"].endswith("Z")
    assert transcript.lines == [
        Line(12.3, "server", created, 2),
        Line(13.3, "client", {"type": "response.create"}, 3),
        Line(15.3, "local", {"type": "playback.cleared", "item_id": "item_1", "content_index": 0, "played_ms": 480}, 4),
        Line(18.3, "client", {"type": "input_audio_buffer.append", "audio": "AAAA"}, 5),
    ]
    assert transcript.server_events() == [created]
    assert [e["type"] for e in transcript.client_events()] == ["response.create", "input_audio_buffer.append"]
    assert transcript.local_events()[0]["played_ms"] == 480
    assert transcript.duration_ms == 18.3
    assert not transcript.torn_tail


def test_clean_raw_frame_is_written_byte_for_byte(tmp_path):
    # Number spelling and key order survive because clean frames are spliced, not re-encoded.
    frame = b'{"type":"response.output_audio.delta","delta":"UklGRg==","output_index":0,"x":1.50,"y":1e3}'
    path = tmp_path / "s.jsonl"
    with TranscriptWriter.open(path, clock=FakeClock()) as writer:
        writer.server(frame)
    assert frame in path.read_bytes()
    assert read_transcript(path).lines[0].event == orjson.loads(frame)


def test_multiline_json_frame_stays_on_one_line(tmp_path):
    frame = json.dumps({"type": "session.created", "session": {"type": "realtime"}}, indent=2)
    path = tmp_path / "s.jsonl"
    with TranscriptWriter.open(path, clock=FakeClock()) as writer:
        writer.server(frame)
        writer.server(frame.encode())
    assert path.read_bytes().count(b"\n") == 3
    assert [line.event for line in read_transcript(path).lines] == [json.loads(frame)] * 2


@pytest.mark.parametrize(
    ("frame", "raw"),
    [
        (b'{"type": "response.done", ', '{"type": "response.done", '),
        ("not json at all", "not json at all"),
        (b"[1, 2, 3]", "[1, 2, 3]"),
        (b'{"type":"x","bad":"\xff\xfe"}', '{"type":"x","bad":"\\xff\\xfe"}'),
        (f'{{"broken": "{OPENAI_KEY}"', f'{{"broken": "{REDACTED}"'),
        (f'authorization: {OAUTH_TOKEN} {{', f"authorization: {REDACTED} {{"),
    ],
)
def test_bad_frame_becomes_a_raw_line(tmp_path, frame, raw):
    path = tmp_path / "s.jsonl"
    with TranscriptWriter.open(path, clock=FakeClock()) as writer:
        writer.server(frame)  # never raises
    (line,) = read_transcript(path).lines
    assert line.event == {"type": RAW_FRAME_TYPE, "raw": raw}
    assert json.loads(path.read_bytes().splitlines()[1])["raw"] == raw


def test_unserializable_dict_frame_is_recorded_not_raised(tmp_path):
    path = tmp_path / "s.jsonl"
    with TranscriptWriter.open(path, clock=FakeClock()) as writer:
        writer.client({"type": "x", "bad": {1, 2}})
        writer.client({"type": "ok"})
    lines = read_transcript(path).lines
    assert lines[0].event["type"] == RAW_FRAME_TYPE and "unrecordable" in lines[0].event["raw"]
    assert lines[1].event == {"type": "ok"}


def test_local_event_must_have_a_type(tmp_path):
    with TranscriptWriter.open(tmp_path / "s.jsonl") as writer, pytest.raises(ValueError, match="string 'type'"):
        writer.local({"item_id": "x"})


@pytest.mark.parametrize("as_type", [bytes, str, dict])
def test_secrets_never_reach_the_file(tmp_path, as_type):
    event = mcp_session_update()
    frame = {bytes: orjson.dumps, str: json.dumps, dict: lambda e: e}[as_type](event)
    path = tmp_path / "s.jsonl"
    with TranscriptWriter.open(path, url=f"wss://proxy.example/v1/realtime?model=gpt-realtime&api_key={QUERY_TOKEN}",
                               clock=FakeClock(), note=f"made with {LEGACY_KEY}") as writer:
        writer.client(frame)
        writer.server({"type": "error", "error": {"message": f"Incorrect API key provided: {OPENAI_KEY}"}})
        writer.local({"type": "text.input", "text": f"my key is {EPHEMERAL_KEY}"})

    data = path.read_bytes()
    for secret in ALL_SECRETS:
        assert secret.encode() not in data, secret
    transcript = read_transcript(path)
    tool = transcript.lines[0].event["session"]["tools"][0]
    assert tool["authorization"] == REDACTED
    assert tool["headers"] == {"X-Api-Token": REDACTED, "X-Trace": REDACTED}
    assert tool["server_url"] == f"https://mcp.example.com/sse?token={REDACTED}&mode=ro"
    assert tool["server_label"] == "deepwiki" and tool["require_approval"] == "always"
    assert transcript.header["url"].endswith(f"api_key={REDACTED}")


def test_secret_hidden_behind_unicode_escapes_is_redacted(tmp_path):
    escaped = OPENAI_KEY.replace("-", "\\u002d").replace("s", "\\u0073")
    frame = ('{"type":"session.update","session":{"instructions":"' + escaped + '"},'
             '"\\u0061uthorization":"' + OAUTH_TOKEN.replace("a", "\\u0061") + '"}').encode()
    path = tmp_path / "s.jsonl"
    with TranscriptWriter.open(path, clock=FakeClock()) as writer:
        writer.client(frame)
    data = path.read_bytes()
    assert escaped.encode() not in data and OPENAI_KEY.encode() not in data
    assert read_transcript(path).lines[0].event == {
        "type": "session.update", "session": {"instructions": REDACTED}, "authorization": REDACTED,
    }


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(fields=st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=5), kind=st.sampled_from(["bytes", "dict"]))
def test_any_json_event_reads_back_as_its_redacted_self(tmp_path_factory, fields, kind):
    event = {**fields, "type": "x.y"}
    path = tmp_path_factory.mktemp("h") / "s.jsonl"
    with TranscriptWriter.open(path, clock=FakeClock()) as writer:
        writer.server(json.dumps(event).encode() if kind == "bytes" else event)
    assert read_transcript(path).lines[0].event == redact(event)


# ---------------------------------------------------------------------------
# Reader errors


def write_lines(path: Path, *lines: str | dict, end: str = "\n") -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + end, encoding="utf-8")
    return path


HEADER = {"rtproto": "transcript/1", "api": "ga"}
OK = {"t": 1, "dir": "server", "event": {"type": "session.created"}}


@pytest.mark.parametrize(
    ("lines", "lineno", "message"),
    [
        ([], 1, "empty file"),
        ([OK], 1, "not a transcript header"),
        (['{"rtproto": "transcript/2", "api": "ga"}', OK], 1, "unsupported transcript version 'transcript/2'"),
        (['{"rtproto": "transcript/1", "api": "v2"}', OK], 1, "'api' must be one of"),
        (["[1, 2]", OK], 1, "not a transcript header"),
        ([HEADER, "{nope", OK], 2, "invalid JSON"),
        ([HEADER, OK, {"dir": "server", "event": {"type": "a"}}, OK], 3, "'t' must be a number"),
        ([HEADER, {"t": True, "dir": "server", "event": {"type": "a"}}, OK], 2, "'t' must be a number"),
        ([HEADER, {"t": "1", "dir": "server", "event": {"type": "a"}}], 2, "'t' must be a number"),
        ([HEADER, {"t": 1, "dir": "up", "event": {"type": "a"}}], 2, "'dir' must be one of"),
        ([HEADER, {"t": 1, "dir": "server"}], 2, "missing 'event'"),
        ([HEADER, {"t": 1, "dir": "local", "event": [1]}], 2, "'event' must be a JSON object"),
        ([HEADER, {"t": 1, "dir": "local", "event": {"item": 1}}], 2, "no string 'type'"),
        ([HEADER, {"t": 1, "dir": "local", "event": {"type": 7}}], 2, "no string 'type'"),
        ([HEADER, {"t": 1, "dir": "local", "raw": "x"}], 2, "'raw' line must have dir"),
        ([HEADER, "3", OK], 2, "a line must be a JSON object"),
    ],
)
def test_bad_transcript_names_file_line_and_problem(tmp_path, lines, lineno, message):
    path = write_lines(tmp_path / "bad.jsonl", *lines, end="\n" if lines else "")
    with pytest.raises(TranscriptError, match=message) as info:
        read_transcript(path)
    assert info.value.line == lineno
    assert str(info.value).startswith(f"{path}:{lineno}: ")


def test_torn_last_line_is_skipped_and_reported(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", HEADER, OK, '{"t": 2, "dir": "server", "event": {"type": "resp', end="")
    transcript = read_transcript(path)
    assert transcript.torn_tail
    assert [line.lineno for line in transcript.lines] == [2]


def test_invalid_line_before_the_end_is_not_a_torn_tail(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", HEADER, '{"t": 2, "dir"', OK, "")
    with pytest.raises(TranscriptError, match="invalid JSON") as info:
        read_transcript(path)
    assert info.value.line == 2


def test_blank_lines_are_skipped_and_raw_lines_read_back(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", HEADER, "", OK, "   ", {"t": 5.5, "dir": "client", "raw": "oops"})
    transcript = read_transcript(path)
    assert transcript.lines == [
        Line(1.0, "server", {"type": "session.created"}, 3),
        Line(5.5, "client", {"type": RAW_FRAME_TYPE, "raw": "oops"}, 5),
    ]


def test_iter_transcript_streams_lines(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", HEADER, OK, {**OK, "t": 2}, '{"torn')
    header, lines = iter_transcript(path)
    assert header == HEADER
    assert [line.t for line in lines] == [1.0, 2.0]


def test_from_events_validates_and_save_round_trips(tmp_path):
    transcript = Transcript.from_events(
        {"model": "gpt-realtime"},
        [
            (0, "server", {"type": "session.created"}),
            {"t": 3, "dir": "client", "raw": "garbage"},
            Line(7.5, "local", {"type": "text.input", "text": f"key {LEGACY_KEY}"}),
        ],
    )
    path = tmp_path / "saved.jsonl"
    transcript.save(path)

    assert LEGACY_KEY.encode() not in path.read_bytes()
    again = read_transcript(path)
    assert again.header == {"rtproto": "transcript/1", "api": "ga", "model": "gpt-realtime"}
    assert [(line.t, line.dir, line.type) for line in again.lines] == [
        (0.0, "server", "session.created"), (3.0, "client", RAW_FRAME_TYPE), (7.5, "local", "text.input"),
    ]
    with pytest.raises(TranscriptError, match="transcript:3: 'dir' must be one of"):
        Transcript.from_events(None, [(0, "server", {"type": "a"}), (1, "sideways", {"type": "b"})])


# ---------------------------------------------------------------------------
# Crash safety


CHILD = textwrap.dedent(
    """
    import sys
    from rtproto.transcript import TranscriptWriter

    writer = TranscriptWriter.open(sys.argv[1], scenario="sigkill")
    n = 0
    while True:
        writer.server({"type": "response.output_audio.delta", "seq": n, "delta": "QUFB" * 500})
        n += 1
        if n == 200:
            print("written", n, flush=True)
    """
)


def test_sigkill_loses_at_most_the_line_being_written(tmp_path):
    path = tmp_path / "killed.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        assert child.stdout.readline().split() == ["written", "200"]
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        child.stdout.close()

    transcript = read_transcript(path)  # a torn tail, if any, is skipped
    seqs = [line.event["seq"] for line in transcript.lines]
    assert transcript.header["scenario"] == "sigkill"
    assert len(seqs) >= 200
    assert seqs == list(range(len(seqs)))


# ---------------------------------------------------------------------------
# Known secret values, from a real server


async def test_known_secrets_echoed_by_a_server_never_reach_the_file(tmp_path):
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    mcp_token, proxy_password = "tok42", "Pr0xyPa55"
    proxy_url = f"http://bob:{proxy_password}@proxy.example:3128"
    secrets = Secrets([OPENAI_KEY.replace("proj-", "proj-x"), mcp_token])  # a key no pattern alone would need
    secrets.add_url(proxy_url)
    api_key = OPENAI_KEY.replace("proj-", "proj-x")
    said = [
        orjson.dumps({"type": "error", "error": {"message": f"key {api_key} via {proxy_url}: bad token {mcp_token}"}}),
        f"<html>upstream said {mcp_token} and {proxy_password}</html>".encode(),
        orjson.dumps({"type": "session.created", "note": f"escaped \u00e9 {mcp_token}"}),
    ]

    async def echo(ws):
        for frame in said:
            await ws.send(frame.decode())
        await ws.close(4000, f"bye {mcp_token}")

    path = tmp_path / "echo.jsonl"
    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with TranscriptWriter.open(path, url=f"ws://127.0.0.1:{port}/v1?token={mcp_token}", secrets=secrets,
                                   proxy=proxy_url, clock=FakeClock()) as writer:
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                try:
                    async for message in ws:
                        writer.server(message)
                except ConnectionClosed:
                    pass
                writer.local({"type": "connection.closed", "code": ws.close_code, "reason": ws.close_reason,
                              "by": "server"})

    data = path.read_bytes()
    for secret in (api_key, mcp_token, proxy_password):
        assert secret.encode() not in data, secret
    lines = read_transcript(path).lines
    assert [line.type for line in lines] == ["error", RAW_FRAME_TYPE, "session.created", "connection.closed"]
    assert lines[0].event["error"]["message"] == f"key {REDACTED} via http://bob:{REDACTED}@proxy.example:3128: " \
                                                 f"bad token {REDACTED}"
    assert lines[3].event["reason"] == f"bye {REDACTED}"


def test_a_clean_frame_is_still_written_byte_for_byte_when_secrets_are_known(tmp_path):
    frame = b'{"type":"response.output_audio.delta","delta":"AAAA","item_id":"item_1"}'
    path = tmp_path / "s.jsonl"
    with TranscriptWriter.open(path, secrets=Secrets(["tok42", "ab"]), clock=FakeClock()) as writer:
        writer.server(frame)
    assert path.read_bytes().splitlines()[1] == b'{"t":0.0,"dir":"server","event":' + frame + b"}"


# ---------------------------------------------------------------------------
# Frames without a string type


@pytest.mark.parametrize("frame", [b'{"no":"type"}', b'{"type": 5}', b"[1,2]", b'"x"', {"no": "type"}])
def test_a_frame_that_is_not_an_event_is_a_raw_line(tmp_path, frame):
    path = tmp_path / "s.jsonl"
    with TranscriptWriter.open(path, clock=FakeClock()) as writer:
        writer.server(frame)
    record = json.loads(path.read_bytes().splitlines()[1])
    assert "event" not in record
    assert json.loads(record["raw"]) == (json.loads(frame) if isinstance(frame, bytes) else frame)


def test_an_older_file_with_typeless_events_reads_them_as_raw_frames(tmp_path):
    path = write_lines(tmp_path / "old.jsonl", HEADER, {"t": 1, "dir": "server", "event": {"no": "type"}},
                       {"t": 2, "dir": "server", "event": {"type": 5}}, {"t": 3, "dir": "client", "event": [1, 2]},
                       {"t": 4, "dir": "server", "event": "x"}, OK)
    expected = [{"no": "type"}, {"type": 5}, [1, 2], "x"]
    for lines in (read_transcript(path).lines, list(iter_transcript(path)[1])):
        assert [line.type for line in lines] == [RAW_FRAME_TYPE] * 4 + ["session.created"]
        assert [json.loads(line.event["raw"]) for line in lines[:4]] == expected


def test_an_over_long_line_is_a_bad_line_with_its_number(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"rtproto":"transcript/1","api":"ga"}\n{"t":1,"dir":"server","event":{"type":"x","d":"'
                     + b"A" * 5000 + b'"}}\n')
    from rtproto import transcript as module

    with pytest.raises(TranscriptError, match="line longer than 4096 bytes") as info:
        list(module._numbered_lines(path.open("rb"), str(path), limit=4096))
    assert info.value.line == 2
    assert len(read_transcript(path).lines) == 1  # the default limit (64 MiB) reads it


# ---------------------------------------------------------------------------
# A failed write


FULL_DISK = textwrap.dedent(
    """
    import resource, sys
    from rtproto.transcript import TranscriptWriter

    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
    failures = []
    writer = TranscriptWriter.open(sys.argv[1], on_failure=failures.append)
    for n in range(1000):
        writer.server({"type": "response.output_audio.delta", "seq": n, "delta": "QUFB" * 300})
        writer.local({"type": "text.input", "text": "more"})
    writer.close()
    print(len(failures), writer.failure, sep="\\n")
    """
)


def test_a_write_past_the_file_size_limit_stops_recording_at_a_line_boundary(tmp_path):
    path = tmp_path / "full.jsonl"
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(path), "100000"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 0, done.stderr  # no exception, no SIGXFSZ
    calls, message = done.stdout.splitlines()
    assert calls == "1"
    assert message == f"recording to {path} stopped: File too large"
    data = path.read_bytes()
    assert 90000 < len(data) <= 100000 and data.endswith(b"\n")
    for raw in data.splitlines():
        json.loads(raw)  # every line is whole
    assert not read_transcript(path).torn_tail


def test_a_file_in_a_missing_directory_is_refused_with_its_name(tmp_path):
    path = tmp_path / "no" / "such" / "s.jsonl"
    with pytest.raises(OSError) as info:
        TranscriptWriter.open(path)
    assert info.value.filename == str(path)
