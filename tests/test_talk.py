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
    assert policy.decide("delete_repository") == "deny"


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


def test_no_policy_without_mcp_or_lists():
    assert build_policy(TalkOptions()) is None
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
