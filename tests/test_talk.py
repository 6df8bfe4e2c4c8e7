"""Building a live session from flags and a TOML config: tools, MCP servers, the policy."""

from __future__ import annotations

import orjson
import pytest

from rtproto import events
from rtproto.errors import RtprotoError
from rtproto.talk import (TalkOptions, build_policy, build_session, function_tool, load_config, options_from,
                          parse_mcp)

CONFIG = """
model = "gpt-realtime-2"
voice = "marin"
approval_timeout = 12.5

[mcp.github]
url = "https://api.githubcopilot.com/mcp/"
token_env = "TEST_GITHUB_PAT"
allow = ["get_latest_release", "search_repositories"]
ask = ["create_repository"]
"""


def test_config_file_and_flags_merge(tmp_path):
    path = tmp_path / "rt.toml"
    path.write_text(CONFIG)
    opts = options_from(load_config(str(path)), {"voice": "cedar", "allow": ["list_issues"], "mcp": []})
    assert opts.model == "gpt-realtime-2" and opts.voice == "cedar" and opts.approval_timeout == 12.5
    assert [s.label for s in opts.mcp] == ["github"]
    policy = build_policy(opts)
    assert policy.decide("create_repository") == "ask"
    assert policy.decide("list_issues") == "allow" and policy.decide("get_latest_release") == "allow"
    assert policy.decide("delete_repository") == "ask"  # unnamed: asked, never allowed


