"""The synthesised GA session transcripts (tests/fixtures/*.jsonl, rtproto/data/demo.jsonl).

They are made by scripts/make_fixtures.py; these tests read the committed files
and check that they are valid, self-consistent recordings of the protocol.
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import orjson
import pytest
from websockets.asyncio.client import connect

from rtproto.codec import b64_to_pcm16
from rtproto.events import ClientEvent, ServerEvent, UnknownEvent, decode_client, decode_server, encode, to_dict
from rtproto.testing import serve_transcript
from rtproto.transcript import Line, Transcript, read_transcript

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
DEMO = ROOT / "rtproto" / "data" / "demo.jsonl"
SCENARIOS = [
    "mcp_call",
    "mcp_approval_approved",
    "mcp_approval_denied",
    "mcp_approval_timeout",
    "function_call",
    "barge_in",
]
APPROVALS = {
    "mcp_approval_approved": (True, None, {}),
    "mcp_approval_denied": (False, "denied by user", {}),
    "mcp_approval_timeout": (False, "timed out", {"by": "timeout"}),
}
ALL_FILES = [FIXTURES / f"{name}.jsonl" for name in SCENARIOS] + [DEMO]
RATE = 24000
SPEECH_RMS = 300.0
SILENT_RMS = 30.0
LOCAL_FIELDS = {
    "approval.answer": {"approval_request_id", "approve", "reason"},
    "playback.cleared": {"item_id", "content_index", "played_ms"},
    "function.result": {"call_id", "output", "is_error"},
    "connection.closed": {"code", "reason", "by"},
}
OPTIONAL_LOCAL_FIELDS = {"approval.answer": {"by"}}
SECRET_SHAPES = re.compile(
    rb"sk-[A-Za-z0-9_-]{16,}|ek_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_|(?i:bearer)\s"
)


def fixture(name: str) -> Transcript:
    return read_transcript(FIXTURES / f"{name}.jsonl")


def wire(transcript: Transcript) -> list[Line]:
    return [line for line in transcript.lines if line.dir != "local"]


def of_type(transcript: Transcript, *types: str) -> list[Line]:
    return [line for line in transcript.lines if line.type in types]


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0


def audio_ms(b64: str) -> float:
    return len(b64_to_pcm16(b64)) * 1000 / RATE


def vad_settings(transcript: Transcript) -> dict:
    session = of_type(transcript, "session.updated")[-1].event["session"]
    return session["audio"]["input"]["turn_detection"]


# ---------------------------------------------------------------------------
# Every file: format, decoding, ids, secrets, size


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_header_names_a_synthesised_ga_session(path: Path) -> None:
    header = read_transcript(path).header
    assert header["rtproto"] == "transcript/1" and header["api"] == "ga"
    assert header["url"] == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert header["model"] == "gpt-realtime" and header["started_at"] == "2026-11-25T10:00:00Z"
    assert header["synthesised"] is True
    assert header["scenario"] == (path.stem if path != DEMO else "mcp_approval_approved")
    assert set(header["policy"]) == {"allow", "ask"}
    assert set(header["generator"]) == {"script", "espeak-ng", "sox"}
    assert all(isinstance(name, str) for names in header["policy"].values() for name in names)


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_every_event_decodes_and_round_trips_exactly(path: Path) -> None:
    transcript = read_transcript(path)
    assert not transcript.torn_tail
    for line in wire(transcript):
        decode, base = (decode_server, ServerEvent) if line.dir == "server" else (decode_client, ClientEvent)
        event = decode(orjson.dumps(line.event), api="ga")
        assert not isinstance(event, UnknownEvent), f"line {line.lineno}: unknown {line.type}"
        assert isinstance(event, base) and event.type == line.type
        assert to_dict(event) == line.event, f"line {line.lineno}: {line.type} changed on re-encoding"
        assert orjson.loads(encode(decode(encode(event)))) == line.event


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_local_lines_use_the_fixed_vocabulary(path: Path) -> None:
    local = read_transcript(path).local_events()
    assert local, "every session ends with a connection.closed line"
    for event in local:
        assert set(event) - {"type"} - OPTIONAL_LOCAL_FIELDS.get(event["type"], set()) == LOCAL_FIELDS[event["type"]]
    assert local[-1] == {"type": "connection.closed", "code": 1000, "reason": "", "by": "client"}


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_timestamps_never_go_back(path: Path) -> None:
    times = [line.t for line in read_transcript(path).lines]
    assert times[0] >= 0 and all(a <= b for a, b in zip(times, times[1:]))


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_ids_look_like_the_apis_and_are_unique(path: Path) -> None:
    transcript = read_transcript(path)
    server_ids = [e["event_id"] for e in transcript.server_events()]
    assert len(set(server_ids)) == len(server_ids)
    assert all(re.fullmatch(r"event_[A-Za-z0-9]{21}", i) for i in server_ids)
    assert [e["event_id"] for e in transcript.client_events()] == [
        f"evt_{n}" for n in range(1, len(transcript.client_events()) + 1)
    ]
    prefixes = {
        "message": "item_",
        "function_call": "item_",
        "function_call_output": "item_",
        "mcp_call": "mcp_",
        "mcp_list_tools": "mcpl_",
        "mcp_approval_request": "mcpr_",
        "mcp_approval_response": "mcpr_",
    }
    for line in of_type(transcript, "conversation.item.added", "conversation.item.done"):
        item = line.event["item"]
        assert item["id"].startswith(prefixes[item["type"]]), f"line {line.lineno}: {item['id']}"
    for line in of_type(transcript, "response.created"):
        assert re.fullmatch(r"resp_[A-Za-z0-9]{21}", line.event["response"]["id"])
    assert re.fullmatch(r"sess_[A-Za-z0-9]{21}", of_type(transcript, "session.created")[0].event["session"]["id"])


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_no_secrets_reach_the_file(path: Path) -> None:
    assert SECRET_SHAPES.search(path.read_bytes()) is None
    updates = [e["session"] for e in read_transcript(path).client_events() if e["type"] == "session.update"]
    mcp_tools = [tool for session in updates for tool in session.get("tools", []) if tool["type"] == "mcp"]
    assert all(tool["authorization"] == "[redacted]" for tool in mcp_tools)


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_file_is_under_one_and_a_half_megabytes(path: Path) -> None:
    assert path.stat().st_size < 1_500_000


# ---------------------------------------------------------------------------
# Audio


@pytest.mark.parametrize("name", SCENARIOS)
def test_assistant_audio_is_24khz_pcm16_speech(name: str) -> None:
    transcript = fixture(name)
    assert vad_settings(transcript)["type"] == "server_vad"
    for session in (e["session"] for e in transcript.server_events() if e["type"] == "session.updated"):
        assert session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": RATE}
    deltas: dict[str, list[np.ndarray]] = {}
    for line in of_type(transcript, "response.output_audio.delta"):
        deltas.setdefault(line.event["item_id"], []).append(b64_to_pcm16(line.event["delta"]))
    assert deltas
    for item_id, frames in deltas.items():
        assert all(len(f) <= RATE // 5 for f in frames), "deltas hold at most 200 ms"
        assert rms(np.concatenate(frames)) > 1000, f"{item_id} is not speech"
        assert sum(rms(f) > 200 for f in frames) >= 0.8 * len(frames)


@pytest.mark.parametrize("name", SCENARIOS)
def test_assistant_audio_agrees_with_transcript_and_usage(name: str) -> None:
    transcript = fixture(name)
    sent: dict[str, float] = {}
    pieces: dict[str, str] = {}
    for line in of_type(transcript, "response.output_audio.delta"):
        sent[line.event["item_id"]] = sent.get(line.event["item_id"], 0.0) + audio_ms(line.event["delta"])
    for line in of_type(transcript, "response.output_audio_transcript.delta"):
        pieces[line.event["item_id"]] = pieces.get(line.event["item_id"], "") + line.event["delta"]
    for line in of_type(transcript, "response.output_audio_transcript.done"):
        assert line.event["transcript"] == pieces[line.event["item_id"]]
    for line in of_type(transcript, "response.done"):
        response = line.event["response"]
        messages = [item for item in response["output"] if item["type"] == "message"]
        response_ms = sum(sent[item["id"]] for item in messages)
        usage = response["usage"]
        assert usage["output_token_details"]["audio_tokens"] == math.ceil(response_ms / 50)
        for item in messages:
            spoken = item["content"][0]["transcript"]
            assert spoken == pieces[item["id"]]
            if item["status"] == "completed":  # espeak speaks 40-120 ms per character
                assert 40 <= sent[item["id"]] / len(spoken) <= 120, item["id"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_usage_adds_up(name: str) -> None:
    previous_input = 0
    for line in of_type(fixture(name), "response.done"):
        usage = line.event["response"]["usage"]
        inp, out = usage["input_token_details"], usage["output_token_details"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        assert usage["input_tokens"] == inp["text_tokens"] + inp["audio_tokens"] + inp["image_tokens"]
        assert usage["output_tokens"] == out["text_tokens"] + out["audio_tokens"]
        cached = inp["cached_tokens_details"]
        assert inp["cached_tokens"] == cached["text_tokens"] + cached["audio_tokens"] + cached["image_tokens"]
        assert inp["cached_tokens"] <= previous_input and inp["cached_tokens"] % 64 == 0
        previous_input = usage["input_tokens"]


def _mic_buffer(transcript: Transcript) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """All appended audio, and (send time, buffer ms at the end of that append) per append."""
    frames, ends, total = [], [], 0.0
    for line in of_type(transcript, "input_audio_buffer.append"):
        pcm = b64_to_pcm16(line.event["audio"])
        frames.append(pcm)
        total += len(pcm) * 1000 / RATE
        ends.append((line.t, total))
    return np.concatenate(frames), ends


def _sent_by(ends: list[tuple[float, float]], t: float) -> float:
    return max((end for sent, end in ends if sent <= t), default=0.0)


def _window(pcm: np.ndarray, start_ms: float, end_ms: float) -> np.ndarray:
    return pcm[int(start_ms * RATE / 1000) : int(end_ms * RATE / 1000)]


@pytest.mark.parametrize("name", SCENARIOS)
def test_user_audio_agrees_with_server_vad(name: str) -> None:
    transcript = fixture(name)
    vad = vad_settings(transcript)
    pcm, ends = _mic_buffer(transcript)
    started = of_type(transcript, "input_audio_buffer.speech_started")
    stopped = of_type(transcript, "input_audio_buffer.speech_stopped")
    assert started and [s.event["item_id"] for s in started] == [s.event["item_id"] for s in stopped]
    for start, stop in zip(started, stopped):
        onset = start.event["audio_start_ms"] + vad["prefix_padding_ms"]
        end = stop.event["audio_end_ms"]
        assert _sent_by(ends, start.t) > onset and _sent_by(ends, stop.t) >= end, "VAD saw audio not yet sent"
        assert rms(_window(pcm, start.event["audio_start_ms"], onset)) < SILENT_RMS
        assert rms(_window(pcm, onset, onset + 100)) > SPEECH_RMS
        assert rms(_window(pcm, end - vad["silence_duration_ms"] - 100, end - vad["silence_duration_ms"])) > SPEECH_RMS
        assert rms(_window(pcm, end - vad["silence_duration_ms"], end)) < SILENT_RMS
        assert rms(_window(pcm, onset, end - vad["silence_duration_ms"])) > 1000


@pytest.mark.parametrize("name", SCENARIOS)
def test_user_turns_are_committed_and_transcribed(name: str) -> None:
    transcript = fixture(name)
    stopped = [line.event["item_id"] for line in of_type(transcript, "input_audio_buffer.speech_stopped")]
    committed = [line.event["item_id"] for line in of_type(transcript, "input_audio_buffer.committed")]
    assert stopped == committed
    completed = {
        line.event["item_id"]: line.event
        for line in of_type(transcript, "conversation.item.input_audio_transcription.completed")
    }
    assert set(completed) == set(committed)
    for item_id, event in completed.items():
        deltas = [
            line.event["delta"]
            for line in of_type(transcript, "conversation.item.input_audio_transcription.delta")
            if line.event["item_id"] == item_id
        ]
        assert "".join(deltas) == event["transcript"]
        assert event["usage"]["total_tokens"] == event["usage"]["input_tokens"] + event["usage"]["output_tokens"]


# ---------------------------------------------------------------------------
# Protocol flow


def _after(transcript: Transcript, line: Line) -> list[Line]:
    return [
        other for other in transcript.lines if other.lineno > line.lineno and other.type != "input_audio_buffer.append"
    ]


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_response_ending_in_a_tool_call_is_followed_by_response_create(name: str) -> None:
    transcript = fixture(name)
    for done in of_type(transcript, "response.done"):
        output = done.event["response"]["output"]
        if not output or output[-1]["type"] not in ("mcp_call", "function_call"):
            continue
        following = _after(transcript, done)
        next_created = next(i for i, line in enumerate(following) if line.type == "response.created")
        assert any(line.type == "response.create" and line.dir == "client" for line in following[:next_created])


@pytest.mark.parametrize("name", SCENARIOS)
def test_item_events_chain_by_previous_item_id(name: str) -> None:
    transcript = fixture(name)
    order: list[str] = []
    for line in of_type(transcript, "conversation.item.added"):
        assert line.event["previous_item_id"] == (order[-1] if order else None), f"line {line.lineno}"
        order.append(line.event["item"]["id"])
    done = [line.event["item"]["id"] for line in of_type(transcript, "conversation.item.done")]
    assert sorted(done) == sorted(order)


def test_mcp_call_lists_tools_then_calls_one_and_speaks_the_answer() -> None:
    transcript = fixture("mcp_call")
    types = [line.type for line in wire(transcript) if line.type != "input_audio_buffer.append"]
    assert types[:7] == [
        "session.created",
        "session.update",
        "session.updated",
        "conversation.item.added",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "conversation.item.done",
    ]
    tools = of_type(transcript, "conversation.item.done")[0].event["item"]["tools"]
    assert {t["name"] for t in tools} >= {
        "get_latest_release",
        "list_issues",
        "create_repository",
        "search_repositories",
    }
    assert all(isinstance(t["annotations"]["read_only"], bool) and t["input_schema"]["type"] == "object" for t in tools)
    update = of_type(transcript, "session.update")[0].event["session"]["tools"][0]
    assert update["server_url"] == "https://api.githubcopilot.com/mcp/" and update["server_label"] == "github"
    call = of_type(transcript, "response.mcp_call_arguments.done")[0].event
    assert orjson.loads(call["arguments"]) == {"owner": "openai", "repo": "openai-python"}
    deltas = "".join(line.event["delta"] for line in of_type(transcript, "response.mcp_call_arguments.delta"))
    assert deltas == call["arguments"]
    first, second = of_type(transcript, "response.done")
    assert [i["type"] for i in first.event["response"]["output"]] == ["mcp_call"]
    assert orjson.loads(first.event["response"]["output"][0]["output"])["tag_name"] == "v3.51.0"
    assert second.event["response"]["output"][0]["role"] == "assistant"


@pytest.mark.parametrize("name", sorted(APPROVALS))
def test_approval_answer_becomes_the_clients_approval_response(name: str) -> None:
    approve, reason, who = APPROVALS[name]
    transcript = fixture(name)
    (request_done,) = [
        line
        for line in of_type(transcript, "conversation.item.done")
        if line.event["item"]["type"] == "mcp_approval_request"
    ]
    request = request_done.event["item"]
    assert request["name"] == "create_repository"
    (answer,) = of_type(transcript, "approval.answer")
    assert answer.event == {
        "type": "approval.answer",
        "approval_request_id": request["id"],
        "approve": approve,
        "reason": reason,
        **who,
    }
    create, response_create = [line for line in _after(transcript, answer) if line.dir == "client"][:2]
    item = create.event["item"]
    assert create.type == "conversation.item.create" and response_create.type == "response.create"
    assert item["type"] == "mcp_approval_response" and item["id"].startswith("mcpr_")
    assert (item["approval_request_id"], item["approve"], item.get("reason")) == (request["id"], approve, reason)
    calls = [
        line.event["item"]
        for line in of_type(transcript, "conversation.item.done")
        if line.event["item"]["type"] == "mcp_call"
    ]
    if approve:
        (call,) = calls
        assert call["approval_request_id"] == request["id"] and orjson.loads(call["output"])["name"] == "voice-notes"
    else:
        assert calls == []
    if reason == "timed out":
        assert answer.t - request_done.t == 30000.0


def test_function_call_result_goes_back_as_function_call_output() -> None:
    transcript = fixture("function_call")
    tool = of_type(transcript, "session.update")[0].event["session"]["tools"][0]
    assert tool["type"] == "function" and tool["name"] == "get_weather"
    args = of_type(transcript, "response.function_call_arguments.done")[0].event
    (result,) = of_type(transcript, "function.result")
    assert result.event["call_id"] == args["call_id"] and not result.event["is_error"]
    create, response_create = [line for line in _after(transcript, result) if line.dir == "client"][:2]
    assert create.event["item"] == {
        "type": "function_call_output",
        "call_id": args["call_id"],
        "output": result.event["output"],
    }
    assert response_create.type == "response.create"
    assert result.t > of_type(transcript, "response.done")[0].t


def test_barge_in_truncates_at_what_was_played() -> None:
    transcript = fixture("barge_in")
    (cleared,) = of_type(transcript, "playback.cleared")
    item_id, played = cleared.event["item_id"], cleared.event["played_ms"]
    deltas = [line for line in of_type(transcript, "response.output_audio.delta") if line.event["item_id"] == item_id]
    received = sum(audio_ms(line.event["delta"]) for line in deltas)
    interrupt = [line for line in of_type(transcript, "input_audio_buffer.speech_started") if line.t > deltas[0].t][0]
    assert deltas[0].t < interrupt.t < deltas[0].t + received, "the user spoke while the answer was playing"
    assert played < received and abs((cleared.t - deltas[0].t) - played) < 1.0
    (truncate,) = of_type(transcript, "conversation.item.truncate")
    assert truncate.event["item_id"] == item_id and truncate.event["content_index"] == 0
    assert truncate.event["audio_end_ms"] == int(played) == 1840
    cancelled = [
        line for line in of_type(transcript, "response.done") if line.event["response"]["status"] == "cancelled"
    ]
    assert len(cancelled) == 1 and cancelled[0].event["response"]["status_details"]["reason"] == "turn_detected"
    (truncated,) = of_type(transcript, "conversation.item.truncated")
    assert {k: truncated.event[k] for k in ("item_id", "content_index", "audio_end_ms")} == {
        k: truncate.event[k] for k in ("item_id", "content_index", "audio_end_ms")
    }
    assert interrupt.lineno < cleared.lineno < truncate.lineno < cancelled[0].lineno < truncated.lineno
    assert all(line.t < interrupt.t for line in deltas)
    final = of_type(transcript, "response.done")[-1].event["response"]
    assert final["status"] == "completed" and final["output"][0]["role"] == "assistant"


# ---------------------------------------------------------------------------
# Demo and regeneration


def test_demo_is_the_approved_flow_and_ships_in_the_package() -> None:
    packaged = resources.files("rtproto").joinpath("data/demo.jsonl").read_bytes()
    assert packaged == DEMO.read_bytes() == (FIXTURES / "mcp_approval_approved.jsonl").read_bytes()


@pytest.mark.parametrize("name", SCENARIOS)
async def test_fixture_replays_through_the_local_server(name: str) -> None:
    transcript = fixture(name)
    async with serve_transcript(transcript, speed="max", strict=True, close_when_done=True) as server:
        async with connect(server.url, max_size=None, compression=None) as ws:
            for event in transcript.client_events():
                await ws.send(orjson.dumps(event).decode())
            received = [orjson.loads(message) async for message in ws]
        session = await asyncio.wait_for(server.wait_session_done(), 10)
    assert session.completed and not session.departures
    assert received == transcript.server_events()


def _local_tool_versions() -> dict[str, str] | None:
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        return None
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=30).stdout
    sox = subprocess.run(["sox", "--version"], capture_output=True, text=True, timeout=30).stdout
    return {"espeak-ng": espeak.split("text-to-speech:")[-1].split()[0], "sox": sox.split("SoX v")[-1].split()[0]}


def test_generator_reproduces_the_committed_files() -> None:
    recorded = fixture("mcp_call").header["generator"]
    local = _local_tool_versions()
    if local is None or any(recorded[name] != version for name, version in local.items()):
        pytest.skip(f"needs espeak-ng {recorded['espeak-ng']} and sox {recorded['sox']}, as recorded")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_fixtures.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
