"""Local MCP servers as function tools, through the real CLI.

A real stdio MCP server (``tests/mcp_notes_server.py``, written with the MCP SDK's
own server API) runs as the CLI's child; the Realtime side is rtproto's local
server playing a scripted conversation in which the model calls the notes tools.
Every case checks what the server received, what the screen said and what the
transcript recorded.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from cli_harness import RATE, REPO, TESTS, Conversation, cli_env, non_audio, recorded, run_cli, running, speech_like
from rtproto import codec
from rtproto.testing import serve_transcript

pytest.importorskip("mcp")

NOTES_SERVER = f"{sys.executable} {TESTS / 'mcp_notes_server.py'}"


def call_turn(c: Conversation, n: int, name: str, arguments: dict) -> Conversation:
    """Response ``resp_N`` whose only output is a completed call of ``name``, streamed as the GA server does."""
    response_id, item_id, call_id = f"resp_{n}", f"item_{n}", f"call_{n}"
    args = json.dumps(arguments)
    item = {"id": item_id, "object": "realtime.item", "type": "function_call", "status": "in_progress",
            "name": name, "call_id": call_id, "arguments": ""}
    done = {**item, "status": "completed", "arguments": args}
    ids = {"response_id": response_id, "item_id": item_id, "output_index": 0, "call_id": call_id}
    return (c.response_created(response_id)
            .server("response.output_item.added", response_id=response_id, output_index=0, item=item)
            .server("conversation.item.added", item=item)
            .server("response.function_call_arguments.done", **ids, name=name, arguments=args)
            .server("response.output_item.done", response_id=response_id, output_index=0, item=done)
            .server("conversation.item.done", item=done)
            .response_done(response_id, [done]))


def answered(c: Conversation, n: int, text: str = "Done.") -> Conversation:
    """The client sends the call's output and one response.create; the model says ``text``."""
    c.expect("conversation.item.create").expect("response.create")
    item = {"id": f"item_{n}o", "object": "realtime.item", "type": "function_call_output", "call_id": f"call_{n}",
            "output": "?"}
    c.server("conversation.item.added", item=item).server("conversation.item.done", item=item)
    response_id, item_id = f"resp_{n}b", f"item_{n}b"
    return (c.response_created(response_id).message_started(response_id, item_id)
            .message_done(response_id, item_id, text))


def one_call(name: str, arguments: dict) -> Conversation:
    c = call_turn(Conversation().session(), 1, name, arguments)
    return answered(c, 1).close(1000)


def outputs(received: list[dict]) -> list[dict]:
    return [e["item"] for e in non_audio(received)
            if e["type"] == "conversation.item.create" and e["item"]["type"] == "function_call_output"]


def cli_args(server_url: str, *extra: str, flags: str = "") -> list[str]:
    # A local server gets a minimal environment (not the CLI's: no API key): its notes file comes by `env`.
    return ["--url", server_url, "--input", "question.wav", "--output", "answer.wav", "--record", "rec.jsonl",
            "--mcp-local", f"notes=env NOTES_FILE=notes.json {NOTES_SERVER} {flags}".strip(), "--mcp-log", "mcp.log",
            *extra]


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    codec.write_wav(tmp_path / "question.wav", speech_like(0.2), RATE)
    path = tmp_path / "notes.json"
    path.write_text(json.dumps({"shopping": "milk, eggs"}))
    return path


async def test_tools_are_offered_with_schemas_and_a_read_only_tool_runs_without_asking(tmp_path, notes):
    async with serve_transcript(one_call("read_note", {"title": "shopping"}).script, speed="max", strict=True) as server:
        code, out, err = await run_cli(*cli_args(server.url), cwd=tmp_path)
        assert code == 0, out + err
        assert not server.departures
    update = non_audio(server.received)[0]
    tools = {t["name"]: t for t in update["session"]["tools"]}
    assert set(tools) == {"read_note", "write_note", "list_notes"}
    assert tools["read_note"]["description"] == "Read the note with this title."
    assert tools["write_note"]["parameters"]["required"] == ["title", "text"]
    assert [o["output"] for o in outputs(server.received)] and "milk, eggs" in outputs(server.received)[0]["output"]
    assert "approve" not in out
    assert "⚙ function read_note" in out and "↳ read_note: " in out
    client, _, local = recorded(tmp_path / "rec.jsonl")
    assert [e["type"] for e in non_audio(client)] == ["session.update", "conversation.item.create", "response.create"]
    call = next(e for e in local if e["type"] == "tool.call")
    assert call == {"type": "tool.call", "call_id": "call_1", "name": "read_note", "server_label": "notes",
                    "tool": "read_note", "arguments": '{"title": "shopping"}'}
    # The server's own stderr went to the log, not over the conversation.
    assert "notes server up" in (tmp_path / "mcp.log").read_text()
    assert "notes server up" not in out + err


