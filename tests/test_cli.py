"""End-to-end tests of the CLI: the real ``python -m rtproto.run`` in a subprocess.

Each test starts a local Realtime server on 127.0.0.1 (a recorded fixture or a
script built with :class:`rtproto.testing.ScriptBuilder`), runs the CLI against
it with ``--url``, and checks what a user and the server see: the exit code, the
screen, the ``--record`` transcript, the frames the server received and the
``--output`` WAV file. Nothing waits on a fixed sleep: every wait is on a
condition (output seen, frames received, process ended) under a time limit, and
every process is killed when its test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

import cli_tools
from cli_harness import (
    FIXTURES, LIMIT, RATE, REPO, Cli, Conversation, appended_pcm, b64_pcm, cli_env, fixture_deltas, fixture_events,
    fixture_user_audio, free_port, non_audio, received_of, recorded, run_cli, running, speech_like, until,
)
from rtproto import codec
from rtproto.policy import ToolPolicy
from rtproto.replay import replay
from rtproto.testing import serve_transcript
from rtproto.transcript import RAW_FRAME_TYPE, read_transcript

pytestmark = pytest.mark.timeout(90)

DEMO = REPO / "rtproto" / "data" / "demo.jsonl"


# -- 1. audio in from a WAV, audio out to a WAV -----------------------------------------


async def test_wav_input_is_streamed_exactly_and_output_wav_holds_the_answer(tmp_path: Path) -> None:
    said = speech_like(1.0)
    codec.write_wav(tmp_path / "question.wav", said, RATE)
    deltas = fixture_deltas("mcp_call.jsonl")
    text = "The latest release of OpenAI Python is version 3.51.0."
    script = Conversation().session().answer("resp_A1", "item_A1", deltas, text)
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        # the answer plays while the WAV is still being sent: a file is never muted as a microphone is
        async with running("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                           "--record", "rec.jsonl", cwd=tmp_path) as cli:
            await cli.expect(f"assistant ▸ {text}\n")
            await until(lambda: len(appended_pcm(server.received)) >= len(said), "the whole WAV to be sent", cli)
            cli.interrupt()  # Ctrl-C ends the conversation
            assert await cli.wait() == 0, cli.screen()
        assert not server.departures

    sent = appended_pcm(server.received)
    assert np.array_equal(sent[: len(said)], said)  # in order, sample for sample, at 24 kHz
    assert not sent[len(said):].any()  # then a silent room
    assert len(sent) % 480 == 0  # 20 ms chunks
    answer, rate = codec.read_wav(tmp_path / "answer.wav")
    assert rate == RATE
    assert np.array_equal(answer, b64_pcm(deltas))
    client, server_events, local = recorded(tmp_path / "rec.jsonl")
    assert np.array_equal(appended_pcm(client), sent)  # the recording holds every frame sent
    assert [e["type"] for e in non_audio(client)] == ["session.update"]
    assert [e["type"] for e in server_events] == [e["type"] for e in script.script.build().server_events()]
    assert local[-1] == {"type": "connection.closed", "code": 1000, "reason": "", "by": "client"}


# -- fixture conversations: MCP call, approvals, function tool -----------------------------

GITHUB_MCP = "github=https://api.githubcopilot.com/mcp/"
GITHUB_TOKEN = "ghp_" + "T3stT0kenF0rTheCliTestsOnly0123456789"


def policy_flags(fixture: str) -> list[str]:
    """``--mcp github=... --allow ... --ask ...`` as the fixture's recorded policy says."""
    policy = read_transcript(FIXTURES / fixture).header["policy"]
    flags = ["--mcp", GITHUB_MCP]
    for name in policy["allow"]:
        flags += ["--allow", name]
    for name in policy["ask"]:
        flags += ["--ask", name]
    return flags


def final_answer(fixture: str) -> str:
    done = [e for e in fixture_events(fixture) if e["type"] == "response.output_audio_transcript.done"]
    return done[-1]["transcript"]


