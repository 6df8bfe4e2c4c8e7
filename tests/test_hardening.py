"""The CLI tried as a hostile server, a careless user and a full disk would.

Each test runs the real ``python -m rtproto.run`` in a subprocess against a real
local Realtime server on 127.0.0.1 and checks what the person sees (stdout and
stderr), what the server received and what was recorded. Approvals on a
terminal run with a real pseudo-terminal as standard input.
"""

from __future__ import annotations

import asyncio
import os
import pty
import resource
import signal
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_harness import (
    MEASURED_CLI, RATE, Cli, Conversation, cli_env, fixture_deltas, peak_rss_kib, received_of, recorded, run_cli,
    running, speech_like,
)
from rtproto import actions, codec
from rtproto.console import Console, printable
from rtproto.testing import serve_transcript
from rtproto.transcript import RAW_FRAME_TYPE

pytestmark = pytest.mark.timeout(90)

# What a terminal obeys: C0/C1 controls and DEL (escape sequences start with ESC or CSI),
# bidirectional overrides; "\n" only ends the lines rtproto writes.
CONTROLS = {chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


def obeyed(text: str) -> set[str]:
    return {c for c in text if c in CONTROLS and c != "\n"}


def approval_item(item_id: str, name: str, arguments: str = "{}", label: str = "github") -> dict:
    return {"id": item_id, "object": "realtime.item", "type": "mcp_approval_request", "server_label": label,
            "name": name, "arguments": arguments}


def ask_for(script: Conversation, item_id: str, name: str, after_ms: float = 0.0, **fields: str) -> Conversation:
    """The server puts an approval request in the conversation; the client answers it and asks to go on,
    and the server's (empty) response follows."""
    (script.server("conversation.item.added", after_ms=after_ms, item=approval_item(item_id, name, **fields))
     .expect("conversation.item.create").expect("response.create"))
    return script.response_created(f"resp_{item_id}").response_done(f"resp_{item_id}", [])


def answers(received: list[dict]) -> dict[str, tuple[bool, str | None]]:
    return {e["item"]["approval_request_id"]: (e["item"]["approve"], e["item"].get("reason"))
            for e in received_of(received, "conversation.item.create") if e["item"]["type"] == "mcp_approval_response"}


class TerminalCli(Cli):
    """The CLI with a pseudo-terminal as standard input: typed lines, as a person types them."""

    @classmethod
    async def start_on_terminal(cls, *args: str, cwd: Path) -> TerminalCli:
        controller, terminal = pty.openpty()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rtproto.run", *args, cwd=cwd, env=cli_env(cwd),
            stdin=terminal, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        os.close(terminal)
        cli = cls(proc)
        cli.controller = controller
        return cli

    def write(self, line: str) -> None:
        os.write(self.controller, line.encode() + b"\n")

    async def kill(self) -> None:
        await super().kill()
        os.close(self.controller)


# -- approvals -------------------------------------------------------------------------------


async def test_a_late_answer_on_a_terminal_never_approves_the_next_request(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    script = Conversation().session()
    ask_for(script, "mcpr_A", "create_repository")
    ask_for(script, "mcpr_B", "delete_repository", after_ms=3000, arguments='{"name":"prod-db"}')
    script.close(1000)
    async with serve_transcript(script.script, speed=1.0) as server:
        cli = await TerminalCli.start_on_terminal("--url", server.url, "--input", "q.wav", "--output", "a.wav",
                                                  "--ask", "create_repository", "--approval-timeout", "1",
                                                  "--record", "rec.jsonl", cwd=tmp_path)
        try:
            await cli.expect("  ↳ create_repository: denied (timed out)")
            cli.write("y")  # meant for the question that is gone
            await cli.expect("[ignored a line typed before a question was shown")
            await cli.expect('approve github.delete_repository({"name":"prod-db"})? [y/N] ')
            cli.write("n")
            await cli.expect("  ↳ delete_repository: denied by person (denied by user)")
            assert await cli.wait() == 0, cli.screen()
        finally:
            await cli.kill()
    assert answers(server.received) == {"mcpr_A": (False, "timed out"), "mcpr_B": (False, "denied by user")}
    _, _, local = recorded(tmp_path / "rec.jsonl")
    assert [e.get("approve") for e in local if e["type"] == "approval.answer"] == [False, False]


async def test_piped_answers_are_a_script_one_per_question(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    script = Conversation().session()
    ask_for(script, "mcpr_A", "create_repository")
    ask_for(script, "mcpr_B", "list_issues").close(1000)
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--input", "q.wav", "--output", "a.wav",
                                       cwd=tmp_path, stdin="n\n\ny\n")
    assert code == 0, out + err
    assert answers(server.received) == {"mcpr_A": (False, "denied by user"), "mcpr_B": (True, None)}


async def test_a_queued_question_gets_its_whole_timeout_from_when_it_is_shown(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    script = Conversation().session()
    script.server("conversation.item.added", item=approval_item("mcpr_A", "create_repository"))
    script.server("conversation.item.added", item=approval_item("mcpr_B", "delete_repository"))
    script.expect("conversation.item.create").expect("conversation.item.create").expect("response.create")
    script.response_created("resp_1").response_done("resp_1", []).close(1000)
    async with serve_transcript(script.script, speed="max") as server:
        async with running("--url", server.url, "--input", "q.wav", "--output", "a.wav", "--approval-timeout", "1.5",
                           "--record", "rec.jsonl", cwd=tmp_path) as cli:  # stdin open and silent
            assert await cli.wait() == 0, cli.screen()
    assert answers(server.received) == {"mcpr_A": (False, "timed out"), "mcpr_B": (False, "timed out")}
    lines = [orjson.loads(line) for line in (tmp_path / "rec.jsonl").read_bytes().splitlines()[1:]]
    timed_out = [line["t"] for line in lines if line["event"]["type"] == "approval.answer"]
    assert timed_out[1] - timed_out[0] >= 1500 - 1  # the second question's clock started when it was shown
    assert cli.stdout.count("approve github.") == 2


@pytest.mark.parametrize("flags", [[], ["--mcp", "github=https://api.githubcopilot.com/mcp/"]],
                         ids=["no-flags", "mcp-without-lists"])
async def test_without_allow_every_request_is_asked_and_nothing_is_approved(tmp_path: Path, flags: list[str]) -> None:
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    script = Conversation().session()
    ask_for(script, "mcpr_A", "delete_repository").close(1000)
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--input", "q.wav", "--output", "a.wav", *flags,
                                       cwd=tmp_path, stdin="")
    assert code == 0, out + err
    assert "approve github.delete_repository({})? [y/N] " in out  # asked ...
    assert answers(server.received) == {"mcpr_A": (False, "end of input")}  # ... and no one said yes
    update = received_of(server.received, "session.update")[0]["session"]
    for tool in update.get("tools", []):
        assert tool["require_approval"] == "always"


async def test_an_mcp_call_of_a_tool_nobody_approved_is_a_violation_and_cancelled(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    call = {"id": "mcp_X", "object": "realtime.item", "type": "mcp_call", "server_label": "github",
            "name": "delete_repository", "arguments": "{}"}
    script = (Conversation().session().response_created("resp_V")
              .server("response.output_item.added", response_id="resp_V", output_index=0, item=call)
              .expect("response.cancel").close(1000))
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--input", "q.wav", "--output", "a.wav",
                                       "--ask", "delete_repository", cwd=tmp_path)
    assert code == 0, out + err
    assert "policy: MCP tool 'delete_repository' of server 'github' ran without a person's yes" in out
    assert [e["response_id"] for e in received_of(server.received, "response.cancel")] == ["resp_V"]


# -- what the server says is shown as text ----------------------------------------------------

HIDING = '{"name":"prod-db","delete_all":true}\r\x1b[2K\x1b[1A\x1b[2K{"name":"test"}'


async def test_server_text_never_drives_the_terminal(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    deltas = fixture_deltas("mcp_call.jsonl")[:1]
    script = Conversation().session()
    ask_for(script, "mcpr_A", "delete\x1b]0;owned\x07_repository", arguments=HIDING, label="git\x9bhub")
    script.server("error", error={"type": "invalid_request_error", "code": "x\x1b[31m",
                                  "message": "bad\r\x1b[2Kall good", "event_id": None})
    script.answer("resp_1", "item_1", deltas, "Done\x1b[2J\x1b[H. \u202eevil")
    script.close(1011, "bye\x1b[2K\r")
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--input", "q.wav", "--output", "a.wav", "--no-reconnect",
                                       cwd=tmp_path, stdin="n\n")
    assert code == 1, out + err
    assert obeyed(out) == set() and obeyed(err) == set()
    assert '{"name":"prod-db","delete_all":true}\\r\\x1b[2K\\x1b[1A' in out  # the real arguments, visibly
    assert "assistant ▸ Done\\x1b[2J\\x1b[H. \\u202eevil" in out
    assert "bad\\r\\x1b[2Kall good" in out
    assert "code 1011: bye\\x1b[2K\\r" in err
    assert answers(server.received)["mcpr_A"] == (False, "denied by user")


NOTICE_FIELDS = st.text(st.characters(codec=None), max_size=60)


@settings(max_examples=300, deadline=None)
@given(strings=st.lists(NOTICE_FIELDS, min_size=8, max_size=8))
def test_no_server_string_reaches_the_terminal_as_control(strings: list[str]) -> None:
    import io
    from types import SimpleNamespace

    out = io.StringIO()
    console = Console(out=out, color=True)
    a, b, c, d, e, f, g, h = strings
    request = SimpleNamespace(id="x", server_label=a, name=b, arguments=c)
    notices = [
        actions.TranscriptDelta("assistant", "item_1", d), actions.TranscriptDelta("assistant", "item_1", e),
        actions.TranscriptDone("assistant", "item_1", d + e), actions.TranscriptDone("user", "item_2", f),
        actions.ToolCall("mcp", "i", None, a, b, c), actions.ToolResult("mcp", "i", None, b, g, None),
        actions.ApprovalRequested(request), actions.ServerError(f, g, h, None, None),
        actions.PolicyViolation(h, "i", b), actions.ProtocolViolation(g),
    ]
    for notice in notices:
        console.show(notice)
    console.prompt(f"approve {a}.{b}({c})? [y/N] ")
    console.warn(h)
    shown = out.getvalue()
    # Only rtproto's own colour codes, each a complete SGR sequence.
    bare = shown.replace("\x1b[0m", "")
    for code in ("36", "32", "35", "33", "31", "2"):
        bare = bare.replace(f"\x1b[{code}m", "")
    assert obeyed(bare) == set()


@given(st.text(st.characters(codec=None)))
def test_printable_shows_every_character_and_obeys_none(text: str) -> None:
    shown = printable(text, None)
    assert obeyed(shown) == set() and "\n" not in shown
    if not any(c in CONTROLS or c in "\u2028\u2029\u200e\u200f\u061c" for c in text):
        assert shown == text


def test_over_long_values_are_cut_with_a_marker() -> None:
    assert printable("x" * 5000, 100) == "x" * 100 + "… (cut: 5000 chars)"


# -- secrets ------------------------------------------------------------------------------------

API_KEY = "sk-proj-" + "Hk29dLq0ZxV7bN3mWc5tRf8y"
MCP_TOKEN = "tok42"  # short, and like no known token pattern
URL_PASSWORD = "hunter2pw"
QUERY_KEY = "qk-7f3e9a"


async def test_secrets_echoed_by_the_server_never_reach_screen_logs_or_transcript(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    echo = f"key {API_KEY} token {MCP_TOKEN} password {URL_PASSWORD} query {QUERY_KEY}"
    deltas = fixture_deltas("mcp_call.jsonl")[:1]
    script = Conversation().session()
    script.server("error", error={"type": "invalid_request_error", "code": None, "message": echo, "event_id": None})
    script.answer("resp_1", "item_1", deltas, f"Your token is {MCP_TOKEN}. Key {API_KEY}")
    script.raw(f"not json {echo}")
    script.close(1011, f"{MCP_TOKEN} {URL_PASSWORD}")
    async with serve_transcript(script.script, speed="max") as server:
        port = server.url.split(":")[2].split("/")[0]
        url = f"ws://alice:{URL_PASSWORD}@127.0.0.1:{port}/v1/realtime?api-key={QUERY_KEY}"
        code, out, err = await run_cli(
            "--url", url, "--input", "q.wav", "--output", "a.wav", "--record", "rec.jsonl", "-vv", "--no-reconnect",
            "--mcp", "github=https://api.githubcopilot.com/mcp/", "--mcp-token-env", "GH_TOKEN",
            cwd=tmp_path, env=cli_env(tmp_path, OPENAI_API_KEY=API_KEY, GH_TOKEN=MCP_TOKEN))
    assert code == 1, out + err
    assert "[redacted]" in out and "[redacted]" in err
    everything = out + err + (tmp_path / "rec.jsonl").read_text()
    for secret in (API_KEY, MCP_TOKEN, URL_PASSWORD, QUERY_KEY):
        assert secret not in everything, secret
    assert "connecting to ws://[redacted]@127.0.0.1:" in out
    assert "INFO" in err or "DEBUG" in err  # the -vv log was written, and scrubbed


# -- bad input, files and signals -----------------------------------------------------------------


async def test_bytes_that_are_not_utf8_are_typed_text_not_a_crash(tmp_path: Path) -> None:
    script = (Conversation().session().expect("conversation.item.create").expect("response.create")
              .answer("resp_1", "item_1", fixture_deltas("mcp_call.jsonl")[:1], "Fine.").close(1000))
    async with serve_transcript(script.script, speed="max") as server:
        async with running("--url", server.url, "--text", "--output", "a.wav", cwd=tmp_path) as cli:
            cli.proc.stdin.write(b"caf\xe9 \xff\xfe ok\n")
            cli.close_stdin()
            code = await cli.wait()
    assert code == 0, cli.screen()
    assert "Traceback" not in cli.stderr
    item = received_of(server.received, "conversation.item.create")[0]["item"]
    assert item["content"][0]["text"] == "caf\ufffd \ufffd\ufffd ok"


async def test_a_record_path_in_a_missing_directory_is_one_line_and_leaves_no_files(tmp_path: Path) -> None:
    code, out, err = await run_cli("--url", "ws://127.0.0.1:9/v1/realtime", "--text", "--output", "a.wav",
                                   "--record", "nodir/rec.jsonl", cwd=tmp_path)
    assert code == 1, out + err
    assert err == "error: --record nodir/rec.jsonl: no such directory\n"
    assert not (tmp_path / "a.wav").exists()


async def test_a_config_value_of_the_wrong_kind_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "rt.toml").write_text("model = 5\n")
    code, out, err = await run_cli("--config", "rt.toml", "--text", cwd=tmp_path)
    assert (code, err) == (2, "error: config: model must be a string, got 5\n"), out + err


@pytest.mark.parametrize(("sig", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
async def test_sigterm_and_sighup_end_like_ctrl_c(tmp_path: Path, sig: int, exit_code: int) -> None:
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    deltas = fixture_deltas("mcp_call.jsonl")[:2]
    script = Conversation().session().answer("resp_1", "item_1", deltas, "Listening.")
    async with serve_transcript(script.script, speed="max") as server:
        async with running("--url", server.url, "--input", "q.wav", "--output", "a.wav", "--record", "rec.jsonl",
                           cwd=tmp_path) as cli:
            await cli.expect("assistant ▸ Listening.\n")
            cli.proc.send_signal(sig)
            code = await cli.wait()
    assert code == exit_code, cli.screen()
    assert "Traceback" not in cli.stderr and cli.stderr == ""
    assert "── summary ──" in cli.stdout
    _, _, local = recorded(tmp_path / "rec.jsonl")
    assert local[-1] == {"type": "connection.closed", "code": 1000, "reason": "", "by": "client"}
    audio, rate = codec.read_wav(tmp_path / "a.wav")
    assert rate == RATE and len(audio) > 0


async def test_a_full_disk_stops_the_recording_cleanly_and_the_conversation_goes_on(tmp_path: Path) -> None:
    limit = 64 * 1024
    big = "word " * 20000  # one frame of 100 KB: the transcript cannot hold it
    script = (Conversation().session().expect("conversation.item.create").expect("response.create")
              .response_created("resp_1").message_started("resp_1", "item_1"))
    ids = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
    script.server("response.output_audio_transcript.delta", **ids, delta=big)
    script.message_done("resp_1", "item_1", "Still here.").close(1000)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    async with serve_transcript(script.script, speed="max") as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rtproto.run", "--url", server.url, "--text", "--output", "a.wav",
            "--record", "rec.jsonl", cwd=tmp_path, env=cli_env(tmp_path), preexec_fn=small_files,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(b"Hello?\n"), 60)
    out, err = out.decode(), err.decode()
    assert proc.returncode == 0, out + err
    assert "recording to rec.jsonl stopped: File too large" in out
    assert "Traceback" not in err
    assert "assistant ▸ " in out and "── summary ──" in out
    data = (tmp_path / "rec.jsonl").read_bytes()
    assert data.endswith(b"\n") and len(data) <= limit
    assert all(isinstance(orjson.loads(line), dict) for line in data.splitlines())


async def test_a_frame_without_a_type_is_recorded_raw_and_the_tools_still_read_the_file(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    script = Conversation().session()
    script.script.server({"no": "type"})
    script.close(1000)
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--input", "q.wav", "--output", "a.wav",
                                       "--record", "rec.jsonl", cwd=tmp_path)
    assert code == 0, out + err
    _, server_events, _ = recorded(tmp_path / "rec.jsonl")
    assert {"type": RAW_FRAME_TYPE, "raw": '{"no":"type"}'} in server_events
    for command in (["check", "rec.jsonl"], ["replay", "rec.jsonl"], ["diff", "rec.jsonl", "rec.jsonl"]):
        code, out, err = await run_cli(*command, cwd=tmp_path)
        assert code in (0, 1) and "Traceback" not in err, (command, out, err)


@pytest.mark.parametrize("rate", [0, 1, 10**9, -24000])
async def test_an_output_rate_the_client_cannot_play_is_a_notice_not_a_crash(tmp_path: Path, rate: int) -> None:
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    deltas = fixture_deltas("mcp_call.jsonl")[:2]
    bad = {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm", "rate": rate}}}}
    script = (Conversation().session().server("session.updated", session=bad)
              .answer("resp_1", "item_1", deltas, "Still speaking.").close(1000))
    async with serve_transcript(script.script, speed="max") as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", MEASURED_CLI, "--url", server.url, "--input", "q.wav", "--output", "a.wav",
            cwd=tmp_path, env=cli_env(tmp_path), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = (data.decode() for data in await asyncio.wait_for(proc.communicate(), 60))
        code = proc.returncode
    assert code == 0, out + err
    assert (f"protocol: session.updated: an output audio format the client cannot play (audio/pcm at {rate} Hz); "
            "keeping the previous one") in out
    assert "Traceback" not in err
    answer, _ = codec.read_wav(tmp_path / "a.wav")
    assert len(answer) == sum(len(codec.b64_to_pcm16(d)) for d in deltas)  # played at the format it had
    assert peak_rss_kib(err) < 200 * 1024  # the bug took gigabytes
