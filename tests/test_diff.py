"""The protocol diff: normalisation, segmentation, behaviour facts, shapes, report and CLI exit codes."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtproto.diff import DiffOptions, diff_transcripts, normalize, segment, turn_facts
from rtproto.diff_cli import cli_diff, render_diff
from rtproto.transcript import Transcript, read_transcript

FIXTURES = Path(__file__).parent / "fixtures" / "diff"
GA = FIXTURES / "ga_weather.jsonl"
GA_RERUN = FIXTURES / "ga_weather_rerun.jsonl"
BETA = FIXTURES / "beta_weather.jsonl"
MCP_AUTO = FIXTURES / "ga_mcp_auto.jsonl"
MCP_CLIENT = FIXTURES / "ga_mcp_client.jsonl"
ROOT = Path(__file__).resolve().parents[1]

AUTO_FACT = "response 2 after mcp call: server continued on its own"
CLIENT_FACT = "response 2 after mcp call: client sent response.create"


def diff(a: Path, b: Path, **options: Any):
    return diff_transcripts(read_transcript(a), read_transcript(b), DiffOptions(**options))


# ---------------------------------------------------------------------------
# Transcripts edited in the test


_ID = re.compile(r'"((?:item|resp|call|evt|event|sess|mcp)_[A-Za-z0-9]{20})"')


def reid(text: str, seed: int) -> str:
    """Give every id a new random value, consistently across the file."""
    rng = random.Random(seed)
    fresh: dict[str, str] = {}

    def new(match: re.Match[str]) -> str:
        old = match.group(1)
        if old not in fresh:
            prefix = old.split("_")[0]
            fresh[old] = prefix + "_" + "".join(rng.choices("abcdefghijkmnopqrstuvwxyz0123456789", k=24))
        return f'"{fresh[old]}"'

    return _ID.sub(new, text)


def edit_lines(path: Path, edit) -> list[dict[str, Any]]:
    """The file's records after ``edit(record) -> record | list | None`` (header untouched)."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    out = [records[0]]
    for record in records[1:]:
        result = edit(record)
        out += result if isinstance(result, list) else [] if result is None else [result]
    return out


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def new_audio(b64: str, rng: random.Random, scale: float = 1.0) -> str:
    size = int(len(base64.b64decode(b64)) * scale)
    return base64.b64encode(rng.randbytes(size)).decode()


def with_new_audio(record: dict[str, Any], rng: random.Random, scale: float = 1.0) -> dict[str, Any]:
    event = record.get("event", {})
    if event.get("type") == "input_audio_buffer.append":
        event["audio"] = new_audio(event["audio"], rng, scale)
    if event.get("type") == "response.output_audio.delta":
        event["delta"] = new_audio(event["delta"], rng, scale)
    return record


# ---------------------------------------------------------------------------
# Equivalent transcripts


def test_rerun_with_other_ids_timestamps_and_audio_is_equivalent(capsys):
    assert cli_diff([str(GA), str(GA_RERUN)]) == 0
    out = capsys.readouterr().out
    assert "equivalent" in out
    assert "\x1b[" not in out  # not a terminal: no colour


def test_normalisation_removes_ids_event_ids_timestamps_and_audio_bytes(tmp_path):
    rng = random.Random(7)
    records = edit_lines(GA, lambda r: with_new_audio({**r, "t": r["t"] * 1.3 + 11}, rng))
    text = reid("\n".join(json.dumps(r) for r in records), seed=1)
    other = write(tmp_path / "other.jsonl", [json.loads(line) for line in text.splitlines()])
    steps_a, steps_b = normalize(read_transcript(GA)), normalize(read_transcript(other))
    raw_a = [s.raw for s in steps_a]
    raw_b = [s.raw for s in steps_b]
    assert raw_a != raw_b  # the files really differ ...
    assert [s.body for s in steps_a] == [s.body for s in steps_b]  # ... but not once normalised
    report = diff(GA, other)
    assert report.equivalent and report.differences == 0