@pytest.mark.parametrize("answer, written", [("y", True), ("n", False)])
async def test_a_destructive_tool_is_asked_and_runs_only_after_a_yes(tmp_path, notes, answer, written):
    script = one_call("write_note", {"title": "todo", "text": "call mum"})
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        async with running(*cli_args(server.url), cwd=tmp_path) as cli:
            await cli.expect('? approval requested: notes.write_note({"title": "todo", "text": "call mum"})')
            await cli.expect('approve notes.write_note({"title": "todo", "text": "call mum"})? [y/N]')
            cli.write(answer)
            await cli.expect("assistant ▸ Done.")
            cli.close_stdin()
            assert await cli.wait() == 0, cli.screen()
        assert not server.departures
    [output] = outputs(server.received)
    stored = json.loads(notes.read_text())
    if written:
        assert stored["todo"] == "call mum" and "saved" in output["output"]
    else:
        assert "todo" not in stored
        assert json.loads(output["output"]) == {"error": "not run: the call was denied (denied by user)"}
    _, _, local = recorded(tmp_path / "rec.jsonl")
    assert [e["approve"] for e in local if e["type"] == "approval.answer"] == [written]
    assert any(e["type"] == "tool.call" for e in local) == written


async def test_an_unanswered_question_is_denied_at_the_timeout(tmp_path, notes):
    script = one_call("write_note", {"title": "todo", "text": "x"})
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        async with running(*cli_args(server.url, "--approval-timeout", "0.3"), cwd=tmp_path) as cli:
            await cli.expect("assistant ▸ Done.")  # nobody typed: the timeout answered
            cli.close_stdin()
            assert await cli.wait() == 0, cli.screen()
    [output] = outputs(server.received)
    assert json.loads(output["output"]) == {"error": "not run: the call was denied (timed out)"}
    assert "todo" not in json.loads(notes.read_text())


async def test_named_tools_only_are_offered_and_decided_as_named(tmp_path, notes):
    config = tmp_path / "talk.toml"
    config.write_text(f"[mcp.notes]\ncommand = {json.dumps(NOTES_SERVER.split())}\nallow = [\"write_note\"]\n"
                      '[mcp.notes.env]\nNOTES_FILE = "notes.json"\nNOTES_API_TOKEN = "tok-5ecret-99"\n')
    script = one_call("write_note", {"title": "todo", "text": "tok-5ecret-99"})
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        code, out, err = await run_cli("--url", server.url, "--input", "question.wav", "--output", "answer.wav", "--record",
                                       "rec.jsonl", "--config", str(config), "--mcp-log", "mcp.log", "-vv",
                                       cwd=tmp_path)
        assert code == 0, out + err
    tools = [t["name"] for t in non_audio(server.received)[0]["session"]["tools"]]
    assert tools == ["write_note"]  # the user named one tool: the others are not offered
    assert "approve" not in out  # allowed by name
    assert json.loads(notes.read_text())["todo"] == "tok-5ecret-99"
    # A token-like env value of a local server never shows, whatever echoes it.
    assert "tok-5ecret-99" not in out + err
    assert "tok-5ecret-99" not in (tmp_path / "rec.jsonl").read_text()
    assert "tok-5ecret-99" not in (tmp_path / "mcp.log").read_text()  # the servers' log too, at -vv


async def test_a_crashed_server_answers_with_an_error_and_the_conversation_goes_on(tmp_path, notes):
    c = call_turn(Conversation().session(), 1, "crash", {})
    c.expect("session.update")  # its tools are withdrawn
    c = answered(c, 1, "The tool crashed.")
    c = call_turn(c, 2, "list_notes", {})
    script = answered(c, 2, "Still here.").close(1000)
    async with serve_transcript(script.script, speed="max") as server:  # the update and the output may swap
        code, out, err = await run_cli(*cli_args(server.url, "--allow", "crash", flags="--crash-tool"), cwd=tmp_path)
        assert code == 0, out + err
    first, second = outputs(server.received)
    assert json.loads(first["output"]) == {"error": "the MCP server notes is not running"}
    assert json.loads(second["output"]) == {"error": "unknown function tool 'list_notes'"}  # withdrawn, not hung
    withdrawn = [e for e in non_audio(server.received) if e["type"] == "session.update"][-1]
    assert "tools" not in withdrawn["session"] or not withdrawn["session"]["tools"]
    assert [line for line in out.splitlines() if "stopped" in line] == [
        "warning: mcp server notes stopped (its connection closed); its tools are withdrawn (its stderr is in mcp.log)"]
    assert "assistant ▸ Still here." in out
    assert "notes server crashing on purpose" in (tmp_path / "mcp.log").read_text()
    assert "Traceback" not in out + err


async def test_a_hanging_tool_times_out_with_an_error_output(tmp_path, notes):
    script = one_call("hang", {})
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        code, out, err = await run_cli(*cli_args(server.url, "--allow", "hang", "--tool-timeout", "0.5",
                                                 flags="--hang-tool"), cwd=tmp_path)
        assert code == 0, out + err
    [output] = outputs(server.received)
    assert "timed out" in json.loads(output["output"])["error"]


