"""Faults x phases through the real CLI, against rtproto's fault-injecting server.

Each case runs ``python -m rtproto.run --text`` against :class:`rtproto.testing.FaultServer`
playing one typed turn with a spoken answer, with one fault on the first
connection at one phase of the conversation. For each: the exit code, what the
person sees (never a traceback), the transcript complete (every line JSON, the
close recorded last), the ``--output`` WAV valid, and whether the conversation
was resumed on a new connection.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
import pytest

from cli_harness import MEASURED_CLI, Conversation, cli_env, fixture_deltas, peak_rss_kib, run_cli
from rtproto import codec
from rtproto.testing import Fault, after_client, after_server, serve_with_faults

pytestmark = pytest.mark.timeout(120)

ANSWER = "Oslo is the capital of Norway."

HANDSHAKE, IDLE, MID_RESPONSE, AFTER_REQUEST = "handshake", "idle", "mid-response", "after response.create"
MID_APPROVAL, MID_TOOL = "mid-approval", "mid-tool"


def when(phase: str):
    return {IDLE: after_server("session.updated"), MID_RESPONSE: after_server("response.output_audio.delta"),
            AFTER_REQUEST: after_client("response.create"), MID_APPROVAL: after_server("conversation.item.added"),
            MID_TOOL: after_server("response.done")}.get(phase)


# (fault, phase) -> (exit code, resumed, what the person must see)
MATRIX = [
    (lambda w: Fault.refuse(500, "upstream down"), HANDSHAKE, 1, False, "HTTP 500"),
    (lambda w: Fault.refuse(401), HANDSHAKE, 1, False, "the API key was rejected"),
    (lambda w: Fault.close(1011, "boom", when=w), IDLE, 0, True, "connection lost: the server closed the connection "
                                                                "with code 1011: boom; reconnecting"),
    (lambda w: Fault.abort(when=w), MID_RESPONSE, 0, True, "the connection was lost without a close frame"),
    (lambda w: Fault.close(1012, "restart", when=w), AFTER_REQUEST, 0, True, "code 1012: restart"),
    (lambda w: Fault.invalid_utf8(when=w), MID_RESPONSE, 0, True, "not UTF-8"),
    (lambda w: Fault.session_expired(when=w), AFTER_REQUEST, 0, True, "session_expired"),
    (lambda w: Fault.binary(when=w), MID_RESPONSE, 0, False, "skipped a malformed server frame"),
    (lambda w: Fault.rate_limited(1.5, when=w), AFTER_REQUEST, 0, False, "rate_limit_exceeded"),
    (lambda w: Fault.insufficient_quota(when=w), AFTER_REQUEST, 1, False, "insufficient_quota"),
    (lambda w: Fault.abort(when=w), MID_APPROVAL, 0, True, "the connection was lost without a close frame"),
    (lambda w: Fault.close(1011, "tool time", when=w), MID_TOOL, 0, True, "code 1011: tool time"),
]


def script(phase: str) -> Conversation:
    """The server answers the client's response.create (on the first connection and on a resumed one), after an
    approval request (mid-approval) or a function call (mid-tool) when the phase needs one."""
    deltas = fixture_deltas("mcp_call.jsonl")[:3]
    conversation = Conversation().session().expect("response.create")
    if phase == MID_APPROVAL:
        request = {"id": "mcpr_A", "type": "mcp_approval_request", "server_label": "github", "name": "delete_repo",
                   "arguments": "{}"}
        (conversation.response_created("resp_0").server("conversation.item.added", item=request)
         .response_done("resp_0", [request]).expect("conversation.item.create").expect("response.create"))
    if phase == MID_TOOL:
        call = {"id": "fc_1", "type": "function_call", "status": "completed", "name": "get_weather",
                "call_id": "call_1", "arguments": '{"city": "Oslo"}'}
        (conversation.response_created("resp_0").server("response.output_item.done", response_id="resp_0",
                                                         output_index=0, item=call)
         .response_done("resp_0", [call]).expect("conversation.item.create").expect("response.create"))
    return conversation.answer("resp_1", "item_1", deltas, ANSWER).close(1000)


async def measured_cli(cwd: Path, url: str, *flags: str) -> tuple[int, str, str]:
    """The CLI in text mode, one typed line, a function tool; its exit code, stdout and stderr (peak RSS last)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", MEASURED_CLI, "--url", url, "--text", "--output", "a.wav", "--record", "rec.jsonl",
        "--function", "cli_tools:get_weather", *flags, cwd=cwd, env=cli_env(cwd), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(b"What is the capital of Norway?\n"), 90)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(("fault", "phase", "exit_code", "resumed", "shown"), MATRIX,
                         ids=[f"{i}-{row[1]}" for i, row in enumerate(MATRIX)])
async def test_fault_at_phase(tmp_path: Path, fault, phase: str, exit_code: int, resumed: bool, shown: str) -> None:
    faults = [[fault(when(phase))], []]
    async with serve_with_faults(script(phase).script, faults_per_connection=faults, speed="max") as server:
        code, out, err = await measured_cli(tmp_path, server.url)
    screen = out + err
    assert peak_rss_kib(err) < 200 * 1024  # memory bounded, whatever the fault
    assert code == exit_code, screen
    assert shown in screen, screen
    assert "Traceback" not in screen
    assert ("[resumed with" in out) == resumed, screen
    if phase == HANDSHAKE:
        return  # nothing was said, nothing was recorded beyond the header
    if exit_code == 0:
        assert f"assistant ▸ {ANSWER}" in out, screen
    lines = [orjson.loads(line) for line in (tmp_path / "rec.jsonl").read_bytes().splitlines()]
    locals_ = [line["event"]["type"] for line in lines[1:] if line["dir"] == "local"]
    assert locals_[-1] == "connection.closed"
    if resumed:
        assert locals_.index("connection.lost") < locals_.index("connection.resumed")
        code, report, err = await run_cli("check", "rec.jsonl", cwd=tmp_path)  # one conversation, read offline
        assert code in (0, 1) and "[misuse]" not in report and "Traceback" not in err, report + err
    audio, rate = codec.read_wav(tmp_path / "a.wav")
    assert rate == 24000


async def test_a_refusal_while_reconnecting_is_one_more_attempt(tmp_path: Path) -> None:
    faults = [[Fault.close(1011, "boom", when=when(IDLE))], [Fault.refuse(500, "restarting")], []]
    async with serve_with_faults(script(IDLE).script, faults_per_connection=faults, speed="max") as server:
        code, out, err = await measured_cli(tmp_path, server.url)
    assert code == 0, out + err
    assert "reconnecting 2/5" in out and "[resumed with" in out and f"assistant ▸ {ANSWER}" in out
    assert len(server.connections) == 3 and "Traceback" not in err
