"""The transcript checker: schema drift, rejected client events, protocol misuse, output and exit codes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtproto.check import Finding, check_transcript, cli_check, render_check
from rtproto.transcript import read_transcript

FIXTURES = Path(__file__).parent / "fixtures" / "diff"
ROOT = Path(__file__).resolve().parents[1]
AUDIO_100MS = base64.b64encode(bytes(4800)).decode()  # pcm16 at 24 kHz

Entry = tuple[str, dict[str, Any]]


def conversation() -> list[Entry]:
    """A clean GA exchange: session set-up, one spoken turn, one audio response (100 ms)."""
    message = {"id": "item_a1", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_audio", "transcript": "Hi."}]}
    ids = {"response_id": "resp_1", "item_id": "item_a1", "output_index": 0, "content_index": 0}
    return [
        ("server", {"type": "session.created", "event_id": "e1", "session": {"type": "realtime"}}),
        ("client", {"type": "session.update", "event_id": "evt_1", "session": {"type": "realtime", "instructions": "Hi"}}),
        ("server", {"type": "session.updated", "event_id": "e2", "session": {"type": "realtime", "instructions": "Hi"}}),
        ("server", {"type": "input_audio_buffer.speech_started", "event_id": "e3", "item_id": "item_u1", "audio_start_ms": 0}),
        ("server", {"type": "input_audio_buffer.speech_stopped", "event_id": "e4", "item_id": "item_u1", "audio_end_ms": 800}),
        ("server", {"type": "input_audio_buffer.committed", "event_id": "e5", "item_id": "item_u1"}),
        ("server", {"type": "response.created", "event_id": "e6", "response": {"id": "resp_1", "status": "in_progress"}}),
        ("server", {"type": "response.output_item.added", "event_id": "e7", "response_id": "resp_1", "output_index": 0,
                    "item": {**message, "status": "in_progress", "content": []}}),
        ("server", {"type": "response.output_audio.delta", "event_id": "e8", "delta": AUDIO_100MS, **ids}),
        ("server", {"type": "response.done", "event_id": "e9",
                    "response": {"id": "resp_1", "status": "completed", "output": [message]}}),
    ]


def function_call_turn(answered: bool) -> list[Entry]:
    """A response that calls the function tool ``lookup``; ``answered``: the app sends its output."""
    call = {"id": "item_f1", "type": "function_call", "name": "lookup", "call_id": "call_1", "arguments": "{}"}
    entries: list[Entry] = [
        ("server", {"type": "response.created", "event_id": "f1", "response": {"id": "resp_2", "status": "in_progress"}}),
        ("server", {"type": "response.output_item.added", "event_id": "f2", "response_id": "resp_2", "output_index": 0,
                    "item": {**call, "arguments": ""}}),
        ("server", {"type": "response.function_call_arguments.done", "event_id": "f3", "response_id": "resp_2",
                    "item_id": "item_f1", "output_index": 0, "call_id": "call_1", "name": "lookup", "arguments": "{}"}),
        ("server", {"type": "response.done", "event_id": "f4",
                    "response": {"id": "resp_2", "status": "completed", "output": [call]}}),
    ]
    if answered:
        entries += [
            ("local", {"type": "function.result", "call_id": "call_1", "output": "42", "is_error": False}),
            ("client", {"type": "conversation.item.create", "event_id": "evt_5",
                        "item": {"type": "function_call_output", "call_id": "call_1", "output": "42"}}),
            ("client", {"type": "response.create", "event_id": "evt_6"}),
        ]
    return entries


def write(tmp_path: Path, entries: list[Any], api: str = "ga", name: str = "t.jsonl") -> Path:
    """A transcript file; an entry is ``(dir, event)`` or a whole record dict (for raw lines)."""
    header = {"rtproto": "transcript/1", "api": api, "model": "gpt-realtime"}
    records = [header]
    for i, entry in enumerate(entries):
        records.append(entry if isinstance(entry, dict) else {"t": 10.0 * i, "dir": entry[0], "event": entry[1]})
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def line_of(entries: list[Any], index: int) -> int:
    """The file line number of ``entries[index]`` (line 1 is the header)."""
    return index + 2


def findings(path: Path) -> list[Finding]:
    return check_transcript(read_transcript(path)).findings


def codes(path: Path) -> list[tuple[int, str, str]]:
    return [(f.line, f.severity, f.code) for f in findings(path)]


# ---------------------------------------------------------------------------
# Clean transcripts


@pytest.mark.parametrize("name", ["ga_weather", "ga_weather_rerun", "beta_weather", "ga_mcp_auto", "ga_mcp_client"])
def test_fixtures_are_clean(name, capsys):
    path = FIXTURES / f"{name}.jsonl"
    assert cli_check([str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"clean ({len(path.read_text().splitlines())} lines, "
                                                    f"api {read_transcript(path).api})")


def test_built_conversation_with_an_answered_tool_call_is_clean(tmp_path):
    assert findings(write(tmp_path, conversation() + function_call_turn(answered=True))) == []


# ---------------------------------------------------------------------------
# Schema drift


def test_unknown_event_types(tmp_path):
    entries = conversation()
    entries.insert(3, ("server", {"type": "response.output_audio.flushed", "event_id": "x1"}))
    entries.insert(5, ("client", {"type": "input_audio_buffer.rewind", "event_id": "evt_9"}))
    (server, client) = findings(write(tmp_path, entries))
    assert (server.line, server.severity, server.code) == (line_of(entries, 3), "warning", "unknown-type")
    assert "'response.output_audio.flushed'" in server.message and "ga model" in server.message
    assert (client.line, client.severity, client.code) == (line_of(entries, 5), "error", "unknown-type")


def test_beta_names_in_a_ga_transcript_and_ga_names_in_a_beta_one(tmp_path):
    entries = conversation()
    entries[8] = ("server", {**entries[8][1], "type": "response.audio.delta"})
    assert codes(write(tmp_path, entries)) == [(line_of(entries, 8), "warning", "unknown-type")]
    beta = [json.loads(line) for line in (FIXTURES / "beta_weather.jsonl").read_text().splitlines()]
    ga_named = {"t": 1.0, "dir": "server", "event": {"type": "conversation.item.done", "event_id": "x",
                                                     "item": {"type": "message", "role": "user", "content": []}}}
    path = write(tmp_path, beta[1:5] + [ga_named], api="beta", name="beta.jsonl")
    assert codes(path) == [(6, "warning", "unknown-type")]


def test_unknown_fields_are_reported_at_their_json_paths(tmp_path):
    entries = conversation()
    created = entries[6][1]
    entries[6] = ("server", {**created, "trace": {"id": "t"}, "response": {**created["response"], "flavor": "x"}})
    done = entries[9][1]
    message = {**done["response"]["output"][0]}
    message["content"] = [{**message["content"][0], "pitch": 3}]
    entries[9] = ("server", {**done, "response": {**done["response"], "output": [message]}})
    entries[1] = ("client", {**entries[1][1], "session": {**entries[1][1]["session"], "temperature": 0.8}})
    got = [(f.line, f.severity, f.code, f.path) for f in findings(write(tmp_path, entries))]
    assert got == [
        (line_of(entries, 1), "error", "unknown-field", "$.session.temperature"),
        (line_of(entries, 6), "warning", "unknown-field", "$.response.flavor"),
        (line_of(entries, 6), "warning", "unknown-field", "$.trace"),
        (line_of(entries, 9), "warning", "unknown-field", "$.response.output[0].content[0].pitch"),
    ]


def test_wrong_types_and_missing_fields(tmp_path):
    entries = conversation()
    entries[3] = ("server", {**entries[3][1], "audio_start_ms": "soon"})
    entries[5] = ("server", {"type": "input_audio_buffer.committed", "event_id": "e5"})
    wrong, missing = findings(write(tmp_path, entries))
    assert (wrong.line, wrong.code, wrong.path) == (line_of(entries, 3), "schema", "$.audio_start_ms")
    assert wrong.message == "input_audio_buffer.speech_started: Expected int, got str at $.audio_start_ms"
    assert (missing.line, missing.code, missing.path) == (line_of(entries, 5), "schema", "$.item_id")
    assert "missing required field 'item_id' at $.item_id" in missing.message


def test_a_frame_that_was_not_json(tmp_path):
    entries: list[Any] = conversation()
    entries.insert(2, {"t": 15.0, "dir": "server", "raw": "<html>502 Bad Gateway</html>"})
    (finding,) = findings(write(tmp_path, entries))
    assert (finding.line, finding.severity, finding.code) == (4, "error", "not-json")
    assert "502 Bad Gateway" in finding.message


# ---------------------------------------------------------------------------
# Rejected client events


def test_error_events_are_matched_to_the_client_event_they_name(tmp_path):
    entries = conversation()
    entries.insert(2, ("client", {"type": "session.update", "event_id": "evt_2",
                                  "session": {"type": "realtime", "audio": {"output": {"voice": "nobody"}}}}))
    error = {"type": "invalid_request_error", "code": "invalid_value", "message": "Invalid voice.",
             "param": "session.audio.output.voice", "event_id": "evt_2"}
    entries.insert(3, ("server", {"type": "error", "event_id": "e99", "error": error}))
    entries.append(("server", {"type": "error", "event_id": "e100",
                               "error": {"type": "server_error", "message": "Something broke."}}))
    rejected, unmatched = findings(write(tmp_path, entries))
    assert (rejected.line, rejected.severity, rejected.code) == (line_of(entries, 2), "error", "rejected")
    assert rejected.message == (f"session.update rejected by the server (error on line {line_of(entries, 3)}): "
                                "invalid_value: Invalid voice. (param session.audio.output.voice)")
    assert (unmatched.line, unmatched.severity, unmatched.code) == (len(entries) + 1, "warning", "server-error")
    assert "server_error: Something broke." in unmatched.message


# ---------------------------------------------------------------------------
# Protocol misuse


def test_response_create_while_a_response_is_active(tmp_path):
    entries = conversation()
    entries.insert(7, ("client", {"type": "response.create", "event_id": "evt_7"}))
    (finding,) = findings(write(tmp_path, entries))
    assert (finding.line, finding.severity, finding.code) == (line_of(entries, 7), "error", "misuse")
    assert "response.create while the response slot is active ('resp_1')" in finding.message


def test_truncate_beyond_the_audio_received(tmp_path):
    truncate = {"type": "conversation.item.truncate", "event_id": "evt_8", "item_id": "item_a1", "content_index": 0}
    fine = conversation() + [("client", {**truncate, "audio_end_ms": 90})]
    assert findings(write(tmp_path, fine, name="fine.jsonl")) == []
    entries = conversation() + [("client", {**truncate, "audio_end_ms": 5000})]
    (finding,) = findings(write(tmp_path, entries))
    assert (finding.line, finding.code, finding.path) == (line_of(entries, 10), "misuse", "$.audio_end_ms")
    assert "audio_end_ms 5000 is past the 100.0 ms received" in finding.message


def test_approval_response_for_an_unknown_request(tmp_path):
    request = {"id": "mcpr_req1", "type": "mcp_approval_request", "server_label": "wiki", "name": "search",
               "arguments": "{}"}
    answer = {"type": "mcp_approval_response", "id": "mcpr_ans1", "approve": True}
    asked = ("server", {"type": "conversation.item.done", "event_id": "a1", "item": request})
    known = conversation() + [asked, ("client", {"type": "conversation.item.create", "event_id": "evt_3",
                                                 "item": {**answer, "approval_request_id": "mcpr_req1"}})]
    assert findings(write(tmp_path, known, name="known.jsonl")) == []
    entries = conversation() + [asked, ("client", {"type": "conversation.item.create", "event_id": "evt_3",
                                                   "item": {**answer, "approval_request_id": "mcpr_other"}})]
    unanswered, misuse = findings(write(tmp_path, entries))
    assert (misuse.line, misuse.code, misuse.path) == (line_of(entries, 11), "misuse", "$.item.approval_request_id")
    assert "'mcpr_other' is not pending" in misuse.message
    assert (unanswered.line, unanswered.code) == (line_of(entries, 10), "unanswered-approval")


def test_a_tool_call_never_answered(tmp_path):
    entries = conversation() + function_call_turn(answered=False)
    (finding,) = findings(write(tmp_path, entries))
    assert (finding.line, finding.severity, finding.code) == (line_of(entries, 11), "warning", "unanswered-call")
    assert "'lookup' (call_id 'call_1') never got a function_call_output" in finding.message


def test_a_function_output_for_an_unknown_call(tmp_path):
    entries = conversation() + [("client", {"type": "conversation.item.create", "event_id": "evt_4",
                                            "item": {"type": "function_call_output", "call_id": "call_x", "output": "1"}})]
    (finding,) = findings(write(tmp_path, entries))
    assert (finding.line, finding.code, finding.path) == (line_of(entries, 10), "misuse", "$.item.call_id")


def test_server_misbehaviour(tmp_path):
    entries = conversation()
    stray = {**entries[8][1], "event_id": "e10", "response_id": "resp_gone"}
    entries.append(("server", stray))
    (finding,) = findings(write(tmp_path, entries))
    assert (finding.line, finding.severity, finding.code) == (line_of(entries, 10), "error", "server-misbehaviour")
    assert "resp_gone" in finding.message


def test_misuse_in_a_beta_transcript(tmp_path):
    beta = [json.loads(line) for line in (FIXTURES / "beta_weather.jsonl").read_text().splitlines()][1:]
    created = next(i for i, r in enumerate(beta) if r["event"]["type"] == "response.created")
    beta.insert(created + 1, {"t": beta[created]["t"], "dir": "client",
                              "event": {"type": "response.create", "event_id": "evt_x"}})
    (finding,) = findings(write(tmp_path, beta, api="beta"))
    assert (finding.line, finding.code) == (created + 3, "misuse")


# ---------------------------------------------------------------------------
# Output and bad input


def test_human_output_and_exit_code(tmp_path, capsys):
    entries = conversation()
    entries.insert(7, ("client", {"type": "response.create", "event_id": "evt_7"}))
    path = write(tmp_path, entries)
    assert cli_check([str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}:9: error: response.create while the response slot is active ('resp_1')")
    assert out[0].endswith("[misuse]")
    assert out[-1] == f"{path}: 1 error(s), 0 warning(s)"


def test_json_output(tmp_path, capsys):
    entries = conversation()
    entries[3] = ("server", {**entries[3][1], "audio_start_ms": "soon"})
    assert cli_check([str(write(tmp_path, entries)), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["clean"] is False and (data["errors"], data["warnings"]) == (1, 0)
    assert data["findings"] == [{
        "line": 5, "severity": "error", "code": "schema", "path": "$.audio_start_ms",
        "event_type": "input_audio_buffer.speech_started",
        "message": "input_audio_buffer.speech_started: Expected int, got str at $.audio_start_ms",
    }]


def test_render_check_of_a_clean_report():
    report = check_transcript(read_transcript(FIXTURES / "ga_mcp_auto.jsonl"))
    assert report.clean and render_check(report).endswith("clean (51 lines, api ga)\n")


def test_bad_input_exits_2(tmp_path, capsys):
    assert cli_check([str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "session.created"}\n')
    assert cli_check([str(events)]) == 2
    assert "events.jsonl:1:" in capsys.readouterr().err
    assert cli_check([]) == 2


def test_exit_codes_of_a_real_process(tmp_path):
    entries = conversation()
    entries.insert(7, ("client", {"type": "response.create", "event_id": "evt_7"}))
    command = "import sys; from rtproto.check import cli_check; sys.exit(cli_check(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for path, code in ((FIXTURES / "ga_weather.jsonl", 0), (write(tmp_path, entries), 1), (tmp_path / "no.jsonl", 2)):
        done = subprocess.run([sys.executable, "-c", command, str(path)], capture_output=True, text=True,
                              timeout=60, env=env)
        assert done.returncode == code, done.stdout + done.stderr