async def test_a_server_that_fails_to_start_is_one_line_and_the_others_go_on(tmp_path, notes):
    script = one_call("read_note", {"title": "shopping"})
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        code, out, err = await run_cli(*cli_args(server.url, "--mcp-local", f"broken={NOTES_SERVER} --fail-start"),
                                       cwd=tmp_path)
        assert code == 0, out + err
    problem = [line for line in (out + err).splitlines() if "broken" in line and "local MCP servers:" not in line]
    assert len(problem) == 1, out + err
    assert "milk, eggs" in outputs(server.received)[0]["output"]


async def test_tools_list_changed_updates_the_session(tmp_path, notes):
    c = call_turn(Conversation().session(), 1, "add_tool", {"name": "greet"})
    c.expect("session.update")  # the new tool list: the bridge follows a change before it returns the result
    c = answered(c, 1)
    script = answered(call_turn(c, 2, "greet", {}), 2, "Greeted.").close(1000)
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        # add_tool has no annotations: it is asked about (y); the tool it adds is read-only: it runs.
        code, out, err = await run_cli(*cli_args(server.url, flags="--extra-tools"), stdin="y\n", cwd=tmp_path)
        assert code == 0, out + err
    updates = [e for e in non_audio(server.received) if e["type"] == "session.update"]
    assert len(updates) == 2
    assert "greet" not in {t["name"] for t in updates[0]["session"]["tools"]}
    assert "greet" in {t["name"] for t in updates[1]["session"]["tools"]}
    assert [o["output"] for o in outputs(server.received)] == ["added greet", "I am greet"]
    _, _, local = recorded(tmp_path / "rec.jsonl")
    [changed] = [e for e in local if e["type"] == "tools.changed"]
    assert "greet" in changed["function_tools"] and "greet" in changed["policy"]["allow"]
    code, out, err = await run_cli("replay", "rec.jsonl", cwd=tmp_path)  # the change is replayed, too
    assert code == 0 and "I am greet" in out, out + err
    code, out, err = await run_cli("check", "rec.jsonl", cwd=tmp_path)  # and check follows it
    assert code == 0, out + err


async def test_the_recording_replays_and_checks_clean(tmp_path, notes):
    script = one_call("write_note", {"title": "todo", "text": "x"})
    async with serve_transcript(script.script, speed="max", strict=True) as server:
        code, out, err = await run_cli(*cli_args(server.url), stdin="y\n", cwd=tmp_path)
        assert code == 0, out + err
    code, out, err = await run_cli("replay", "rec.jsonl", cwd=tmp_path)
    assert code == 0, out + err
    assert "write_note" in out and "approved" in out
    code, out, err = await run_cli("check", "rec.jsonl", cwd=tmp_path)
    assert code == 0, out + err


async def test_without_the_mcp_extra_it_is_one_line_before_anything_starts(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "mcp.py").write_text("raise ImportError('the mcp extra is not installed here')\n")
    env = cli_env(tmp_path, PYTHONPATH=os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", ""), str(REPO)]))
    code, out, err = await run_cli("--url", "ws://127.0.0.1:9/v1/realtime", "--text",
                                   "--mcp-local", f"notes={NOTES_SERVER}", cwd=tmp_path, env=env)
    assert code == 1
    assert err == "error: --mcp-local needs the mcp extra: pip install 'rtproto[mcp]'\n"
    assert "connecting" not in out


async def test_an_answer_to_a_question_of_a_lost_connection_never_answers_the_new_ones(tmp_path, notes):
    # The connection drops while "approve notes.write_note(...)?" is on screen; the new connection's
    # server asks again with the same call_id. The "y" typed for the question on screen is for the
    # lapsed one: the new question is answered only by its own timeout, and nothing is written.
    from rtproto.testing import Fault, after_server, serve_with_faults

    script = one_call("write_note", {"title": "todo", "text": "x"})
    faults = [[Fault.abort(when=after_server("response.done"))], []]
    async with serve_with_faults(script.script, faults_per_connection=faults, speed="max") as server:
        async with running(*cli_args(server.url, "--approval-timeout", "1"), cwd=tmp_path) as cli:
            await cli.expect("[resumed with 0 items]")
            cli.write("y")
            await cli.expect("assistant ▸ Done.")
            cli.close_stdin()
            assert await cli.wait() == 0, cli.screen()
    assert "warning: the approval request call_1 lapsed with its connection; its answer was not sent" in cli.stdout
    assert "todo" not in json.loads(notes.read_text())
    [output] = outputs(server.connections[1].session.received)
    assert json.loads(output["output"]) == {"error": "not run: the call was denied (timed out)"}


@pytest.mark.parametrize("log, why", [("nodir/mcp.log", "No such file or directory"), (".", "Is a directory")])
async def test_a_log_that_cannot_be_opened_is_one_line(tmp_path, log, why):
    code, out, err = await run_cli("--url", "ws://127.0.0.1:9/v1/realtime", "--text", "--no-reconnect",
                                   "--mcp-local", f"notes={NOTES_SERVER}", "--mcp-log", log, cwd=tmp_path)
    assert code == 1 and err == f"error: --mcp-log {log}: {why}\n", out + err
    assert not (tmp_path / "nodir").exists()  # a folder the user named is never made
