"""The offline ``replay`` command: the report, its JSON, and the audio it exports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rtproto import codec, timeline
from rtproto.report import build_report
from rtproto.transcript import read_transcript

FIXTURES = Path(__file__).parent / "fixtures"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rtproto.run", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})


def test_replay_prints_the_mcp_flow_and_summary(tmp_path):
    result = run_cli("replay", str(FIXTURES / "mcp_call.jsonl"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "github tools: create_repository, get_latest_release" in out
    assert '⚙ mcp github.get_latest_release({"owner":"openai","repo":"openai-python"})' in out
    assert '↳ get_latest_release: {"id":' in out
    assert "you ▸ What is the latest release of the OpenAI Python repository?" in out
    assert "assistant ▸ The latest release of OpenAI Python is version 3.51.0" in out
    assert "turns: 2" in out and "latency to first audio: 2:" in out
    # Every line of the conversation carries its recorded time, in order.
    times = [line.split()[0] for line in out.splitlines() if line[:2].isdigit()]
    assert times == sorted(times)


def test_replay_shows_approvals_and_timeouts(tmp_path):
    approved = run_cli("replay", str(FIXTURES / "mcp_approval_approved.jsonl"), cwd=tmp_path).stdout
    assert "? approval requested: github.create_repository(" in approved
    assert "create_repository: approved by person" in approved
    fixture = FIXTURES / "mcp_approval_timeout.jsonl"
    timed_out = run_cli("replay", str(fixture), cwd=tmp_path).stdout
    (answer,) = [e for e in read_transcript(fixture).local_events() if e["type"] == "approval.answer"]
    # A recording from before "by" reads the timeout as a person's answer; one with it, as a timeout.
    verdict = "denied (timed out)" if answer.get("by") == "timeout" else "denied by person (timed out)"
    assert f"create_repository: {verdict}\n" in timed_out


def test_replay_shows_a_timeout_as_a_timeout(tmp_path):
    lines = (FIXTURES / "mcp_approval_timeout.jsonl").read_text().splitlines(keepends=True)
    marked = []
    for line in lines:
        record = json.loads(line)
        if record.get("dir") == "local" and record["event"]["type"] == "approval.answer":
            record["event"]["by"] = "timeout"  # as the driver records a timeout now
            line = json.dumps(record) + "\n"
        marked.append(line)
    path = tmp_path / "timeout.jsonl"
    path.write_text("".join(marked))
    text = run_cli("replay", str(path), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "  ↳ create_repository: denied (timed out)\n" in text.stdout
    assert "by person" not in text.stdout
    report = json.loads(run_cli("replay", str(path), "--json", cwd=tmp_path).stdout)
    answered = [e for e in report["events"] if e["notice"] == "ApprovalAnswered"]
    assert [(e["name"], e["approve"], e["reason"], e["by"]) for e in answered] == \
        [("create_repository", False, "timed out", "timeout")]


def test_replay_shows_the_barge_in(tmp_path):
    out = run_cli("replay", str(FIXTURES / "barge_in.jsonl"), cwd=tmp_path).stdout
    assert "[interrupted: assistant audio cut at 1840 ms]" in out
    assert "[response cancelled: turn_detected]" in out


def test_json_report_matches_the_core(tmp_path):
    result = run_cli("replay", str(FIXTURES / "function_call.jsonl"), "--json", cwd=tmp_path)
    report = json.loads(result.stdout)
    kinds = [event["notice"] for event in report["events"]]
    assert kinds.index("ToolCall") < kinds.index("ToolResult")
    call = next(e for e in report["events"] if e["notice"] == "ToolCall")
    assert call["kind"] == "function" and call["name"] == "get_weather"
    expected = build_report(read_transcript(FIXTURES / "function_call.jsonl")).summary()
    assert report["summary"] == json.loads(json.dumps(expected))
    assert report["summary"]["tokens"]["total_tokens"] > 0


def test_audio_out_keeps_only_what_was_heard(tmp_path):
    transcript = read_transcript(FIXTURES / "barge_in.jsonl")
    out = tmp_path / "assistant.wav"
    user = tmp_path / "user.wav"
    result = run_cli("replay", str(FIXTURES / "barge_in.jsonl"), "--audio-out", str(out),
                     "--user-audio-out", str(user), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pcm, rate = codec.read_wav(out)
    assert rate == 24000
    received = _assistant_samples(transcript)
    cleared = next(e for e in transcript.local_events() if e["type"] == "playback.cleared")
    cut_item = cleared["item_id"]
    heard = sum(len(v) for k, v in received.items() if k != cut_item) + codec.ms_to_samples(cleared["played_ms"], rate)
    assert np.count_nonzero(pcm) <= heard <= len(pcm)
    assert sum(len(v) for v in received.values()) > heard  # the cut audio is gone
    user_pcm, user_rate = codec.read_wav(user)
    sent = sum(len(codec.b64_to_pcm16(e["audio"])) for e in transcript.client_events()
               if e["type"] == "input_audio_buffer.append")
    assert user_rate == 24000 and len(user_pcm) >= sent


def _assistant_samples(transcript):
    parts: dict[str, list] = {}
    for event in transcript.server_events():
        if event["type"] == "response.output_audio.delta":
            parts.setdefault(event["item_id"], []).append(codec.b64_to_pcm16(event["delta"]))
    return {k: np.concatenate(v) for k, v in parts.items()}


def test_lay_out_places_parts_at_their_times_without_overlap():
    rate = 1000  # one sample per ms keeps the arithmetic readable
    a = np.full(300, 1, np.int16)
    b = np.full(100, 2, np.int16)
    parts = [(0.0, "a", a[:150]), (10.0, "a", a[150:]), (100.0, "b", b), (1000.0, "c", b)]
    out = timeline.lay_out(parts, rate, {"b": 50.0})
    assert list(out[:300]) == [1] * 300          # a runs on without a gap
    assert list(out[300:350]) == [2] * 50         # b starts when a ends, cut at 50 ms
    assert not out[350:1000].any()                # silence until c arrives
    assert list(out[1000:1100]) == [2] * 100


def test_beta_transcripts_replay_through_translation(tmp_path):
    result = run_cli("replay", str(FIXTURES / "diff" / "beta_weather.jsonl"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "assistant ▸" in result.stdout and "turns: 4" in result.stdout
    assert "temperature: dropped (GA has no temperature)" in result.stdout


@pytest.mark.parametrize("content, message", [("not json\n", "transcript"), ("", "transcript")])
def test_a_bad_transcript_exits_2(tmp_path, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    result = run_cli("replay", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "error:" in result.stderr and "bad.jsonl" in result.stderr
