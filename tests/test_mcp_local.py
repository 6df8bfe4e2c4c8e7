"""rtproto.mcp_local against real MCP servers: tests/mcp_notes_server.py over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from rtproto import _mcp_io, mcp_local  # noqa: E402
from rtproto.errors import UsageError  # noqa: E402
from rtproto.mcp_local import (  # noqa: E402
    MISSING_SDK,
    OUTPUT_LIMIT,
    LocalServers,
    LocalServerSpec,
    LocalTool,
    assign_names,
)
from rtproto.redact import Secrets  # noqa: E402

NOTES_SERVER = Path(__file__).with_name("mcp_notes_server.py")
FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SAFETY = 15  # seconds: a bound for a test that would otherwise hang, never a synchronisation


def notes(label: str, *flags: str, **options) -> LocalServerSpec:
    return LocalServerSpec(label, [sys.executable, str(NOTES_SERVER), *flags], **options)


class Changes:
    """on_tools_changed: keeps every announcement and wakes whoever waits for the next one."""

    def __init__(self) -> None:
        self.seen: list[list[LocalTool]] = []
        self._event = asyncio.Event()

    async def __call__(self, tools: list[LocalTool]) -> None:
        self.seen.append(tools)
        self._event.set()

    async def next(self) -> list[LocalTool]:
        await asyncio.wait_for(self._event.wait(), SAFETY)
        self._event.clear()
        return self.seen[-1]


@asynccontextmanager
async def running(tmp_path: Path, *specs: LocalServerSpec, problems: list[str] | None = None,
                  **options) -> AsyncIterator[LocalServers]:
    options.setdefault("log_path", str(tmp_path / "mcp.log"))
    async with LocalServers(specs, on_problem=(problems if problems is not None else []).append, **options) as servers:
        yield servers


def pids(log: Path, label: str) -> list[int]:
    return [int(pid) for pid in re.findall(rf"^\[{label}\] notes server up \(pid (\d+)\)$", log.read_text(), re.M)]


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):  # a zombie would still take signal 0
        os.kill(pid, 0)


def by_name(servers: LocalServers) -> dict[str, LocalTool]:
    return {tool.function_name: tool for tool in servers.tools}


def assert_printable(problems: list[str]) -> None:
    for line in problems:
        assert not CONTROL.search(line), line


# -- specs and names (no server) -------------------------------------------------------


@pytest.mark.parametrize("spec", [
    dict(label="no spaces", command=["x"]),
    dict(label="a", command=["x"], url="http://127.0.0.1:1/mcp"),
    dict(label="a"),
    dict(label="a", command=[]),
    dict(label="a", url="ftp://127.0.0.1/mcp"),
    dict(label="a", url="http://127.0.0.1:1/mcp", env={"K": "v"}),
])
def test_a_spec_that_cannot_run_is_a_usage_error(spec):
    with pytest.raises(UsageError):
        LocalServerSpec(**spec)


def test_a_label_used_twice_is_a_usage_error():
    with pytest.raises(UsageError, match="twice"):
        LocalServers([notes("a"), notes("a")], log_path=None)


def test_names_keep_the_servers_own_when_valid_and_unique():
    names = assign_names([("a", "read"), ("a", "find.note"), ("b", "write")], {"ask"}, {})
    assert names == {("a", "read"): "read", ("a", "find.note"): "find_note", ("b", "write"): "write"}


def test_clashing_names_get_their_label_on_every_side_and_stay_valid():
    listing = [("z", "a_x"), ("a", "x"), ("b", "x"), ("a", "ask"), ("a", "n" * 80), ("a", "n" * 81)]
    names = assign_names(listing, {"ask"}, {})
    assert [names[pair] for pair in listing[:4]] == ["a_x", "a_x_2", "b_x", "a_ask"]
    assert names["a", "n" * 80] == "a_" + "n" * 62
    assert names["a", "n" * 81] == "a_" + "n" * 60 + "_2"
    assert all(FUNCTION_NAME.fullmatch(name) for name in names.values())
    assert assign_names(listing, {"ask"}, {}) == names  # deterministic


def test_a_name_once_given_is_kept_when_a_clashing_tool_appears():
    first = assign_names([("a", "read")], set(), {})
    later = assign_names([("a", "read"), ("b", "read")], set(), first)
    assert later == {("a", "read"): "read", ("b", "read"): "b_read"}


def test_a_withdrawn_tools_name_is_never_given_to_another():
    first = assign_names([("a", "search"), ("a", "b_search")], set(), {})
    later = assign_names([("b", "search")], set(), first)  # a's tools are withdrawn
    assert later == {("a", "search"): "search", ("a", "b_search"): "b_search", ("b", "search"): "b_search_2"}
    assert assign_names([("a", "search"), ("b", "search")], set(), later) == later  # a's are back: same names
    assert first == {("a", "search"): "search", ("a", "b_search"): "b_search"}  # previous is not changed


def test_the_mcp_package_is_imported_only_when_servers_are_made():
    script = (
        "import sys\n"
        "from rtproto.errors import RtprotoError\n"
        "import rtproto.mcp_local as m\n"
        "assert 'mcp' not in sys.modules, 'rtproto.mcp_local imported mcp'\n"
        "sys.modules['mcp'] = None  # as if it were not installed\n"
        "try:\n"
        "    m.LocalServers([m.LocalServerSpec('a', ['true'])], log_path=None)\n"
        "except RtprotoError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == MISSING_SDK == "--mcp-local needs the mcp extra: pip install 'rtproto[mcp]'"


# -- one stdio server --------------------------------------------------------------------


async def test_tools_are_listed_and_results_become_bounded_outputs(tmp_path):
    async with running(tmp_path, notes("notes", "--extra-tools")) as servers:
        tools = by_name(servers)
        failed = await servers.call("fail", "{}")
        stats = await servers.call("stats", "{}")
        picture = await servers.call("picture", "{}")
        big = await servers.call("big", json.dumps({"n": 3 * OUTPUT_LIMIT}))
        wrapped = await servers.call("list_notes", "{}")  # the SDK adds {"result": ...}: not repeated
    read, write, listing = tools["read_note"], tools["write_note"], tools["list_notes"]
    assert (read.label, read.name, read.read_only, read.destructive) == ("notes", "read_note", True, False)
    assert (write.read_only, write.destructive) == (False, True)
    assert (listing.read_only, listing.destructive) == (True, False)
    assert (tools["stats"].read_only, tools["stats"].destructive) == (False, True)  # no hints: the spec's defaults
    assert read.description == "Read the note with this title."
    assert read.parameters["type"] == "object" and read.parameters["required"] == ["title"]
    assert read.parameters["properties"]["title"]["type"] == "string"
    assert listing.parameters["properties"] == {}
    assert tools["find_note"].name == "find.note"
    assert all(FUNCTION_NAME.fullmatch(name) for name in tools)

    assert failed[1] and json.loads(failed[0]) == {"error": "Error executing tool fail: the disk is full"}
    assert json.loads(stats[0]) == {"content": "2 notes", "structured": {"notes": 2, "words": 7}}
    assert picture == ("[image: image/png, 300006 bytes]", False)
    assert big[0].startswith("x" * OUTPUT_LIMIT) and big[0].endswith(f"[cut: {3 * OUTPUT_LIMIT} characters in all]")
    assert len(big[0]) < OUTPUT_LIMIT + 100 and not big[1]
    assert wrapped == ("(no notes)", False)


async def test_two_labels_of_one_server_and_a_reserved_name_get_unique_names(tmp_path):
    async with running(tmp_path, notes("home"), notes("work"), reserved=frozenset({"list_notes"})) as servers:
        names = [(tool.label, tool.name, tool.function_name) for tool in servers.tools]
        assert names == [
            ("home", "read_note", "home_read_note"), ("home", "write_note", "home_write_note"),
            ("home", "list_notes", "home_list_notes"),
            ("work", "read_note", "work_read_note"), ("work", "write_note", "work_write_note"),
            ("work", "list_notes", "work_list_notes"),
        ]
        assert await servers.call("work_write_note", '{"title": "t", "text": "at work"}') == ("saved 't'", False)
        assert await servers.call("work_read_note", '{"title": "t"}') == ("at work", False)
        output, is_error = await servers.call("home_read_note", '{"title": "t"}')
    assert is_error and "no note titled 't'" in json.loads(output)["error"]
    log = tmp_path / "mcp.log"
    assert "[home] Tool 'read_note' failed" in log.read_text()  # one log, each line with its label
    assert len(pids(log, "home")) == len(pids(log, "work")) == 1
    for pid in pids(log, "home") + pids(log, "work"):
        assert_gone(pid)


async def test_reads_and_writes_reach_the_server_and_bad_calls_none(tmp_path, capfd):
    store = tmp_path / "notes.json"
    async with running(tmp_path, notes("notes", env={"NOTES_FILE": str(store)}), log_path=None) as servers:
        outcomes = [await servers.call("write_note", arguments) for arguments in ("{title", "[1, 2]", '"x"')]
        unknown = await servers.call("erase_everything", "{}")
        missing = await servers.call("write_note", '{"title": "t"}')  # the server checks its own schema
        assert not store.exists()
        assert await servers.call("write_note", json.dumps({"title": "milk", "text": "2 litres"})) == (
            "saved 'milk'", False)
        assert json.loads(store.read_text()) == {"milk": "2 litres"}
        assert await servers.call("read_note", '{"title": "milk"}') == ("2 litres", False)
        assert await servers.call("list_notes", "") == ("milk", False)
    assert [json.loads(output)["error"].split(":")[0] for output, _ in outcomes] == [
        "the arguments are not valid JSON", "the arguments must be a JSON object, not list",
        "the arguments must be a JSON object, not str"]
    assert all(is_error for _, is_error in outcomes)
    assert unknown == (json.dumps({"error": "there is no local tool named 'erase_everything'"}), True)
    assert missing[1] and "text" in json.loads(missing[0])["error"]
    assert capfd.readouterr() == ("", "")  # without a log, the server's stderr (it logged the refusal) is dropped
    assert list(tmp_path.iterdir()) == [store]


async def test_calls_that_never_answer_time_out_and_the_server_goes_on(tmp_path):
    problems: list[str] = []
    async with running(tmp_path, notes("notes", "--hang-tool"), problems=problems, call_timeout=0.25) as servers:
        output, is_error = await servers.call("hang", "{}")
        assert await servers.call("list_notes", "{}") == ("(no notes)", False)
    assert is_error and json.loads(output) == {"error": "notes: hang timed out after 0.25 s"}
    assert problems == ["mcp server notes: hang timed out after 0.25 s"]


async def test_a_server_that_crashes_is_reported_once_and_its_tools_withdrawn(tmp_path):
    problems: list[str] = []
    changes = Changes()
    async with running(tmp_path, notes("notes", "--crash-tool"), problems=problems, on_tools_changed=changes) as servers:
        first = await servers.call("crash", "{}")
        again = await servers.call("read_note", '{"title": "t"}')
        assert servers.tools == changes.seen[-1] == []
    not_running = json.dumps({"error": "the MCP server notes is not running"})
    assert first == again == (not_running, True)
    log = tmp_path / "mcp.log"
    assert problems == [f"mcp server notes stopped (its connection closed); its tools are withdrawn "
                        f"(its stderr is in {log})"]
    assert "[notes] notes server crashing on purpose" in log.read_text()


async def test_a_server_killed_between_calls_is_noticed_when_its_stream_ends(tmp_path):
    problems: list[str] = []
    changes = Changes()
    async with running(tmp_path, notes("notes"), problems=problems, on_tools_changed=changes) as servers:
        os.kill(pids(tmp_path / "mcp.log", "notes")[0], signal.SIGKILL)  # no call is running
        assert await changes.next() == [] and servers.tools == []
        assert await servers.call("read_note", '{"title": "t"}') == (
            json.dumps({"error": "the MCP server notes is not running"}), True)
    assert len(problems) == 1 and problems[0].startswith("mcp server notes stopped (its connection closed)")


async def test_a_lost_servers_names_are_not_given_to_another_servers_new_tools(tmp_path):
    changes = Changes()
    async with running(tmp_path, notes("a", "--crash-tool"), notes("b", "--extra-tools"),
                       on_tools_changed=changes) as servers:
        assert by_name(servers)["crash"].label == "a"
        await servers.call("crash", "{}")
        assert await servers.call("add_tool", '{"name": "crash"}') == ("added crash", False)
        assert changes.seen[-1] == servers.tools and ("b", "crash", "b_crash") in [
            (tool.label, tool.name, tool.function_name) for tool in servers.tools]
        assert await servers.call("crash", "{}") == (json.dumps({"error": "the MCP server a is not running"}), True)
        assert await servers.call("b_crash", "{}") == ("I am crash", False)


async def test_what_a_server_lists_is_bounded(tmp_path):
    problems: list[str] = []
    async with running(tmp_path, notes("bulky", "--bulky-tools"), problems=problems) as servers:
        tools = servers.tools
    assert [tool.name for tool in tools] == ["read_note", "write_note", "list_notes", "wordy",
                                             *(f"t{number:03}" for number in range(124))]
    assert len(tools) == mcp_local.TOOL_LIMIT == 128
    assert tools[3].description == "w" * 1023 + "…"
    assert problems == [
        f"mcp server bulky: tools whose name is empty or over 128 characters, left out: '{'n' * 40}'",
        "mcp server bulky: tools whose parameters are over 16384 bytes of JSON, left out: huge",
        "mcp server bulky: it offers more than 128 tools; only the first 128 are offered",
    ]


async def test_a_server_is_given_a_bounded_number_of_names_in_its_life(tmp_path, monkeypatch):
    monkeypatch.setattr(mcp_local, "NAMES_PER_SERVER", 11)  # it starts with 10 tools
    problems: list[str] = []
    changes = Changes()
    async with running(tmp_path, notes("notes", "--extra-tools"), problems=problems,
                       on_tools_changed=changes) as servers:
        assert len(servers.tools) == 10
        await servers.call("add_tool", '{"name": "jot"}')
        await servers.call("add_tool", '{"name": "doodle"}')
        assert [tool.name for tool in changes.seen[-1]][-1] == "jot" and len(servers.tools) == 11
        assert (await servers.call("doodle", "{}"))[1]
    assert problems == ["mcp server notes: new tools are left out, it has been given 11 function names: doodle"]


def test_long_stdout_lines_are_cut_as_they_come():
    decoder = codecs.getincrementaldecoder(_mcp_io._lines_codec(10))()
    assert decoder.decode(b"short\nabcdefgh") == "short\nabcdefgh"
    assert decoder.decode(b"ijklmnop") == "ij" + _mcp_io._CUT + "\n"  # the rest of the line is dropped
    assert decoder.decode(b"qrstuvwxyz" * 1000) == ""
    assert decoder.decode(b"qrs\nnext \xff\xe2\x82") == "next \ufffd"  # a bad byte is replaced
    assert decoder.decode(b"\xac\n", final=True) == "€\n"
    assert "\n".encode(_mcp_io._lines_codec(10)) == b"\n"


async def test_a_stdout_line_over_the_limit_stops_the_server(tmp_path, monkeypatch):
    monkeypatch.setattr(mcp_local, "MESSAGE_LIMIT", 1 << 20)
    problems: list[str] = []
    changes = Changes()
    async with running(tmp_path, notes("notes", "--extra-tools"), problems=problems,
                       on_tools_changed=changes) as servers:
        output = await servers.call("big", json.dumps({"n": 3 << 20}))  # its result is one line
        assert servers.tools == changes.seen[-1] == []
    assert output == (json.dumps({"error": "the MCP server notes is not running"}), True)
    assert problems == [f"mcp server notes stopped (it wrote a line over {1 << 20} characters on its stdout); "
                        f"its tools are withdrawn (its stderr is in {tmp_path / 'mcp.log'})"]


async def test_a_stdout_line_over_the_limit_at_start_means_no_start(tmp_path, monkeypatch):
    monkeypatch.setattr(mcp_local, "MESSAGE_LIMIT", 1 << 16)
    problems: list[str] = []
    spec = notes("notes", "--banner", env={"NOTES_BANNER": "x" * 70_000})
    async with running(tmp_path, spec, problems=problems) as servers:
        assert servers.tools == []
    assert problems == [f"mcp server notes did not start: it wrote a line over {1 << 16} characters on its stdout "
                        f"(its stderr is in {tmp_path / 'mcp.log'})"]


async def test_a_byte_that_is_not_utf8_on_stdout_is_a_stray_line(tmp_path):
    problems: list[str] = []
    spec = LocalServerSpec("notes", ["sh", "-c", 'printf "\\377 hello\\n"; exec "$0" "$@"', sys.executable,
                                     str(NOTES_SERVER)])
    async with running(tmp_path, spec, problems=problems) as servers:
        assert await servers.call("list_notes", "{}") == ("(no notes)", False)
    assert problems == ["mcp server notes wrote something that is not JSON-RPC on its stdout ('\ufffd hello'); "
                        "further such lines are not reported"]


async def test_the_log_is_private_and_redacted(tmp_path):
    log = tmp_path / "mcp.log"
    problems: list[str] = []
    spec = notes("notes", "--print-secret", "--extra-tools", env={"NOTES_SECRET": "tok-env-5e1f2a"})
    async with running(tmp_path, spec, problems=problems, secrets=Secrets(["sess-9c8b7a6d"])) as servers:
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert await servers.call("shout", '{"text": "the key is sess-9c8b7a6d"}') == ("shouted", False)
        await servers.call("read_note", '{"title": "sess-9c8b7a6d"}')  # the server logs the failure
    text = log.read_text()
    assert "[notes] the secret is [redacted]\n" in text  # its stderr
    assert "[mcp sdk] ERROR mcp.client.stdio: Failed to parse" in text  # the SDK's record of its stdout line
    assert "[notes] the key is [redacted]\n" in text and "no note titled '[redacted]'" in text
    assert "tok-env-5e1f2a" not in text and "sess-9c8b7a6d" not in text
    assert "[redacted]" in problems[0] and "tok-env-5e1f2a" not in "".join(problems)


async def test_output_that_is_not_json_rpc_is_one_line_and_the_server_goes_on(tmp_path):
    problems: list[str] = []
    banner = "Ready \x1b[2J with token tok-3f9a8b7c6d"
    spec = notes("notes", "--banner", "--garbage-tool", env={"NOTES_BANNER": banner, "API_TOKEN": "tok-3f9a8b7c6d"})
    async with running(tmp_path, spec, problems=problems, call_timeout=0.25) as servers:
        assert "read_note" in by_name(servers)  # a stray line at start is survived
        garbled = await servers.call("garble", "{}")  # garbage instead of an answer: the call times out
        assert await servers.call("list_notes", "{}") == ("(no notes)", False)
    assert garbled == (json.dumps({"error": "notes: garble timed out after 0.25 s"}), True)
    assert problems[0].startswith("mcp server notes wrote something that is not JSON-RPC on its stdout ('Ready ")
    assert "[redacted]" in problems[0] and "tok-3f9a8b7c6d" not in "".join(problems)
    assert problems[1:] == ["mcp server notes: garble timed out after 0.25 s"]  # the second stray line: no repeat
    assert_printable(problems)


async def test_servers_that_fail_to_start_are_left_out_and_the_others_go_on(tmp_path):
    problems: list[str] = []
    specs = (notes("broken", "--fail-start"), LocalServerSpec("missing", [str(tmp_path / "no-such-server")]),
             notes("notes"))
    async with running(tmp_path, *specs, problems=problems) as servers:
        assert {tool.label for tool in servers.tools} == {"notes"}
        assert await servers.call("list_notes", "{}") == ("(no notes)", False)
    log = tmp_path / "mcp.log"
    assert sorted(problems) == [
        f"mcp server broken did not start: it closed the connection (did it exit?) (its stderr is in {log})",
        f"mcp server missing did not start: {tmp_path / 'no-such-server'}: No such file or directory "
        f"(its stderr is in {log})",
    ]
    assert "[broken] notes server: cannot start (asked to fail)" in log.read_text()


async def test_a_server_that_does_not_answer_in_time_is_left_out(tmp_path):
    problems: list[str] = []
    silent = LocalServerSpec("silent", [sys.executable, "-c", "import sys; sys.stdin.read()"])  # reads, never answers
    async with running(tmp_path, silent, problems=problems, start_timeout=0.5) as servers:
        assert servers.tools == []
    assert problems == [f"mcp server silent did not start: it did not answer within 0.5 s "
                        f"(its stderr is in {tmp_path / 'mcp.log'})"]


@pytest.mark.parametrize("era", ["2026-07-28", "handshake"])
async def test_a_changed_tool_list_is_followed(tmp_path, era):
    changes = Changes()
    flags = ["--extra-tools"] + (["--legacy"] if era == "handshake" else [])
    async with running(tmp_path, notes("notes", *flags), on_tools_changed=changes) as servers:
        assert await servers.call("add_tool", '{"name": "jot"}') == ("added jot", False)
        assert changes.seen == [servers.tools]  # followed before the call's result came back
        jot = by_name(servers)["jot"]
        assert (jot.description, jot.read_only) == ("Added at run time: jot.", True)
        assert await servers.call("jot", "{}") == ("I am jot", False)


async def test_stderr_goes_to_the_log_and_no_child_is_left(tmp_path, capfd):
    log = tmp_path / "mcp.log"
    log.write_text("earlier line\n")
    async with running(tmp_path, notes("a", "--extra-tools", "--hang-tool")) as servers:
        assert await servers.call("shout", '{"text": "hello from a"}') == ("shouted", False)
        hanging = asyncio.create_task(servers.call("hang", "{}"))
        await asyncio.sleep(0)
    output, is_error = await asyncio.wait_for(hanging, SAFETY)  # leaving ends the call in flight
    assert is_error and "not running" in json.loads(output)["error"]
    text = log.read_text()
    assert text.startswith("earlier line\n") and "[a] hello from a\n" in text
    [pid] = pids(log, "a")
    assert_gone(pid)
    assert capfd.readouterr() == ("", "")


# -- streamable HTTP -----------------------------------------------------------------------


@contextmanager
def serving_http(*flags: str) -> Iterator[str]:
    """The notes server over streamable HTTP: its URL."""
    process = subprocess.Popen([sys.executable, str(NOTES_SERVER), "--http", "--extra-tools", *flags],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=SAFETY)
        process.stdout.close()


@pytest.fixture
def http_server() -> Iterator[str]:
    with serving_http() as url:
        yield url


@contextmanager
def logger_level(name: str, level: int) -> Iterator[None]:
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


async def test_a_streamable_http_server_is_served_like_a_stdio_one(tmp_path, http_server):
    changes = Changes()
    problems: list[str] = []
    spec = LocalServerSpec("web", url=http_server)
    async with running(tmp_path, spec, problems=problems, on_tools_changed=changes) as servers:
        assert problems == []
        assert by_name(servers)["read_note"].read_only
        assert await servers.call("write_note", '{"title": "t", "text": "over http"}') == ("saved 't'", False)
        assert await servers.call("read_note", '{"title": "t"}') == ("over http", False)
        assert await servers.call("add_tool", '{"name": "jot"}') == ("added jot", False)
        assert "jot" in {tool.function_name for tool in await changes.next()}
    assert problems == []


async def test_an_http_server_that_is_not_there_is_left_out(tmp_path):
    problems: list[str] = []
    async with running(tmp_path, LocalServerSpec("web", url="http://127.0.0.1:9/mcp"), problems=problems) as servers:
        assert servers.tools == []
    assert len(problems) == 1 and problems[0].startswith("mcp server web did not start: ")
    assert_printable(problems)


async def test_an_http_response_over_the_limit_fails_its_call_only(tmp_path, monkeypatch):
    monkeypatch.setattr(mcp_local, "MESSAGE_LIMIT", 1 << 18)
    problems: list[str] = []
    log = tmp_path / "mcp.log"
    with serving_http() as url, logger_level("mcp", logging.DEBUG):
        async with running(tmp_path, LocalServerSpec("web", url=url), problems=problems) as servers:
            output, is_error = await servers.call("big", json.dumps({"n": 1 << 19}))  # a JSON answer
            assert await servers.call("write_note", '{"title": "t", "text": "arg-6b1d"}') == ("saved 't'", False)
            assert logging.getLogger("mcp").getEffectiveLevel() == logging.INFO  # while ours
        assert logging.getLogger("mcp").level == logging.DEBUG  # given back
    assert (json.loads(output), is_error) == ({"error": "the MCP server web refused the call: Failed to parse JSON "
                                                         f"response: the response is over {1 << 18} bytes"}, True)
    assert problems == []
    assert "arg-6b1d" not in log.read_text()  # the SDK's DEBUG record of the request is not written


async def test_a_compressed_http_response_is_refused_and_none_is_asked_for():
    import gzip

    import httpx2

    class Body(httpx2.AsyncByteStream):  # as from the network: not read yet
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield gzip.compress(b"{}" * 1000)

    def reply(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-encoding": "gzip", "content-type": "application/json"},
                               stream=Body())

    async def bound(response: httpx2.Response) -> None:
        _mcp_io._bound_response(response, 100)

    async with _mcp_io._http_client(100) as client:
        assert client.headers["accept-encoding"] == "identity"
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(reply), event_hooks={"response": [bound]}) as client:
        with pytest.raises(httpx2.StreamError, match=r"^the response is compressed \(gzip\); we asked for identity$"):
            await client.get("http://127.0.0.1/mcp")
