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
