"""rtproto.mcp_local against real MCP servers: tests/mcp_notes_server.py over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from rtproto.errors import UsageError  # noqa: E402
from rtproto.mcp_local import (  # noqa: E402
    MISSING_SDK,
    OUTPUT_LIMIT,
    LocalServers,
    LocalServerSpec,
    LocalTool,
    assign_names,
)

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


@pytest.fixture
def http_server(tmp_path) -> Callable[[], str]:
    process = subprocess.Popen([sys.executable, str(NOTES_SERVER), "--http", "--extra-tools"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=SAFETY)
        process.stdout.close()


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
