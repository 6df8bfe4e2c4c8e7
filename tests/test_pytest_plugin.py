"""The pytest plugin (rtproto.pytest_plugin), run on inner test files through pytester.

Inner runs load the plugin with ``-p rtproto.pytest_plugin`` (so they work before the
``pytest11`` entry point is installed) and talk to the served transcript over real
sockets on 127.0.0.1: rtproto's transport, and the official SDK's async and sync clients.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rtproto.pytest_plugin import (
    RECORD_MODES,
    RecordingUnavailable,
    _LoopThread,
    _record_live,
    choose_action,
    transcript_path,
)
from rtproto.server import RealtimeServer
from rtproto.testing import ScriptBuilder
from rtproto.transcript import read_transcript

pytest_plugins = ["pytester"]

# Imported here so in-process inner runs, which drop modules they import, reuse it.
openai = pytest.importorskip("openai")

# Hypothesis's plugin imports all of hypothesis in every in-process inner run (about 1.5 s); none needs it.
PLUGIN = ("-p", "rtproto.pytest_plugin", "-p", "no:hypothesispytest")
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


def capital_transcript() -> ScriptBuilder:
    """A text question and answer as the GA server plays it (the README's transcript)."""
    return (
        ScriptBuilder(model="gpt-realtime")
        .server("session.created", event_id="event_1", session={"type": "realtime", "model": "gpt-realtime"})
        .expect_client("session.update")
        .server("session.updated", event_id="event_2", session={"type": "realtime", "output_modalities": ["text"]})
        .expect_client("conversation.item.create")
        .server(
            "conversation.item.added",
            event_id="event_3",
            item={"id": "item_1", "type": "message", "role": "user", "content": []},
        )
        .expect_client("response.create")
        .server("response.created", event_id="event_4", response={"id": "resp_1", "status": "in_progress"})
        .server(
            "response.output_text.delta",
            event_id="event_5",
            response_id="resp_1",
            item_id="item_2",
            output_index=0,
            content_index=0,
            delta="Paris",
        )
        .server(
            "response.output_text.delta",
            event_id="event_6",
            response_id="resp_1",
            item_id="item_2",
            output_index=0,
            content_index=0,
            delta=".",
        )
        .server("response.done", event_id="event_7", response={"id": "resp_1", "status": "completed"})
    )


# The README's example, verbatim: a small app on the official SDK and its offline test.
APP = '''\
from openai import AsyncOpenAI


async def ask(client: AsyncOpenAI, question: str) -> str:
    """Ask the model by text; return the text of its answer."""
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": question}]}
        )
        await conn.response.create()
        answer = []
        async for event in conn:
            if event.type == "response.output_text.delta":
                answer.append(event.delta)
            elif event.type == "response.done":
                return "".join(answer)
    raise RuntimeError("the connection closed before the answer was done")
'''

TEST_APP = '''\
import os

import pytest
from openai import AsyncOpenAI

from app import ask


@pytest.mark.realtime_transcript("transcripts/capital.jsonl")
async def test_ask_returns_the_answer(realtime_server):
    key = os.environ.get("OPENAI_API_KEY", "sk-offline")  # the local server takes any key
    client = AsyncOpenAI(api_key=key, websocket_base_url=realtime_server.base_url)

    assert await ask(client, "What is the capital of France?") == "Paris."

    realtime_server.assert_sent("conversation.item.create", count=1)
    realtime_server.assert_sent("response.create", count=1)
    realtime_server.assert_no_departures()
'''


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester folder with asyncio_mode=auto and the README's transcript at transcripts/capital.jsonl."""
    pytester.makeini(INI)
    save(pytester.path / "transcripts" / "capital.jsonl")
    return pytester


def save(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    capital_transcript().save(path)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*PLUGIN, *args)


# ---------------------------------------------------------------------------
# Playing a transcript to real clients


def test_readme_example_runs_offline_with_the_official_sdk(inner):
    inner.makepyfile(app=APP, test_app=TEST_APP)

    run(inner).assert_outcomes(passed=1)
    run(inner, "--realtime-strict").assert_outcomes(passed=1)


RTPROTO_AND_SYNC_SDK = '''
import openai
import pytest
from rtproto import events
from rtproto.transport import connect, iter_events

MARK = pytest.mark.realtime_transcript("transcripts/capital.jsonl")


@MARK
async def test_rtproto_transport(realtime_server):
    assert realtime_server.url.startswith("ws://127.0.0.1:") and realtime_server.url.endswith("/v1/realtime")
    seen = []
    async with connect(realtime_server.url, api_key="sk-offline") as conn:
        await conn.send(events.encode(events.SessionUpdate(session=events.RealtimeSession(type="realtime"))))
        await conn.send(b'{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[]}}')
        await conn.send(events.encode(events.ResponseCreate()))
        async for raw, event in iter_events(conn):
            seen.append(event.type)
            if event.type == "response.done":
                break
    assert seen[0] == "session.created" and seen[-1] == "response.done"
    assert realtime_server.sent_types() == ["session.update", "conversation.item.create", "response.create"]
    realtime_server.assert_no_departures()


@MARK
def test_official_sdk_sync_client(realtime_server):
    client = openai.OpenAI(api_key="sk-offline", websocket_base_url=realtime_server.base_url)
    with client.realtime.connect(model="gpt-realtime") as conn:
        conn.session.update(session={"type": "realtime"})
        conn.conversation.item.create(item={"type": "message", "role": "user", "content": []})
        conn.response.create()
        types = []
        for event in conn:
            types.append(event.type)
            if event.type == "response.done":
                break
    assert types[0] == "session.created" and types.count("response.output_text.delta") == 2
    assert realtime_server.sessions[0].path == "/v1/realtime?model=gpt-realtime"
    realtime_server.assert_sent("response.create")


@MARK
def test_assert_sent_fails_with_what_was_sent(realtime_server):
    client = openai.OpenAI(api_key="sk-offline", websocket_base_url=realtime_server.base_url)
    with client.realtime.connect(model="gpt-realtime") as conn:
        conn.session.update(session={"type": "realtime"})
        conn.recv()
    realtime_server.assert_sent("response.create")
'''


def test_rtproto_transport_and_the_sync_sdk_client_play_the_transcript(inner):
    inner.makepyfile(test_clients=RTPROTO_AND_SYNC_SDK)

    result = run(inner)

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*expected at least one 'response.create' from the client, got 0; it sent [[]session.update[]]*"])


# ---------------------------------------------------------------------------
# Strict mode

DEPARTS = '''
import pytest
from rtproto.transport import connect

async def depart(url):
    async with connect(url, api_key="sk-offline") as conn:
        await conn.send(b'{"type":"response.cancel"}')     # the recording expects session.update first


@pytest.mark.realtime_transcript("transcripts/capital.jsonl")
async def test_departs(realtime_server):
    await depart(realtime_server.url)


@pytest.mark.realtime_transcript("transcripts/capital.jsonl", strict=True)
async def test_departs_under_a_strict_marker(realtime_server):
    await depart(realtime_server.url)


@pytest.mark.realtime_transcript("transcripts/capital.jsonl")
async def test_departs_and_asserts(realtime_server):
    await depart(realtime_server.url)
    realtime_server.assert_no_departures()
'''


def test_strict_mode_fails_a_test_whose_client_departs(inner):
    inner.makepyfile(test_departs=DEPARTS)

    lenient = run(inner)
    strict = run(inner, "--realtime-strict")

    lenient.assert_outcomes(passed=1, failed=2)  # the strict marker and assert_no_departures fail it
    strict.assert_outcomes(failed=3)
    strict.stdout.fnmatch_lines(
        [
            "*client frames departed from the realtime transcript *capital.jsonl:*",
            "*departure at client event 0: expected session.update, got response.cancel*",
        ]
    )
    assert "FAILED test_departs.py::test_departs " in strict.stdout.str()


# ---------------------------------------------------------------------------
# Finding the transcript

MISSING = '''
import pytest

@pytest.mark.realtime_transcript("transcripts/never_recorded.jsonl")
def test_needs_a_recording(realtime_server):
    pass
'''


def test_mode_none_with_a_missing_file_fails_naming_the_file_and_the_mode(inner, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-present-but-mode-none-never-records")
    inner.makepyfile(test_missing=MISSING)

    result = run(inner)

    result.assert_outcomes(errors=1)
    missing = inner.path / "transcripts" / "never_recorded.jsonl"
    result.stdout.fnmatch_lines(
        [
            f"*realtime transcript not found: {missing}*",
            "*record mode 'none' only plays existing transcripts*--realtime-record-mode=once*",
        ]
    )
    assert not missing.exists()


def test_recording_without_a_key_or_without_the_relay_fails_clearly(inner, monkeypatch):
    inner.makepyfile(test_missing=MISSING)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    no_key = run(inner, "--realtime-record-mode=once")

    no_key.assert_outcomes(errors=1)
    no_key.stdout.fnmatch_lines(["*record mode 'once' would record *never_recorded.jsonl*OPENAI_API_KEY is not set*"])

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-recording-key")
    monkeypatch.setitem(sys.modules, "rtproto.relay", None)  # this install without the relay
    no_relay = run(inner, "--realtime-record-mode=all")

    no_relay.assert_outcomes(errors=1)
    no_relay.stdout.fnmatch_lines(["*needs rtproto.relay, which this install of rtproto does not have*"])
    assert "sk-test-recording-key" not in no_relay.stdout.str()


def test_record_once_through_the_relay_then_play_the_recording_strictly(inner, monkeypatch):
    # The "live API" here is rtproto's own server on 127.0.0.1, reached through the real relay.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-upstream-key-5Tf2Qw")
    inner.makepyfile(app=APP, test_app=TEST_APP.replace("transcripts/capital.jsonl", "transcripts/recorded.jsonl"))
    recorded = inner.path / "transcripts" / "recorded.jsonl"
    loop = _LoopThread()
    try:
        upstream = loop.run(RealtimeServer(capital_transcript().build(), speed="max").start(), 10)
        run(inner, "--realtime-record-mode=once", "--realtime-upstream", upstream.url).assert_outcomes(passed=1)
        loop.run(upstream.close(), 10)
    finally:
        loop.stop()

    assert [e["type"] for e in read_transcript(recorded).client_events()] == [
        "session.update", "conversation.item.create", "response.create",
    ]
    assert "sk-test-upstream-key-5Tf2Qw" not in recorded.read_text()
    assert not list(recorded.parent.glob(".*.recording"))
    monkeypatch.delenv("OPENAI_API_KEY")
    run(inner, "--realtime-strict").assert_outcomes(passed=1)  # mode none plays what was recorded


DEFAULTS = '''
import pytest
from rtproto.transport import connect, iter_events

async def first_event(url):
    async with connect(url, api_key="sk-offline") as conn:
        async for raw, event in iter_events(conn):
            return event.type


async def test_default_name(realtime_server):
    assert realtime_server.path.name == "test_default_name.jsonl"
    assert await first_event(realtime_server.url) == "session.created"


@pytest.mark.parametrize("case", ["a/b"])
async def test_param(realtime_server, case):
    assert realtime_server.path.name == "test_param[a_b].jsonl"
    assert await first_event(realtime_server.url) == "session.created"


class TestGrouped:
    async def test_in_class(self, realtime_server):
        assert realtime_server.path.name == "TestGrouped.test_in_class.jsonl"


@pytest.mark.realtime_transcript("shared/capital.jsonl")
async def test_marked(realtime_server):
    assert await first_event(realtime_server.url) == "session.created"
'''


def test_default_and_marked_paths_resolve_next_to_the_test_or_in_the_configured_folder(pytester):
    pytester.makeini(INI)
    tests = pytester.mkpydir("suite")
    (tests / "test_paths.py").write_text(DEFAULTS)
    for name in ("test_default_name", "test_param[a_b]", "TestGrouped.test_in_class"):
        save(tests / "transcripts" / "test_paths" / f"{name}.jsonl")
    save(tests / "shared" / "capital.jsonl")

    run(pytester).assert_outcomes(passed=4)

    # --realtime-transcripts DIR (from the invocation folder) replaces "<test dir>/transcripts".
    for name in ("test_default_name", "test_param[a_b]", "TestGrouped.test_in_class"):
        save(pytester.path / "cassettes" / "test_paths" / f"{name}.jsonl")
    save(pytester.path / "cassettes" / "shared" / "capital.jsonl")
    (tests / "transcripts").rename(tests / "moved")
    (tests / "shared").rename(tests / "moved_shared")

    run(pytester).assert_outcomes(errors=4)
    run(pytester, "--realtime-transcripts", "cassettes").assert_outcomes(passed=4)

    pytester.makeini(INI + "realtime_transcript_dir = cassettes\n")
    run(pytester).assert_outcomes(passed=4)


# ---------------------------------------------------------------------------
# The pure parts


@pytest.mark.parametrize(
    ("mode", "exists", "has_key", "action"),
    [
        ("none", True, True, "serve"),
        ("none", True, False, "serve"),
        ("none", False, True, "missing"),
        ("none", False, False, "missing"),
        ("once", True, True, "serve"),
        ("once", True, False, "serve"),
        ("once", False, True, "record"),
        ("once", False, False, "no-key"),
        ("all", True, True, "record"),
        ("all", True, False, "no-key"),
        ("all", False, True, "record"),
        ("all", False, False, "no-key"),
    ],
)
def test_record_mode_key_and_file_decide_what_the_fixture_does(mode, exists, has_key, action):
    assert choose_action(mode, exists=exists, has_key=has_key) == action


def test_record_modes_are_pytest_recordings_and_nothing_else():
    assert RECORD_MODES == ("none", "once", "all")
    with pytest.raises(ValueError, match="record mode must be one of none, once, all, got 'new_episodes'"):
        choose_action("new_episodes", exists=True, has_key=True)


def test_transcript_path_rules():
    here = Path("/repo/tests")
    common = {"test_dir": here, "module": "test_app", "test_name": "test_ask"}

    assert transcript_path(None, **common) == here / "transcripts" / "test_app" / "test_ask.jsonl"
    assert transcript_path("t/x.jsonl", **common) == here / "t" / "x.jsonl"
    assert transcript_path("/abs/x.jsonl", **common) == Path("/abs/x.jsonl")
    assert transcript_path(None, **common, transcript_dir=Path("/c")) == Path("/c/test_app/test_ask.jsonl")
    assert transcript_path("t/x.jsonl", **common, transcript_dir=Path("/c")) == Path("/c/t/x.jsonl")
    assert transcript_path(None, test_dir=here, module="m", test_name='t[a/b:c d]').name == "t[a_b_c_d].jsonl"


def test_record_live_refuses_without_a_key(tmp_path):
    with pytest.raises(RecordingUnavailable, match="needs OPENAI_API_KEY"):
        _record_live(tmp_path / "x.jsonl", api_key=None)