def test_mcp_tool_carries_the_token_and_the_approval_filter(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_GITHUB_PAT", "ghp_" + "x" * 36)
    path = tmp_path / "rt.toml"
    path.write_text(CONFIG)
    opts = options_from(load_config(str(path)), {"mcp": []})
    session = build_session(opts, [])
    wire = orjson.loads(events.encode(events.SessionUpdate(session=session)))
    (tool,) = wire["session"]["tools"]
    assert tool["type"] == "mcp" and tool["server_label"] == "github"
    assert tool["authorization"] == "ghp_" + "x" * 36
    assert tool["allowed_tools"] == ["create_repository", "get_latest_release", "search_repositories"]
    assert tool["require_approval"] == {"always": {"tool_names": ["create_repository"]},
                                        "never": {"tool_names": ["get_latest_release", "search_repositories"]}}
    # What the session core would send decodes with our own model again.
    assert isinstance(events.decode_client(events.encode(events.SessionUpdate(session=session))), events.SessionUpdate)


def test_missing_token_variable_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_GITHUB_PAT", raising=False)
    opts = TalkOptions(mcp=[parse_mcp("github=https://api.githubcopilot.com/mcp/", "TEST_GITHUB_PAT")])
    with pytest.raises(RtprotoError, match="TEST_GITHUB_PAT is not set"):
        build_session(opts, [])


@pytest.mark.parametrize("spec", ["github", "=https://x", "github=ftp://x"])
def test_bad_mcp_spec(spec):
    with pytest.raises(RtprotoError, match="LABEL=URL"):
        parse_mcp(spec, None)


def test_bad_config_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("model = \n")
    with pytest.raises(RtprotoError, match="bad.toml"):
        load_config(str(path))
    path.write_text("colour = 'blue'\n")
    with pytest.raises(RtprotoError, match="unknown key 'colour'"):
        options_from(load_config(str(path)), {})


def get_weather(city: str, days: int = 1) -> dict:
    """The weather forecast for a city."""
    return {"city": city, "days": days}


def test_function_tool_schema_comes_from_the_signature():
    tool = function_tool("get_weather", get_weather)
    assert tool.type == "function" and tool.description == "The weather forecast for a city."
    assert tool.parameters == {"type": "object", "required": ["city"],
                               "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}


def test_without_lists_every_tool_is_asked():
    assert build_policy(TalkOptions()).decide("delete_repository") == "ask"
    session = build_session(TalkOptions(voice="marin"), [])
    assert session.audio.output.voice == "marin" and session.tools is events.UNSET


def test_unreadable_wav_files_are_clear_errors(tmp_path):
    from rtproto.talk import open_sink, open_source

    with pytest.raises(RtprotoError, match=r"--input .*missing\.wav: No such file"):
        open_source(TalkOptions(input=str(tmp_path / "missing.wav")))
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav file")
    with pytest.raises(RtprotoError, match=r"--input .*junk\.wav: .*not a readable PCM WAV"):
        open_source(TalkOptions(input=str(junk)))
    with pytest.raises(RtprotoError, match=r"--output .*nodir.*: No such file"):
        open_sink(TalkOptions(output=str(tmp_path / "nodir" / "out.wav")))


@pytest.mark.parametrize("text, message", [
    ("[mcp.github]\ntoken_env = 'X'\n", r"\[mcp.github\]: needs url"),
    ("allow = 'get_latest_release'\n", "allow must be a list of strings"),
])
def test_config_shapes_are_checked(tmp_path, text, message):
    path = tmp_path / "rt.toml"
    path.write_text(text)
    with pytest.raises(RtprotoError, match=message):
        options_from(load_config(str(path)), {"allow": ["x"], "mcp": []})


async def test_approvals_are_asked_one_at_a_time(tmp_path):
    """Two pending approvals: each typed answer goes to the question on screen."""
    import asyncio
    import os
    from types import SimpleNamespace

    from rtproto.stdin import StdinReader

    read_fd, write_fd = os.pipe()
    prompts: list[str] = []
    with os.fdopen(read_fd) as stream:
        reader = StdinReader(stream, prompt=prompts.append).start()
        first = asyncio.ensure_future(reader.approve(SimpleNamespace(server_label="gh", name="delete_repo", arguments="{}")))
        second = asyncio.ensure_future(reader.approve(SimpleNamespace(server_label="gh", name="list_issues", arguments="{}")))
        await asyncio.sleep(0.05)
        assert len(prompts) == 1 and "delete_repo" in prompts[0]  # the second waits its turn
        os.write(write_fd, b"n\n")
        assert await asyncio.wait_for(first, 5) == (False, "denied by user")
        await asyncio.sleep(0.05)
        assert len(prompts) == 2 and "list_issues" in prompts[1]
        os.write(write_fd, b"y\n")
        assert await asyncio.wait_for(second, 5) == (True, None)
        os.close(write_fd)


def test_cli_usage_and_file_errors(tmp_path):
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "rtproto.run", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)

    bad_speed = run("serve", "x.jsonl", "--speed", "fast")
    assert bad_speed.returncode == 2 and "expected 'max' or a number" in bad_speed.stderr
    missing = run("serve", str(tmp_path / "missing.jsonl"), "--port", "0")
    assert missing.returncode in (1, 2) and "missing.jsonl" in missing.stderr and "Traceback" not in missing.stderr
    fixture = str(__import__("pathlib").Path(__file__).parent / "fixtures" / "mcp_call.jsonl")
    unwritable = run("replay", fixture, "--audio-out", str(tmp_path / "nodir" / "a.wav"))
    assert unwritable.returncode == 1 and "nodir" in unwritable.stderr and "Traceback" not in unwritable.stderr


def test_every_option_but_mcp_has_a_checked_config_kind():
    from rtproto.talk import _CONFIG_KINDS

    assert set(_CONFIG_KINDS) == set(TalkOptions.__dataclass_fields__) - {"mcp", "mcp_local"}  # [mcp.LABEL] tables


@pytest.mark.parametrize("text, message", [
    ('approval_timeout = "soon"\n', "approval_timeout must be a positive number of seconds"),
    ("approval_timeout = -3\n", "approval_timeout must be a positive number of seconds"),
    ('url = "ws://[::1"\n', "url must be a ws:// or wss:// URL"),
    ("model = 5\n", "model must be a string"),
    ("mcp = 3\n", r"mcp must hold \[mcp.LABEL\] tables"),
    ("[mcp.x]\nurl = 5\n", r"\[mcp.x\]: needs url"),
    ("[mcp.x]\nurl = 'https://x'\nallow = 'a'\n", r"\[mcp.x\] allow must be a list of strings"),
    ('text = "yes"\n', "text must be true or false"),
])
def test_config_values_of_the_wrong_kind_are_usage_errors(tmp_path, text, message):
    from rtproto.errors import UsageError

    path = tmp_path / "rt.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        options_from(load_config(str(path)), {})


# -- local MCP servers: config, the offer and its policy ------------------------------

@pytest.mark.parametrize("table, message", [
    ('command = ["x"]\nurl = "http://127.0.0.1:1/mcp"', "not both"),
    ('url = "http://127.0.0.1:1/mcp"\nenv = { A = "b" }', "env and cwd go with command"),
    ('url = "http://127.0.0.1:1/mcp"\ntoken_env = "T"', "token_env is for a remote server"),
    ('url = "https://example.com/mcp"\nlocal = "yes"', "local must be true or false"),
    ('command = "python server.py"', "command must be a list of strings"),
    ('command = ["x"]\nenv = { A = 1 }', "env must be a table of strings"),
    ('command = ["x"]\nheaders = {}', "unknown key"),
])
def test_mcp_tables_that_cannot_mean_one_thing_are_usage_errors(tmp_path, table, message):
    from rtproto.errors import UsageError

    path = tmp_path / "rt.toml"
    path.write_text(f"[mcp.notes]\n{table}\n")
    with pytest.raises(UsageError, match=message):
        options_from(load_config(str(path)), {})


def test_mcp_tables_are_local_by_command_loopback_or_flag(tmp_path):
    path = tmp_path / "rt.toml"
    path.write_text('[mcp.a]\ncommand = ["python", "s.py"]\ncwd = "/srv"\n'
                    '[mcp.b]\nurl = "http://127.0.0.1:8000/mcp"\n'
                    '[mcp.c]\nurl = "http://tools.internal:8000/mcp"\nlocal = true\n'
                    '[mcp.d]\nurl = "https://mcp.example.com/"\n')
    opts = options_from(load_config(str(path)), {})
    assert [(s.label, s.command, s.url, s.cwd) for s in opts.mcp_local] == [
        ("a", ["python", "s.py"], None, "/srv"), ("b", None, "http://127.0.0.1:8000/mcp", None),
        ("c", None, "http://tools.internal:8000/mcp", None)]
    assert [s.label for s in opts.mcp] == ["d"]


def test_a_bad_mcp_local_flag_never_echoes_its_command_line():
    from rtproto.talk import parse_mcp_local

    with pytest.raises(RtprotoError) as err:
        parse_mcp_local("bad label=server --token s3cr3t-value")
    assert "s3cr3t" not in str(err.value) and "'bad label'" in str(err.value)
    assert parse_mcp_local("n=python s.py --flag 'a b'").command == ["python", "s.py", "--flag", "a b"]
    assert parse_mcp_local("n=http://127.0.0.1:9/mcp").url == "http://127.0.0.1:9/mcp"


def test_local_server_env_secrets_are_known_to_the_redactor():
    from rtproto.talk import LocalMcpServer, session_secrets

    opts = TalkOptions(mcp_local=[LocalMcpServer("db", command=["x"], env={
        "DB_URL": "postgres://app:pg-pass-123@db/x", "API_TOKEN": "tok-abc-987", "NOTES_DIR": "/home/me/notes"})])
    secrets = session_secrets(opts, None)
    text = secrets.raw_text("pg-pass-123 tok-abc-987 /home/me/notes")
    assert "pg-pass-123" not in text and "tok-abc-987" not in text and "/home/me/notes" in text


def _tool(label, name, read_only=False):
    from rtproto.mcp_local import LocalTool

    return LocalTool(label=label, name=name, function_name=name if label == "a" else f"{label}_{name}",
                     description="", parameters={"type": "object", "properties": {}}, read_only=read_only,
                     destructive=not read_only)


def test_local_tools_offered_named_ones_only_else_by_annotations():
    from rtproto.talk import LocalMcpServer, offer_local_tools

    tools = [_tool("a", "read", True), _tool("a", "write"), _tool("b", "read", True), _tool("b", "drop")]
    opts = TalkOptions(mcp_local=[LocalMcpServer("a", command=["x"]), LocalMcpServer("b", command=["y"], ask=["drop"])])
    offered, allow, ask = offer_local_tools(opts, tools)
    assert [t.function_name for t in offered] == ["read", "write", "b_drop"]  # b named one tool: only it
    assert allow == {"read"} and ask == {"write", "b_drop"}
    opts.allow = ["write"]  # a global name names the tools of every server
    offered, allow, ask = offer_local_tools(opts, tools)
    assert [t.function_name for t in offered] == ["write", "b_drop"] and allow == {"write"} and ask == {"b_drop"}


async def test_a_remote_servers_allow_list_never_reaches_a_local_tool():
    from rtproto.talk import McpServer, SessionTools

    opts = TalkOptions(mcp=[McpServer("gh", "https://example.com/mcp", allow=["delete_all"])],
                       functions=[])
    tools = SessionTools(opts, [("get_weather", lambda: None, None)])
    assert tools.reserved_names() == {"get_weather", "delete_all"}