def all_deltas(events: list[dict]) -> list[str]:
    return [e["delta"] for e in events if e["type"] == "response.output_audio.delta"]


def event_position(lines: list, direction: str, test: Callable[[dict], bool]) -> int:
    return next(i for i, line in enumerate(lines) if line.dir == direction and test(line.event))


async def hang_up(cli: Cli) -> None:
    """Ctrl-C, the way a person ends a live conversation; the CLI exits 0."""
    cli.interrupt()
    assert await cli.wait() == 0, cli.screen()


async def test_mcp_call_is_followed_by_response_create(tmp_path: Path) -> None:
    fixture = "mcp_call.jsonl"
    codec.write_wav(tmp_path / "question.wav", fixture_user_audio(fixture), RATE)
    env = cli_env(tmp_path, GITHUB_PAT=GITHUB_TOKEN)
    async with serve_transcript(FIXTURES / fixture, speed="max", strict=True) as server:
        async with running("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                           *policy_flags(fixture), "--mcp-token-env", "GITHUB_PAT", "--record", "rec.jsonl",
                           cwd=tmp_path, env=env) as cli:
            await cli.expect(f"assistant ▸ {final_answer(fixture)}\n")
            await until(lambda: server.sessions[0].completed, "the recording to be played to its end", cli)
            await hang_up(cli)
        assert not server.departures

    client = non_audio(server.received)
    assert [e["type"] for e in client] == ["session.update", "response.create"]
    mcp = client[0]["session"]["tools"][0]
    assert mcp["server_label"] == "github" and mcp["server_url"] == "https://api.githubcopilot.com/mcp/"
    assert mcp["authorization"] == GITHUB_TOKEN  # the token goes to the server, and nowhere else
    assert mcp["require_approval"] == {"always": {"tool_names": ["create_repository"]},
                                       "never": {"tool_names": ["get_latest_release", "list_issues",
                                                                "search_repositories"]}}
    transcript = read_transcript(tmp_path / "rec.jsonl")
    assert GITHUB_TOKEN not in (tmp_path / "rec.jsonl").read_text()
    assert transcript.client_events()[0]["session"]["tools"][0]["authorization"] == "[redacted]"
    call_done = event_position(transcript.lines, "server", lambda e: e["type"] == "conversation.item.done"
                               and e["item"]["type"] == "mcp_call" and e["item"].get("output"))
    create = event_position(transcript.lines, "client", lambda e: e["type"] == "response.create")
    assert call_done < create
    assert "⚙ mcp github.get_latest_release(" in cli.stdout
    assert "  ↳ get_latest_release: {" in cli.stdout
    assert GITHUB_TOKEN not in cli.stdout + cli.stderr
    answer, _ = codec.read_wav(tmp_path / "answer.wav")
    assert np.array_equal(answer, b64_pcm(all_deltas(fixture_events(fixture))))


QUESTION = 'approve github.create_repository({"name":"voice-notes","private":true,"autoInit":true})? [y/N] '