def test_normalised_event_has_positional_ids_and_audio_durations():
    steps = normalize(read_transcript(GA))
    append = next(s for s in steps if s.type == "input_audio_buffer.append")
    assert append.body["audio"] == {"audio_ms": 10.0}  # 480 bytes of 24 kHz PCM16
    delta = next(s for s in steps if s.type == "response.output_audio.delta")
    assert delta.body["delta"] == {"audio_ms": 10.0}
    assert delta.body["response_id"] == "resp_1"
    assert re.fullmatch(r"item_\d+", delta.body["item_id"])
    created = next(s for s in steps if s.type == "response.created")
    assert created.body["response"]["id"] == "resp_1" and "event_id" not in created.body
    update = next(s for s in steps if s.type == "session.update")
    assert update.body["event_id"] == "event_1"  # client event ids are kept, renumbered


def test_audio_of_another_length_is_info_not_a_difference(tmp_path):
    rng = random.Random(3)
    longer = write(tmp_path / "longer.jsonl", edit_lines(GA, lambda r: with_new_audio(r, rng, scale=2.0)))
    report = diff(GA, longer)
    assert report.equivalent
    turn = report.turns[1]
    assert (turn.audio_ms_a, turn.audio_ms_b) == (50.0, 100.0)
    assert "100 ms" in render_diff(report)


# ---------------------------------------------------------------------------
# Segmentation


def test_segments_into_setup_and_user_turns_with_their_responses():
    turns = segment(normalize(read_transcript(GA)))
    assert [t.label for t in turns] == ["setup", "turn 1 (speech)", "turn 2 (speech)", "turn 3 (text)"]
    assert [len(t.responses) for t in turns] == [0, 1, 2, 1]
    call, answer = turns[2].responses
    assert (call.created_by, call.after_tool, call.output_kinds()) == ("server", None, ["function_call"])
    assert (answer.created_by, answer.after_tool) == ("client", "function")
    assert answer.sequence()[0] == "response.created" and answer.sequence()[-1] == "response.done"
    assert not any(t.endswith(".delta") for t in answer.sequence())


def test_turn_facts_of_the_function_tool_turn():
    turns = segment(normalize(read_transcript(GA)))
    assert turn_facts(turns[2]) == {
        "input: speech",
        "responses: 2",
        "response 1: completed",
        "response 1 output: function_call",
        "response 1 created by server",
        "tool called: function get_weather",
        "client sent function_call_output",
        "response 2: completed",
        "response 2 output: message/assistant",
        "response 2 after function call: client sent response.create",
    }


# ---------------------------------------------------------------------------
# Beta against GA


def test_beta_and_ga_of_the_same_scenario_are_equivalent_with_renames_reported(capsys):
    report = diff(GA, BETA)
    assert report.cross_api and report.equivalent
    renames = {(r.beta_type, r.ga_type): (r.count_a, r.count_b) for r in report.renames}
    assert renames == {
        ("response.audio.delta", "response.output_audio.delta"): (13, 13),
        ("response.audio.done", "response.output_audio.done"): (3, 3),
        ("response.audio_transcript.delta", "response.output_audio_transcript.delta"): (13, 13),
        ("response.audio_transcript.done", "response.output_audio_transcript.done"): (3, 3),
    }
    assert not any(r.counts for r in report.renames)
    presence = {p.type: p for p in report.turns[1].presence}
    assert set(presence) == {"conversation.item.added", "conversation.item.created", "conversation.item.done"}
    assert presence["conversation.item.done"].note == "GA-only"
    assert (presence["conversation.item.created"].count_a, presence["conversation.item.created"].count_b) == (0, 2)
    shapes = {(s.event_type, s.path): s for s in report.shapes}
    name = shapes["response.function_call_arguments.done", "$.name"]
    assert (name.change, name.kinds_a, name.kinds_b, name.counts) == ("removed", {"string": 1}, {}, False)
    temperature = shapes["session.created", "$.session.temperature"]
    assert (temperature.change, temperature.kinds_b) == ("added", {"number": 1})
    audio = shapes["session.created", "$.session.audio"]
    assert audio.subpaths > 0 and ("session.created", "$.session.audio.input") not in shapes
    assert all(not t.facts_only_a and not t.facts_only_b and not t.order for t in report.turns)

    assert cli_diff([str(BETA), str(GA)]) == 0
    out = capsys.readouterr().out
    assert "Same event under another name" in out
    assert re.search(r"response\.audio\.delta\s+= response\.output_audio\.delta", out)
    assert "GA-only" in out and "equivalent" in out


