"""Faults x phases through the real CLI, against rtproto's fault-injecting server.

Each case runs ``python -m rtproto.run --text`` against :class:`rtproto.testing.FaultServer`
playing one typed turn with a spoken answer, with one fault on the first
connection at one phase of the conversation. For each: the exit code, what the
person sees (never a traceback), the transcript complete (every line JSON, the
close recorded last), the ``--output`` WAV valid, and whether the conversation
was resumed on a new connection.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cli_harness import Conversation, fixture_deltas, run_cli
from rtproto import codec
from rtproto.testing import Fault, after_client, after_server, serve_with_faults

pytestmark = pytest.mark.timeout(120)

ANSWER = "Oslo is the capital of Norway."

HANDSHAKE, IDLE, MID_RESPONSE, AFTER_REQUEST = "handshake", "idle", "mid-response", "after response.create"


def when(phase: str):
    return {IDLE: after_server("session.updated"), MID_RESPONSE: after_server("response.output_audio.delta"),
            AFTER_REQUEST: after_client("response.create")}.get(phase)


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
]


def script() -> Conversation:
    deltas = fixture_deltas("mcp_call.jsonl")[:3]
    # The server answers the client's response.create, on the first connection and on a resumed one.
    return Conversation().session().expect("response.create").answer("resp_1", "item_1", deltas, ANSWER).close(1000)


@pytest.mark.parametrize(("fault", "phase", "exit_code", "resumed", "shown"), MATRIX,
                         ids=[f"{i}-{row[1]}" for i, row in enumerate(MATRIX)])
async def test_fault_at_phase(tmp_path: Path, fault, phase: str, exit_code: int, resumed: bool, shown: str) -> None:
    faults = [[fault(when(phase))], []]
    async with serve_with_faults(script().script, faults_per_connection=faults, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--text", "--output", "a.wav", "--record", "rec.jsonl",
                                       cwd=tmp_path, stdin="What is the capital of Norway?\n")
    screen = out + err
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
    audio, rate = codec.read_wav(tmp_path / "a.wav")
    assert rate == 24000