async def test_approval_answered_yes_on_stdin(tmp_path: Path) -> None:
    fixture = "mcp_approval_approved.jsonl"
    codec.write_wav(tmp_path / "question.wav", fixture_user_audio(fixture), RATE)
    async with serve_transcript(FIXTURES / fixture, speed="max", strict=True) as server:
        async with running("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                           *policy_flags(fixture), "--record", "rec.jsonl", cwd=tmp_path) as cli:
            await cli.expect(QUESTION)
            cli.write("y")
            await cli.expect(f"assistant ▸ {final_answer(fixture)}\n")
            await until(lambda: server.sessions[0].completed, "the recording to be played to its end", cli)
            await hang_up(cli)
        assert not server.departures

    client = non_audio(server.received)
    assert [e["type"] for e in client] == [e["type"] for e in non_audio(fixture_events(fixture, "client"))]
    request_id = next(e["item"]["id"] for e in fixture_events(fixture)
                      if e["type"] == "conversation.item.done" and e["item"]["type"] == "mcp_approval_request")
    answer = client[1]["item"]
    assert answer["type"] == "mcp_approval_response"
    assert answer["approval_request_id"] == request_id and answer["approve"] is True
    assert "reason" not in answer
    assert client[2]["type"] == "response.create"
    _, _, local = recorded(tmp_path / "rec.jsonl")
    assert local[0] == {"type": "approval.answer", "approval_request_id": request_id, "approve": True, "reason": None}
    assert f"\n{QUESTION}y\n" in cli.stdout  # piped input is echoed after the question
    assert "\n  ↳ create_repository: approved by person\n" in cli.stdout


@pytest.mark.parametrize(("stdin", "fixture", "approve", "reason"), [
    # answers piped ahead of the question answer it (blank lines are skipped)
    ("\ny\n", "mcp_approval_approved.jsonl", True, None),
    # no answer will ever come: denied at once rather than after the timeout
    ("", "mcp_approval_denied.jsonl", False, "end of input"),
])
async def test_approval_answered_from_piped_input(tmp_path: Path, stdin: str, fixture: str, approve: bool,
                                                  reason: str | None) -> None:
    codec.write_wav(tmp_path / "question.wav", fixture_user_audio(fixture), RATE)
    async with serve_transcript(FIXTURES / fixture, speed="max") as server:
        async with running("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                           *policy_flags(fixture), cwd=tmp_path) as cli:
            cli.proc.stdin.write(stdin.encode())
            cli.close_stdin()
            await cli.expect(f"assistant ▸ {final_answer(fixture)}\n")
            await until(lambda: server.sessions[0].completed, "the recording to be played to its end", cli)
            await hang_up(cli)
        assert not server.departures
    client = non_audio(server.received)
    assert [e["type"] for e in client] == [e["type"] for e in non_audio(fixture_events(fixture, "client"))]
    assert client[1]["item"]["approve"] is approve and client[1]["item"].get("reason") == reason
    verdict = "approved by person" if approve else f"denied by person ({reason})"
    assert f"\n  ↳ create_repository: {verdict}\n" in cli.stdout


async def test_unanswered_approval_times_out_as_denied(tmp_path: Path) -> None:
    fixture = "mcp_approval_timeout.jsonl"
    codec.write_wav(tmp_path / "question.wav", fixture_user_audio(fixture), RATE)
    async with serve_transcript(FIXTURES / fixture, speed="max") as server:
        # stdin stays open and silent: nobody answers
        async with running("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                           *policy_flags(fixture), "--approval-timeout", "1", "--record", "rec.jsonl",
                           cwd=tmp_path) as cli:
            await cli.expect(f"assistant ▸ {final_answer(fixture)}\n")
            await until(lambda: server.sessions[0].completed, "the recording to be played to its end", cli)
            await hang_up(cli)
        assert not server.departures

    client = non_audio(server.received)
    assert [e["type"] for e in client] == ["session.update", "conversation.item.create", "response.create"]
    answer = client[1]["item"]
    assert answer["type"] == "mcp_approval_response"
    assert answer["approve"] is False and answer["reason"] == "timed out"
    _, _, local = recorded(tmp_path / "rec.jsonl")
    assert local[0] == {"type": "approval.answer", "approval_request_id": answer["approval_request_id"],
                        "approve": False, "reason": "timed out", "by": "timeout"}
    assert "[y/N] \n  ↳ create_repository: denied (timed out)\n" in cli.stdout  # off the question line
    assert "by person" not in cli.stdout
    # Offline, the recording replays the timeout as a timeout, under the policy its header keeps.
    policy = read_transcript(FIXTURES / fixture).header["policy"]
    assert read_transcript(tmp_path / "rec.jsonl").header["policy"] == ToolPolicy.from_dict(policy).to_dict()
    result = replay(tmp_path / "rec.jsonl")
    assert result.ok, result.mismatches
    answered = [n.notice for n in result.notices if type(n.notice).__name__ == "ApprovalAnswered"]
    assert [(a.approve, a.reason, a.by) for a in answered] == [(False, "timed out", "timeout")]


async def test_function_tool_output_is_sent_then_response_create(tmp_path: Path) -> None:
    fixture = "function_call.jsonl"
    codec.write_wav(tmp_path / "question.wav", fixture_user_audio(fixture), RATE)
    async with serve_transcript(FIXTURES / fixture, speed="max", strict=True) as server:
        async with running("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                           "--function", "cli_tools:get_weather", "--record", "rec.jsonl", cwd=tmp_path) as cli:
            await cli.expect(f"assistant ▸ {final_answer(fixture)}\n")
            await until(lambda: server.sessions[0].completed, "the recording to be played to its end", cli)
            await hang_up(cli)
        assert not server.departures

    client = non_audio(server.received)
    assert [e["type"] for e in client] == ["session.update", "conversation.item.create", "response.create"]
    tool = client[0]["session"]["tools"][0]
    assert tool == {"type": "function", "name": "get_weather", "description": "Get the current weather in a city.",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                   "required": ["city"]}}
    call = next(e for e in fixture_events(fixture) if e["type"] == "response.function_call_arguments.done")
    assert client[1]["item"] == {"type": "function_call_output", "call_id": call["call_id"],
                                 "output": json.dumps(cli_tools.get_weather(**json.loads(call["arguments"])))}
    _, _, local = recorded(tmp_path / "rec.jsonl")
    assert local[0] == {"type": "function.result", "call_id": call["call_id"], "output": client[1]["item"]["output"],
                        "is_error": False}
    assert '⚙ function get_weather({"city":"Paris"})' in cli.stdout


def function_call_turn(c: Conversation, response_id: str, item_id: str, call_id: str, arguments: str) -> Conversation:
    """A response whose only output is a call of get_weather, streamed as the GA server does."""
    item = {"id": item_id, "object": "realtime.item", "type": "function_call", "status": "in_progress",
            "name": "get_weather", "call_id": call_id, "arguments": ""}
    done = {**item, "status": "completed", "arguments": arguments}
    ids = {"response_id": response_id, "item_id": item_id, "output_index": 0, "call_id": call_id}
    return (c.response_created(response_id)
            .server("response.output_item.added", response_id=response_id, output_index=0, item=item)
            .server("conversation.item.added", item=item)
            .server("response.function_call_arguments.delta", **ids, delta=arguments)
            .server("response.function_call_arguments.done", **ids, name="get_weather", arguments=arguments)
            .server("response.output_item.done", response_id=response_id, output_index=0, item=done)
            .server("conversation.item.done", item=done)
            .response_done(response_id, [done]))


async def test_function_tool_that_raises_sends_an_error_output_and_goes_on(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "question.wav", speech_like(0.2), RATE)
    text = "I could not find a weather station in Atlantis."
    deltas = fixture_deltas("function_call.jsonl")[:3]
    script = function_call_turn(Conversation().session(), "resp_F1", "item_F1", "call_F1", '{"city":"Atlantis"}')
    script.expect("conversation.item.create").expect("response.create")
    error = json.dumps({"error": "LookupError: no weather station in Atlantis"})
    output_item = {"id": "item_F2", "object": "realtime.item", "type": "function_call_output", "call_id": "call_F1",
                   "output": error}
    script.server("conversation.item.added", item=output_item).server("conversation.item.done", item=output_item)
    script.answer("resp_F2", "item_F3", deltas, text).close(1000)
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        code, out, err = await run_cli("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                                       "--function", "cli_tools:get_weather", "--record", "rec.jsonl", cwd=tmp_path)
        assert code == 0, out + err
        assert not server.departures

    client = non_audio(server.received)
    assert [e["type"] for e in client] == ["session.update", "conversation.item.create", "response.create"]
    output = client[1]["item"]
    assert output["type"] == "function_call_output" and output["call_id"] == "call_F1"
    assert output["output"] == error
    _, _, local = recorded(tmp_path / "rec.jsonl")
    assert local[0] == {"type": "function.result", "call_id": "call_F1", "output": output["output"], "is_error": True}
    assert "  ↳ get_weather: error: " in out
    assert f"assistant ▸ {text}\n" in out  # the session went on
    answer, _ = codec.read_wav(tmp_path / "answer.wav")
    assert np.array_equal(answer, b64_pcm(deltas))


# -- 5. barge-in: truncate at exactly what was played ------------------------------------


async def test_barge_in_truncates_at_the_played_position(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "question.wav", np.zeros(RATE // 2, np.int16), RATE)
    deltas: list[str] = []
    for delta in fixture_deltas("barge_in.jsonl"):  # about 3 s of real speech
        if len(b64_pcm(deltas)) >= 3 * RATE:
            break
        deltas.append(delta)
    received_ms = len(b64_pcm(deltas)) * 1000 / RATE
    text = "Python was created by Guido van Rossum in the Netherlands."
    script = (Conversation().session().response_created("resp_B1").message_started("resp_B1", "item_B1")
              .message_audio("resp_B1", "item_B1", deltas, text)  # sent at once, far ahead of playback
              .server("input_audio_buffer.speech_started", after_ms=600, audio_start_ms=2400, item_id="item_U2")
              .expect("conversation.item.truncate")
              .message_done("resp_B1", "item_B1", text, status="cancelled",
                            details={"type": "cancelled", "reason": "turn_detected"})
              .close(1000))
    async with serve_transcript(script.script, strict=True) as server:  # recorded pacing: after_ms is real time
        code, out, err = await run_cli("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                                       "--record", "rec.jsonl", cwd=tmp_path)
        assert code == 0, out + err
        assert not server.departures

    client, _, local = recorded(tmp_path / "rec.jsonl")
    cleared = [e for e in local if e["type"] == "playback.cleared"]
    assert len(cleared) == 1 and cleared[0]["item_id"] == "item_B1" and cleared[0]["content_index"] == 0
    played_ms = cleared[0]["played_ms"]
    assert 0 < played_ms < received_ms
    truncate = received_of(server.received, "conversation.item.truncate")
    assert truncate == received_of(client, "conversation.item.truncate")
    assert len(truncate) == 1
    assert truncate[0]["item_id"] == "item_B1" and truncate[0]["content_index"] == 0
    assert truncate[0]["audio_end_ms"] == int(played_ms)
    heard, _ = codec.read_wav(tmp_path / "answer.wav")
    assert len(heard) == round(played_ms * RATE / 1000)  # the file holds exactly what was played ...
    assert np.array_equal(heard, b64_pcm(deltas)[: len(heard)])  # ... from the start of the answer
    assert f"[interrupted: assistant audio cut at {int(played_ms)} ms]" in out


# -- 6, 7. a malformed frame; closes ----------------------------------------------------------


async def test_malformed_frames_are_skipped_with_a_warning(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "question.wav", speech_like(0.2), RATE)
    text = "Still here after the noise."
    deltas = fixture_deltas("mcp_call.jsonl")[:2]
    ids = {"response_id": "resp_M1", "item_id": "item_M1", "output_index": 0, "content_index": 0}
    script = (Conversation().session().response_created("resp_M1").message_started("resp_M1", "item_M1")
              .raw('{"type": "response.output_audio_transcript.delta", "delta": "cut')  # invalid JSON
              .server("response.output_audio_transcript.delta", **ids, delta=42)  # a wrongly typed field
              .message_audio("resp_M1", "item_M1", deltas, text)
              .message_done("resp_M1", "item_M1", text)
              .close(1000))
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        code, out, err = await run_cli("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                                       "--record", "rec.jsonl", cwd=tmp_path)
    assert code == 0, out + err
    assert f"assistant ▸ {text}\n" in out  # events after the bad frames were processed
    warnings = [line for line in out.splitlines() if line.startswith("warning: skipped a malformed server frame")]
    assert len(warnings) == 2, out
    assert "response.output_audio_transcript.delta: Expected str, got int at $.delta" in warnings[1]
    _, server_events, _ = recorded(tmp_path / "rec.jsonl")
    assert {"type": RAW_FRAME_TYPE, "raw": '{"type": "response.output_audio_transcript.delta", "delta": "cut'} \
        in server_events  # nothing received is lost from the recording
    answer, _ = codec.read_wav(tmp_path / "answer.wav")
    assert np.array_equal(answer, b64_pcm(deltas))


@pytest.mark.parametrize(("code", "reason", "shown"), [
    (1011, "boom", "error: the server closed the connection with code 1011: boom"),
    (1006, "", "error: the connection was lost without a close frame (code 1006)"),
])
async def test_dropped_connection_exits_1_naming_code_and_reason(tmp_path: Path, code: int, reason: str,
                                                                 shown: str) -> None:
    codec.write_wav(tmp_path / "question.wav", speech_like(0.2), RATE)
    script = Conversation().session().close(code, reason)
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        exit_code, out, err = await run_cli("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                                            "--record", "rec.jsonl", "--no-reconnect", cwd=tmp_path)
        assert not server.departures
    assert exit_code == 1, out + err
    assert shown in err
    assert "Traceback" not in err
    assert "── summary ──" in out
    _, _, local = recorded(tmp_path / "rec.jsonl")
    expected_reason = reason or "connection lost"
    assert local[-1] == {"type": "connection.closed", "code": code, "reason": expected_reason, "by": "server"}


async def test_normal_close_by_the_server_exits_0(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "question.wav", speech_like(0.2), RATE)
    text = "Goodbye."
    deltas = fixture_deltas("mcp_call.jsonl")[:2]
    script = Conversation().session().answer("resp_C1", "item_C1", deltas, text).close(1000, "bye")
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        code, out, err = await run_cli("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                                       "--record", "rec.jsonl", cwd=tmp_path)
        assert not server.departures
    assert code == 0, out + err
    assert err == ""
    assert f"assistant ▸ {text}\n" in out and "turns: 1" in out
    answer, _ = codec.read_wav(tmp_path / "answer.wav")
    assert np.array_equal(answer, b64_pcm(deltas))  # drained to the end before exiting


API_KEY = "sk-test-" + "Zq4Kd9Lm2Xw7Pv3NcYb8Tf5Hr1"


@pytest.mark.parametrize(("key", "accepted"), [(API_KEY, True), ("sk-test-" + "Wr0ngKeyWr0ngKeyWr0ngKey", False)])
async def test_api_key_is_sent_as_bearer_and_never_shown(tmp_path: Path, key: str, accepted: bool) -> None:
    codec.write_wav(tmp_path / "question.wav", speech_like(0.2), RATE)
    script = Conversation().session().close(1000)
    async with serve_transcript(script.script, speed="max", strict=True, api_key=API_KEY) as server:
        code, out, err = await run_cli("--url", server.url, "--input", "question.wav", "--output", "answer.wav",
                                       "--record", "rec.jsonl", cwd=tmp_path, env=cli_env(tmp_path, OPENAI_API_KEY=key))
    assert key not in out + err + (tmp_path / "rec.jsonl").read_text()
    if accepted:
        assert code == 0, out + err
        assert [e["type"] for e in non_audio(server.received)] == ["session.update"]
    else:
        assert code == 1, out + err
        assert "error: the API key was rejected (HTTP 401). Check OPENAI_API_KEY." in err
        assert not server.sessions


async def test_unreachable_server_exits_1(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{free_port()}/v1/realtime"
    code, out, err = await run_cli("--url", url, "--text", "--output", "answer.wav", cwd=tmp_path)
    assert code == 1, out + err
    assert f"error: could not connect to {url}" in err and "connection refused" in err
    assert "Traceback" not in err


# -- 8. --text mode -------------------------------------------------------------------------


async def test_text_mode_sends_typed_lines_and_ends_with_input(tmp_path: Path) -> None:
    first, second = "What is the capital of Norway?", "And its population?"
    answers = ["Oslo is the capital of Norway.", "About seven hundred thousand people live in Oslo."]
    deltas = fixture_deltas("mcp_call.jsonl")[:2]
    script = Conversation().session()
    for n, answer in enumerate(answers, 1):
        script.expect("conversation.item.create").expect("response.create")
        script.answer(f"resp_T{n}", f"item_T{n}", deltas, answer)
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        code, out, err = await run_cli("--url", server.url, "--text", "--output", "answer.wav",
                                       "--record", "rec.jsonl", cwd=tmp_path, stdin=f"{first}\n\n{second}\n")
        assert not server.departures
    assert code == 0, out + err
    client = non_audio(server.received)
    assert [e["type"] for e in client] == ["session.update", *["conversation.item.create", "response.create"] * 2]
    for event, typed in zip(received_of(client, "conversation.item.create"), (first, second)):
        assert event["item"] == {"type": "message", "role": "user", "content": [{"type": "input_text", "text": typed}]}
    assert not received_of(server.received, "input_audio_buffer.append")  # no microphone in text mode
    _, _, local = recorded(tmp_path / "rec.jsonl")
    assert local == [{"type": "text.input", "text": first}, {"type": "text.input", "text": second},
                     {"type": "connection.closed", "code": 1000, "reason": "", "by": "client"}]
    for answer in answers:
        assert f"assistant ▸ {answer}\n" in out
    assert out.index(answers[0]) < out.index(answers[1])


async def test_text_mode_reports_a_drop_while_waiting_for_the_answer(tmp_path: Path) -> None:
    script = (Conversation().session().expect("conversation.item.create").expect("response.create")
              .response_created("resp_T1").close(1011, "boom"))
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        code, out, err = await run_cli("--url", server.url, "--text", "--output", "answer.wav", "--no-reconnect",
                                       cwd=tmp_path, stdin="Hello?\n")
        assert not server.departures
    assert code == 1, out + err
    assert "error: the server closed the connection with code 1011: boom" in err


# -- 9, 10. the offline demo; usage ------------------------------------------------------------


async def test_offline_demo_without_api_key(tmp_path: Path) -> None:
    demo = read_transcript(DEMO)
    code, out, err = await run_cli("--output", "demo.wav", cwd=tmp_path)
    assert code == 0, out + err
    assert "No OPENAI_API_KEY: running the offline demo" in out
    assert "? approval requested: github.create_repository(" in out
    assert "approve github.create_repository(" in out and "  ↳ create_repository: approved by person" in out
    answer = [e for e in demo.server_events() if e["type"] == "response.output_audio_transcript.done"][-1]
    assert f"assistant ▸ {answer['transcript']}\n" in out
    turns = sum(e["type"] == "response.done" for e in demo.server_events())
    assert "── summary ──" in out and f"turns: {turns}\n" in out
    assert "export OPENAI_API_KEY" in out
    speech, rate = codec.read_wav(tmp_path / "demo.wav")
    assert rate == RATE
    assert np.array_equal(speech, b64_pcm(all_deltas(demo.server_events())))
    assert len(speech) > RATE and np.sqrt(np.mean(speech.astype(np.float64) ** 2)) > 300  # seconds of speech


def test_closed_output_ends_the_cli_without_a_traceback(tmp_path: Path) -> None:
    reader, writer = os.pipe()
    os.close(reader)  # nobody reads the screen (`... | head` after head exited)
    try:
        proc = subprocess.run([sys.executable, "-m", "rtproto.run", "--output", "demo.wav"], cwd=tmp_path,
                              env=cli_env(tmp_path), stdin=subprocess.DEVNULL, stdout=writer,
                              stderr=subprocess.PIPE, timeout=LIMIT)
    finally:
        os.close(writer)
    assert proc.returncode == 1
    assert proc.stderr == b""


@pytest.mark.parametrize("args", [["--help"], ["talk", "--help"], ["serve", "--help"]])
async def test_help_exits_0(tmp_path: Path, args: list[str]) -> None:
    code, out, err = await run_cli(*args, cwd=tmp_path)
    assert code == 0, out + err
    assert out.startswith("usage: python -m rtproto.run")
    if args[0] == "talk":
        for flag in ("--input", "--output", "--text", "--mcp", "--allow", "--ask", "--function", "--record",
                     "--approval-timeout"):
            assert flag in out


@pytest.mark.parametrize(("args", "message"), [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--mcp", "badvalue"], "argument --mcp: expects LABEL=URL with an http(s) URL, got 'badvalue'"),
    (["--mcp", "github=ftp://example.com"], "argument --mcp: expects LABEL=URL with an http(s) URL"),
    (["--approval-timeout", "soon"], "argument --approval-timeout: expected a number of seconds, got 'soon'"),
    (["--approval-timeout", "-1"], "argument --approval-timeout: expected a positive number of seconds"),
    (["--approval-timeout", "nan"], "argument --approval-timeout: expected a positive number of seconds"),
    (["--url", "ws://[::1"], "argument --url: not a URL (Invalid IPv6 URL)"),
    (["--url", "ws://host:port/v1"], "argument --url: not a URL"),
    (["--url", "http://example.com/v1/realtime"], "argument --url: expected ws://HOST[:PORT]/PATH or wss://"),
    (["serve", "x.jsonl", "--port", "99999"], "argument --port: a port is 0 (any free one) to 65535, got 99999"),
    (["relay", "--port", "x"], "argument --port: expected a port number, got 'x'"),
])
async def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    code, out, err = await run_cli(*args, cwd=tmp_path)
    assert code == 2, out + err
    assert message in err
    assert "Traceback" not in err


# -- 11. the real CLI against `serve` of the same transcript --------------------------------------


@contextlib.asynccontextmanager
async def serving(fixture: str, cwd: Path) -> AsyncIterator[tuple[Cli, str]]:
    """``python -m rtproto.run serve FIXTURE --strict --speed max`` on a free port; yields it and its URL."""
    port = free_port()
    async with running("serve", str(FIXTURES / fixture), "--port", str(port), "--strict", "--speed", "max",
                       cwd=cwd) as serve:
        url = f"ws://127.0.0.1:{port}/v1/realtime"
        await serve.expect(f"listening on {url}")
        yield serve, url


@pytest.mark.parametrize(("fixture", "answer"), [
    ("mcp_call.jsonl", None),
    ("mcp_approval_approved.jsonl", "y"),
    ("mcp_approval_denied.jsonl", "n"),
    ("function_call.jsonl", None),
])
async def test_talk_replays_against_serve_of_the_same_transcript(tmp_path: Path, fixture: str,
                                                                  answer: str | None) -> None:
    codec.write_wav(tmp_path / "question.wav", fixture_user_audio(fixture), RATE)
    flags = ["--function", "cli_tools:get_weather"] if fixture == "function_call.jsonl" else policy_flags(fixture)
    async with serving(fixture, tmp_path) as (serve, url):
        async with running("--url", url, "--input", "question.wav", "--output", "answer.wav", *flags,
                           "--record", "rec.jsonl", cwd=tmp_path) as talk:
            if answer is not None:
                await talk.expect("? [y/N] ")
                talk.write(answer)
            await talk.expect(f"assistant ▸ {final_answer(fixture)}\n")
            await hang_up(talk)
        serve.interrupt()
        assert await serve.wait() == 0, serve.screen()
    assert "departure" not in serve.stderr, serve.stderr
    recording = read_transcript(FIXTURES / fixture)
    client, _, local = recorded(tmp_path / "rec.jsonl")
    assert [e["type"] for e in non_audio(client)] == [e["type"] for e in non_audio(recording.client_events())]
    answers = [e for e in local if e["type"] in ("approval.answer", "function.result")]
    expected = [e for e in recording.local_events() if e["type"] in ("approval.answer", "function.result")]
    assert [(e["type"], e.get("approve"), e.get("reason")) for e in answers] == \
        [(e["type"], e.get("approve"), e.get("reason")) for e in expected]