def test_strict_api_counts_what_the_versions_explain(capsys):
    assert cli_diff([str(GA), str(BETA), "--strict-api"]) == 1
    report = diff(GA, BETA, strict_api=True)
    assert all(r.counts for r in report.renames) and all(s.counts for s in report.shapes)
    assert "different" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# One behaviour difference


def test_mcp_follow_up_by_client_against_server_auto_continue(capsys):
    report = diff(MCP_AUTO, MCP_CLIENT)
    assert not report.equivalent
    turn = report.turns[1]
    assert turn.facts_only_a == [AUTO_FACT]
    assert turn.facts_only_b == [CLIENT_FACT]
    assert [(p.type, p.count_a, p.count_b) for p in turn.presence] == [("response.create", 0, 1)]
    assert report.differences == 3 and not report.shapes and not turn.order

    assert cli_diff([str(MCP_AUTO), str(MCP_CLIENT)]) == 1
    out = capsys.readouterr().out
    assert f"- A only: {AUTO_FACT}" in out
    assert f"+ B only: {CLIENT_FACT}" in out
    assert out.rstrip().endswith("different: 3 differences")


def test_json_report(capsys):
    assert cli_diff([str(MCP_CLIENT), str(MCP_AUTO), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["equivalent"] is False and data["differences"] == 3
    assert data["turns"][1]["facts_only_a"] == [CLIENT_FACT]
    assert data["turns"][1]["facts_only_b"] == [AUTO_FACT]
    assert data["a"]["path"].endswith("ga_mcp_client.jsonl") and data["b"]["api"] == "ga"


def moved_rate_limits(record: dict[str, Any], held: list[dict[str, Any]]) -> Any:
    # Moves the first rate_limits.updated after the response.output_item.added that follows it.
    event = record.get("event", {})
    if event.get("type") == "rate_limits.updated" and not held and record.get("moved") is None:
        held.append(record)
        return None
    if event.get("type") == "response.output_item.added" and held and held[0] is not None:
        out = [record, held[0]]
        held[0] = None
        return out
    return record


def test_event_order_difference_within_a_response(tmp_path):
    held: list[dict[str, Any]] = []
    other = write(tmp_path / "moved.jsonl", edit_lines(GA, lambda r: moved_rate_limits(r, held)))
    report = diff(GA, other)
    assert not report.equivalent
    (order,) = report.turns[1].order
    assert order.response == 1
    seq_a = [etype for op, etype in order.lines if op in " -"]
    seq_b = [etype for op, etype in order.lines if op in " +"]
    assert seq_a[:3] == ["response.created", "rate_limits.updated", "response.output_item.added"]
    assert seq_b[:3] == ["response.created", "response.output_item.added", "rate_limits.updated"]
    assert seq_a[3:] == seq_b[3:] and seq_a[-1] == "response.done"
    text = render_diff(report)
    assert "event order, response 1:" in text


def test_delta_interleaving_and_chunking_do_not_matter(tmp_path):
    # Swap each transcript delta with the audio delta that follows it, and split one audio delta in two.
    records = edit_lines(GA, lambda r: r)
    events = [r.get("event", {}).get("type") for r in records]
    for i in range(len(records) - 1):
        if events[i] == "response.output_audio_transcript.delta" and events[i + 1] == "response.output_audio.delta":
            records[i], records[i + 1] = records[i + 1], records[i]
    first = next(i for i, r in enumerate(records) if r.get("event", {}).get("type") == "response.output_audio.delta")
    audio = base64.b64decode(records[first]["event"]["delta"])
    half = json.loads(json.dumps(records[first]))
    records[first]["event"]["delta"] = base64.b64encode(audio[:240]).decode()
    half["event"]["delta"] = base64.b64encode(audio[240:]).decode()
    records.insert(first + 1, half)
    report = diff(GA, write(tmp_path / "interleaved.jsonl", records))
    assert report.equivalent


def barge_in(tmp_path: Path, interrupted: bool) -> Path:
    """A spoken turn answered with audio; when ``interrupted``, the user speaks over the answer."""
    lines = [
        ("server", {"type": "session.created", "event_id": "e1", "session": {"type": "realtime"}}),
        ("server", {"type": "input_audio_buffer.speech_started", "event_id": "e2", "item_id": "item_u1", "audio_start_ms": 0}),
        ("server", {"type": "input_audio_buffer.speech_stopped", "event_id": "e3", "item_id": "item_u1", "audio_end_ms": 500}),
        ("server", {"type": "response.created", "event_id": "e4", "response": {"id": "resp_1", "status": "in_progress"}}),
        ("server", {"type": "response.output_audio.delta", "event_id": "e5", "response_id": "resp_1", "item_id": "item_a1",
                    "output_index": 0, "content_index": 0, "delta": base64.b64encode(bytes(4800)).decode()}),
    ]
    message = {"id": "item_a1", "type": "message", "role": "assistant", "content": []}
    if interrupted:
        lines += [
            ("server", {"type": "input_audio_buffer.speech_started", "event_id": "e6", "item_id": "item_u2", "audio_start_ms": 900}),
            ("local", {"type": "playback.cleared", "item_id": "item_a1", "content_index": 0, "played_ms": 40.0}),
            ("client", {"type": "conversation.item.truncate", "item_id": "item_a1", "content_index": 0, "audio_end_ms": 40}),
            ("server", {"type": "response.done", "event_id": "e7", "response": {
                "id": "resp_1", "status": "cancelled", "status_details": {"type": "cancelled", "reason": "turn_detected"},
                "output": [message]}}),
        ]
    else:
        lines.append(("server", {"type": "response.done", "event_id": "e7", "response": {
            "id": "resp_1", "status": "completed", "status_details": None, "output": [message]}}))
    path = tmp_path / f"barge_{interrupted}.jsonl"
    Transcript.from_events({"api": "ga"}, [(i * 100.0, d, e) for i, (d, e) in enumerate(lines)]).save(path)
    return path


def test_cancelled_response_and_truncation_are_behaviour_differences(tmp_path):
    report = diff(barge_in(tmp_path, False), barge_in(tmp_path, True))
    assert not report.equivalent
    assert report.turns[1].facts_only_a == ["response 1: completed"]
    assert report.turns[1].facts_only_b == ["response 1: cancelled (turn_detected)"]
    extra = report.turns[2]
    assert (extra.label_a, extra.label_b) == (None, "turn 2 (speech)")
    assert "turn 2 (speech): only in B" in render_diff(report)
    turns = segment(normalize(read_transcript(barge_in(tmp_path, True))))
    assert turns[2].barge_in
    assert "client truncated assistant audio" in turn_facts(turns[2])
    assert "input: speech (while a response was in progress)" in turn_facts(turns[2])


# ---------------------------------------------------------------------------
# Timing


def test_latency_is_reported_and_counts_only_beyond_the_threshold(capsys):
    report = diff(GA, GA_RERUN)
    deltas = [t.latency_delta for t in report.turns[1:]]
    assert all(140 <= d <= 160 for d in deltas), deltas  # the rerun adds 150 ms (+ jitter)
    assert report.equivalent
    assert cli_diff([str(GA), str(GA_RERUN), "--latency-threshold-ms", "100"]) == 1
    out = capsys.readouterr().out
    assert "~ latency A" in out and "counted beyond 100 ms" in out
    assert cli_diff([str(GA), str(GA_RERUN), "--latency-threshold-ms", "500"]) == 0


# ---------------------------------------------------------------------------
# Output and bad input


def test_colour_only_when_asked_or_on_a_terminal(capsys):
    report = diff(MCP_AUTO, MCP_CLIENT)
    assert "\x1b[31m" in render_diff(report, color=True)
    assert "\x1b[" not in render_diff(report, color=False)
    assert cli_diff([str(MCP_AUTO), str(MCP_CLIENT), "--color", "always"]) == 1
    assert "\x1b[1;31mdifferent" in capsys.readouterr().out


def test_bad_input_exits_2(tmp_path, capsys):
    not_transcript = tmp_path / "events.jsonl"
    not_transcript.write_text('{"type": "session.created"}\n')
    assert cli_diff([str(GA), str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    assert cli_diff([str(not_transcript), str(GA)]) == 2
    err = capsys.readouterr().err
    assert "events.jsonl:1:" in err and "not a transcript header" in err
    assert cli_diff([str(GA)]) == 2  # B missing
    assert cli_diff([str(GA), str(GA), "--latency-threshold-ms", "-1"]) == 2


@pytest.mark.parametrize(
    ("a", "b", "code"),
    [(GA, GA_RERUN, 0), (MCP_AUTO, MCP_CLIENT, 1), (GA, FIXTURES / "missing.jsonl", 2)],
)
def test_exit_codes_of_a_real_process(a, b, code):
    command = "import sys; from rtproto.diff_cli import cli_diff; sys.exit(cli_diff(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", command, str(a), str(b)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == code, done.stderr
    assert "\x1b[" not in done.stdout


def test_a_tool_called_in_one_transcript_only():
    report = diff(GA, MCP_AUTO)
    assert "tool called: mcp deepwiki/ask_question" in report.turns[1].facts_only_b
    assert (report.turns[2].label_a, report.turns[2].label_b) == ("turn 2 (speech)", None)
    assert not report.equivalent


def approval(tmp_path: Path, approve: bool) -> Path:
    request = {"id": "mcpr_1", "type": "mcp_approval_request", "server_label": "wiki", "name": "search", "arguments": "{}"}
    answer = {"type": "mcp_approval_response", "id": "mcpa_1", "approval_request_id": "mcpr_1", "approve": approve}
    lines = [
        ("client", {"type": "conversation.item.create",
                    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Search"}]}}),
        ("client", {"type": "response.create"}),
        ("server", {"type": "response.created", "event_id": "e1", "response": {"id": "resp_1"}}),
        ("server", {"type": "response.done", "event_id": "e2",
                    "response": {"id": "resp_1", "status": "completed", "output": [request]}}),
        ("local", {"type": "approval.answer", "approval_request_id": "mcpr_1", "approve": approve, "reason": None}),
        ("client", {"type": "conversation.item.create", "item": answer}),
    ]
    path = tmp_path / f"approval_{approve}.jsonl"
    Transcript.from_events({"api": "ga"}, [(i * 10.0, d, e) for i, (d, e) in enumerate(lines)]).save(path)
    return path


def test_approval_answers_are_compared(tmp_path):
    report = diff(approval(tmp_path, True), approval(tmp_path, False))
    turn = report.turns[1]
    assert turn.label_a == "turn 1 (text)"
    assert turn.facts_only_a == ["client approved an mcp call", "user approved a tool call"]
    assert turn.facts_only_b == ["client denied an mcp call", "user denied a tool call"]
    facts = turn_facts(segment(normalize(read_transcript(approval(tmp_path, True))))[1])
    assert "approval requested: mcp wiki/search" in facts
    assert "response 1 created by client response.create" in facts
