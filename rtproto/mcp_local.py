"""Local MCP servers (stdio children or streamable HTTP on this machine) as function tools.

Theory of operation
-------------------
:class:`LocalServers` is the I/O edge between a conversation and its local MCP
servers; the core never sees MCP. Each server gets one runner task that owns
its MCP ``Client`` from start to stop, because the SDK's clients are anyio
context managers that must be entered and left by the same task. A runner
connects (protocol era negotiated by the SDK: the 2026-07-28 per-request
envelope, or the older ``initialize`` handshake), lists the tools, reports the
server as settled, then follows tool changes until it is told to stop: a
handshake-era server announces them with ``notifications/tools/list_changed``,
a 2026-era one on a ``subscriptions/listen`` stream; either way the server is
re-listed and ``on_tools_changed`` receives every tool of every running server.
A change announced during a call is followed before that call returns, so the
model's tools are updated before it reads the result that changed them.

Each server moves through named states (:class:`ServerState`): ``STARTING``,
then ``RUNNING`` or ``FAILED`` (never started), and from ``RUNNING`` to
``LOST`` (it went away: the process exited, the connection closed) or
``CLOSED`` (we stopped it). Only a ``RUNNING`` server's tools are offered.

Function names are assigned once per (server, tool) and kept while the servers
run, even for a tool that was withdrawn, so one function name always means one
tool (an approval asked about one tool can never run another): a tool keeps the
server's own name when that is a valid Realtime function name, unique across
every server, never given before and not ``reserved``; clashing names become
``label_name``; characters the API refuses become ``_``; every name fits 64
characters.

What a server says is bounded before it is held or offered: at most
:data:`TOOL_LIMIT` tools per listing, :data:`NAMES_PER_SERVER` function names
per server for its life, a description cut at :data:`DESCRIPTION_LIMIT`
characters, no tool whose name is over :data:`TOOL_NAME_LIMIT` characters or
whose parameters are over :data:`SCHEMA_LIMIT` bytes of JSON. One message is
at most :data:`MESSAGE_LIMIT`: a stdio server that writes a longer stdout line
is stopped (the SDK's reader would hold the line whole; ours cuts it, see
:class:`rtproto._mcp_io._BoundedLines`); over HTTP a longer JSON response fails its request,
an SSE event too, and a compressed response (we ask for none) is refused.

Nothing reaches the terminal: a server's stderr, and the MCP SDK's own log
records (INFO and above) while servers run, go to ``log_path`` (or nowhere);
problems reach ``on_problem`` as one printable line each. Both are redacted:
the session's ``secrets``, the specs' env values and URL credentials. The
``mcp`` package is imported only here and in :mod:`rtproto._mcp_io` (the log
file, the stdout codec and the HTTP client), and only when a
:class:`LocalServers` is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import inspect
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from . import __version__
from ._mcp_io import _CUT, _ServerLog, _http_client, _lines_codec
from .console import printable
from .errors import RtprotoError, UsageError
from .redact import Secrets

if TYPE_CHECKING:
    from anyio import CancelScope
    from mcp import Client

__all__ = ["LocalServerSpec", "LocalServers", "LocalTool", "ServerState", "MISSING_SDK", "assign_names"]

MISSING_SDK = "--mcp-local needs the mcp extra: pip install 'rtproto[mcp]'"
OUTPUT_LIMIT = 64 * 1024  # characters of one function_call_output; the rest is cut with a marker
NAME_LIMIT = 64  # the Realtime API's function names: ^[a-zA-Z0-9_-]{1,64}$
SHUTDOWN_LIMIT = 10.0  # seconds for every server to stop (the SDK escalates to SIGKILL within ~6 s)
PAGE_LIMIT = 100  # tools/list pages read at most (a cursor that never ends cannot hang us)
TOOL_LIMIT = 128  # tools offered per server; the rest are left out
NAMES_PER_SERVER = 4 * TOOL_LIMIT  # function names one server is given in its life (names are never reused)
TOOL_NAME_LIMIT = 128  # characters of a server's own tool name (the MCP spec's bound)
DESCRIPTION_LIMIT = 1024  # characters of a tool's description; the rest is cut
SCHEMA_LIMIT = 16 * 1024  # bytes of a tool's parameters as compact JSON; a larger tool is left out
MESSAGE_LIMIT = 16 * 1024 * 1024  # one message: characters of a stdout line, bytes of an HTTP response or event
_LABEL = re.compile(r"[A-Za-z0-9_-]+")
_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class LocalServerSpec:
    """One local MCP server: a ``command`` run over stdio, or a streamable HTTP ``url``.

    ``env`` (added to a minimal inherited environment: HOME, LOGNAME, PATH, SHELL,
    TERM, USER) and ``cwd`` apply to ``command`` only. Raises :class:`UsageError`
    for a spec that cannot be run.
    """

    label: str
    command: list[str] | None = None
    url: str | None = None
    env: dict[str, str] | None = None
    cwd: str | None = None

    def __post_init__(self) -> None:
        if not _LABEL.fullmatch(self.label):
            raise UsageError(f"--mcp-local {self.label!r}: a label is letters, digits, '_' and '-'")
        if (self.command is None) == (self.url is None):
            raise UsageError(f"--mcp-local {self.label}: give either a command or a url")
        if self.command is not None and not (self.command and all(isinstance(a, str) for a in self.command)):
            raise UsageError(f"--mcp-local {self.label}: the command is a non-empty list of strings")
        if self.url is not None:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise UsageError(f"--mcp-local {self.label}: the url must be http:// or https:// with a host")
            if self.env or self.cwd:
                raise UsageError(f"--mcp-local {self.label}: env and cwd apply to a command, not a url")


@dataclass(frozen=True)
class LocalTool:
    """A tool of a local MCP server, as offered to the model.

    ``name`` is the server's own name, ``function_name`` the one the model calls.
    ``destructive`` follows the MCP spec: it is meaningful only for a tool that is
    not ``read_only`` (False then) and defaults to True when the server says nothing.
    """

    label: str
    name: str
    function_name: str
    description: str
    parameters: dict[str, Any]
    read_only: bool
    destructive: bool


class ServerState(enum.Enum):
    """Where one server is in its life (see the module docstring)."""

    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    LOST = "lost"
    CLOSED = "closed"


class _Hints(Protocol):
    """What is read of an ``mcp_types.ToolAnnotations``."""

    read_only_hint: bool | None
    destructive_hint: bool | None


class _SdkTool(Protocol):
    """What is read of an ``mcp_types.Tool``."""

    name: str
    title: str | None
    description: str | None
    input_schema: dict[str, Any]
    annotations: _Hints | None


class _ToolResult(Protocol):
    """What is read of an ``mcp_types.CallToolResult``."""

    content: Sequence[Any]  # content blocks, told apart by their ``type``
    structured_content: dict[str, Any] | None
    is_error: bool | None


@dataclass(eq=False)
class _Server:
    """One server's record, owned by its runner task."""

    spec: LocalServerSpec
    state: ServerState = ServerState.STARTING
    client: Client | None = None
    tools: list[LocalTool] = field(default_factory=list)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # the server announced a tool change
    relisting: asyncio.Lock = field(default_factory=asyncio.Lock)  # one re-listing at a time
    garbled: bool = False  # a non-JSON-RPC stdout line was reported (only the first is)
    fault: str | None = None  # why the server must be stopped, found where it cannot be (the SDK's reader)
    task: asyncio.Task[None] | None = None
    scope: CancelScope | None = None  # the runner's whole life: its start deadline, and how to end a start


class LocalServers:
    """The local MCP servers of one conversation: an async context manager.

    Entering starts, initializes and lists every server concurrently (each within
    ``start_timeout`` seconds); a server that fails is one line to ``on_problem``
    and is left out. Leaving stops them all within :data:`SHUTDOWN_LIMIT` seconds
    (stdio children are terminated, then killed, and reaped). ``reserved`` names
    (the conversation's other function tools) are never given to a local tool.
    ``on_problem`` defaults to a warning on the ``rtproto.mcp_local`` logger.
    ``secrets`` (the session's) are redacted, with the specs' env values and URL
    credentials, from problems, error outputs and every line of ``log_path``.

    Raises :class:`RtprotoError` (:data:`MISSING_SDK`) when the ``mcp`` package is missing.
    """

    def __init__(
        self,
        specs: Sequence[LocalServerSpec],
        *,
        log_path: str | None,
        call_timeout: float = 30.0,
        start_timeout: float = 60.0,
        reserved: frozenset[str] = frozenset(),
        on_tools_changed: Callable[[list[LocalTool]], Awaitable[None] | None] | None = None,
        on_problem: Callable[[str], None] | None = None,
        secrets: Secrets | None = None,
    ):
        require_sdk()
        labels = [spec.label for spec in specs]
        if len(set(labels)) != len(labels):
            raise UsageError(f"--mcp-local: a label is used twice: {sorted(_twice(labels))}")
        self.call_timeout = call_timeout
        self.start_timeout = start_timeout
        self.reserved = reserved
        self.on_tools_changed = on_tools_changed
        self.on_problem = on_problem or logging.getLogger("rtproto.mcp_local").warning
        self._servers = [_Server(spec) for spec in specs]
        self._redact = _redactor(specs, secrets)
        self._log = _ServerLog(log_path, self._redact)
        self._names: dict[tuple[str, str], str] = {}  # every name given, withdrawn tools' too: never reused
        self._by_function: dict[str, tuple[_Server, LocalTool]] = {}
        self._open = False  # entered: names are assigned and changes announced from now on

    async def __aenter__(self) -> LocalServers:
        self._log.open()
        for server in self._servers:
            server.task = asyncio.create_task(self._run(server), name=f"mcp-local {server.spec.label}")
        try:
            await asyncio.gather(*(server.settled.wait() for server in self._servers))
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        self._assign()
        self._open = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for server in self._servers:
            server.stop.set()
            if server.state is ServerState.STARTING and server.scope is not None:
                server.scope.cancel()  # anyio's own cancellation: the SDK still stops the child
        tasks = [server.task for server in self._servers if server.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_LIMIT)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=SHUTDOWN_LIMIT)
        await self._log.close()

    @property
    def tools(self) -> list[LocalTool]:
        """The tools of every running server, in the order of the specs and of each listing."""
        return [tool for server in self._servers if server.state is ServerState.RUNNING for tool in server.tools]

    async def call(self, function_name: str, arguments: str) -> tuple[str, bool]:
        """Call a local tool with the model's JSON ``arguments``: (output, is_error).

        The output is the result's text (blocks joined by newlines; images, audio and
        blobs summarised as ``[image: image/png, 1234 bytes]``), or, when its structured
        content says more than the text, ``{"content": text, "structured": {...}}``; it
        is cut at :data:`OUTPUT_LIMIT` characters. A tool change the server announced
        before its result is followed (``on_tools_changed`` has run) when ``call``
        returns; over HTTP the announcement may come on its own stream, later.
        Never raises for a server's trouble:
        an unknown name, arguments that are not a JSON object, a timeout
        (``call_timeout``), a server that is gone, refuses the call or answers
        ``isError`` all become an error output ``{"error": "..."}``.
        """
        found = self._by_function.get(function_name)
        if found is None:
            return _error(f"there is no local tool named {function_name!r}")
        server, tool = found
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            return _error(f"the arguments are not valid JSON: {exc}")
        if not isinstance(parsed, dict):
            return _error(f"the arguments must be a JSON object, not {type(parsed).__name__}")
        if server.state is not ServerState.RUNNING or server.client is None:
            return _error(f"the MCP server {server.spec.label} is not running")
        return await self._call(server, tool, parsed)

    async def _call(self, server: _Server, tool: LocalTool, arguments: dict[str, Any]) -> tuple[str, bool]:
        import anyio
        from mcp import MCPError

        label = server.spec.label
        try:
            with anyio.fail_after(self.call_timeout):
                result = await server.client.call_tool(tool.name, arguments)
        except TimeoutError:
            message = f"{label}: {tool.name} timed out after {self.call_timeout:g} s"
            self._problem(f"mcp server {message}")
            return _error(message)
        except MCPError as exc:
            if not _closed(exc):
                return _error(self._redact(f"the MCP server {label} refused the call: {exc.message}"))
            await self._lost(server, "its connection closed")
            return _error(f"the MCP server {label} is not running")
        except Exception as exc:  # noqa: BLE001 - a result the SDK cannot take is the server's fault
            message = f"{label}: {tool.name} gave a result that cannot be used: {_describe(exc)}"
            self._problem(f"mcp server {message}")
            return _error(self._redact(message))
        await self._follow_change(server)  # a change the call announced is followed before its result returns
        return _output(result)

    # -- one runner task per server -------------------------------------------------

    async def _run(self, server: _Server) -> None:
        import anyio

        try:
            with anyio.CancelScope(deadline=anyio.current_time() + self.start_timeout) as server.scope:
                await self._serve(server)
            if server.scope.cancelled_caught and server.state is ServerState.STARTING and not server.stop.is_set():
                self._failed(server, server.fault or f"it did not answer within {self.start_timeout:g} s")
        except Exception as exc:  # noqa: BLE001 - any failure of one server is a line, never a crash
            if server.state is ServerState.STARTING:
                self._failed(server, _describe(exc))
            elif server.state is ServerState.RUNNING and not server.stop.is_set():
                await self._lost(server, _describe(exc))
        finally:
            if server.state in (ServerState.STARTING, ServerState.RUNNING):
                server.state = ServerState.CLOSED if server.state is ServerState.RUNNING else ServerState.FAILED
            server.client = None
            server.settled.set()

    async def _serve(self, server: _Server) -> None:
        import anyio

        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(await self._client(server, stack))
            server.client = client
            server.tools = await self._list(server)
            server.scope.deadline = math.inf
            server.state = ServerState.RUNNING
            server.settled.set()
            tasks = await stack.enter_async_context(anyio.create_task_group())
            tasks.start_soon(self._follow_changes, server)
            if _announces_on_listen(client):
                tasks.start_soon(self._listen, server)
            await server.stop.wait()
            tasks.cancel_scope.cancel()

    async def _client(self, server: _Server, stack: contextlib.AsyncExitStack) -> Client:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client
        from mcp.client.streamable_http import streamable_http_client
        from mcp_types import Implementation

        spec = server.spec
        if spec.command is not None:
            errlog = stack.enter_context(self._log.stream(spec.label))
            params = StdioServerParameters(command=spec.command[0], args=spec.command[1:], env=spec.env, cwd=spec.cwd,
                                           encoding=_lines_codec(MESSAGE_LIMIT))
            transport = stdio_client(params, errlog=errlog)
        else:
            http = await stack.enter_async_context(_http_client(MESSAGE_LIMIT))
            transport = streamable_http_client(spec.url, http_client=http, max_sse_event_size=MESSAGE_LIMIT)

        async def on_message(message: object) -> None:
            self._on_message(server, message)

        return Client(transport, mode="auto", cache=None, message_handler=on_message,
                      client_info=Implementation(name="rtproto", version=__version__))

    async def _list(self, server: _Server) -> list[LocalTool]:
        listed: dict[str, _SdkTool] = {}  # a name listed twice: the first one
        cursor: str | None = None
        for _ in range(PAGE_LIMIT):
            page = await server.client.list_tools(cursor=cursor)
            for tool in page.tools:
                listed.setdefault(tool.name, tool)
            if (cursor := page.next_cursor) is None or len(listed) > TOOL_LIMIT:
                break  # more pages would only be left out
        tools, left_out = _offer(server.spec.label, listed.values())
        for line in left_out:
            self._problem(f"mcp server {server.spec.label}: {line}")
        return tools

    def _on_message(self, server: _Server, message: object) -> None:
        from mcp_types import ToolListChangedNotification

        if isinstance(message, ToolListChangedNotification):
            server.changed.set()
        elif isinstance(message, Exception) and _was_cut(message):
            self._fault(server, f"it wrote a line over {MESSAGE_LIMIT} characters on its stdout")
        elif isinstance(message, Exception) and not server.garbled:
            server.garbled = True
            where = ("wrote something that is not JSON-RPC on its stdout" if server.spec.command
                     else "sent something that is not JSON-RPC")
            self._problem(f"mcp server {server.spec.label} {where} ({_stray_line(message)}); "
                          "further such lines are not reported")

    async def _listen(self, server: _Server) -> None:
        # A 2026-era server announces tool changes only on a stream the client opens. The
        # stream ends when the server does: a server that dies between calls is noticed here
        # (a handshake-era one, at its next call).
        import anyio

        with contextlib.suppress(Exception):
            async with server.client.listen(tools_list_changed=True) as subscription:
                async for _ in subscription:
                    server.changed.set()
        try:
            with anyio.fail_after(self.call_timeout):
                await server.client.list_tools()
        except Exception as exc:  # noqa: BLE001 - only a closed connection means it is gone
            if _closed(exc):
                await self._lost(server, "its connection closed")

    async def _follow_changes(self, server: _Server) -> None:
        # Only while it runs: a change announced after it was lost would otherwise be waited
        # for and not followed, over and over, without ever yielding.
        while server.state is ServerState.RUNNING:
            await server.changed.wait()
            await self._follow_change(server)

    async def _follow_change(self, server: _Server) -> None:
        """Re-list the tools of a server that announced a change, and announce them all."""
        import anyio

        async with server.relisting:
            if not server.changed.is_set() or server.state is not ServerState.RUNNING:
                return
            server.changed.clear()
            if server.fault is not None:
                await self._lost(server, server.fault)
                return
            try:
                with anyio.fail_after(self.call_timeout):
                    tools = await self._list(server)
            except Exception as exc:  # noqa: BLE001 - the old tools stay; the server's trouble is a line
                if _closed(exc):
                    await self._lost(server, "its connection closed")
                else:
                    self._problem(f"mcp server {server.spec.label}: its changed tools could not be listed: "
                                  f"{_describe(exc)}")
                return
            server.tools = self._within_budget(server.spec.label, tools)
            await self._tools_changed()

    def _fault(self, server: _Server, why: str) -> None:
        """Stop a server from the SDK's reader, which must not wait for ``on_tools_changed``:
        its runner (or the caller that follows changes) stops it."""
        if server.fault is not None:
            return
        server.fault = why
        if server.state is ServerState.STARTING and server.scope is not None:
            server.scope.cancel()
        else:
            server.changed.set()

    # -- names, announcements and problems --------------------------------------------

    def _within_budget(self, label: str, tools: list[LocalTool]) -> list[LocalTool]:
        """``tools`` but those that would take a server past :data:`NAMES_PER_SERVER` names."""
        room = NAMES_PER_SERVER - sum(1 for owner, _ in self._names if owner == label)
        kept, left_out = [], []
        for tool in tools:
            if (label, tool.name) in self._names:
                kept.append(tool)
            elif room > 0:
                kept.append(tool)
                room -= 1
            else:
                left_out.append(tool)
        if left_out:
            self._problem(f"mcp server {label}: new tools are left out, it has been given {NAMES_PER_SERVER} "
                          f"function names: {', '.join(tool.name for tool in left_out)}")
        return kept

    def _assign(self) -> None:
        listing = [(server.spec.label, tool.name) for server in self._servers for tool in server.tools]
        self._names = assign_names(listing, self.reserved, self._names)
        self._by_function = {}
        for server in self._servers:
            server.tools = [dataclasses.replace(tool, function_name=self._names[tool.label, tool.name])
                            for tool in server.tools]
            self._by_function.update((tool.function_name, (server, tool)) for tool in server.tools)

    async def _tools_changed(self) -> None:
        if not self._open:
            return  # entering assigns every server's names at once, in the order of the specs
        self._assign()
        if self.on_tools_changed is None:
            return
        try:
            outcome = self.on_tools_changed(self.tools)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:  # noqa: BLE001 - the callback's failure must not end a runner
            self._problem(f"on_tools_changed failed: {_describe(exc)}")

    async def _lost(self, server: _Server, why: str) -> None:
        if server.state is not ServerState.RUNNING or server.stop.is_set():
            return
        server.state = ServerState.LOST
        self._problem(f"mcp server {server.spec.label} stopped ({why}); its tools are withdrawn{self._see(server)}")
        try:
            await self._tools_changed()
        finally:
            server.stop.set()  # after the announcement: the runner's own task may be making it

    def _failed(self, server: _Server, why: str) -> None:
        server.state = ServerState.FAILED
        self._problem(f"mcp server {server.spec.label} did not start: {why}{self._see(server)}")

    def _see(self, server: _Server) -> str:
        return f" (its stderr is in {self._log.path})" if self._log.path and server.spec.command else ""

    def _problem(self, message: str) -> None:
        self.on_problem(printable(self._redact(message), limit=500))


# -- pure helpers --------------------------------------------------------------------


def assign_names(
    listing: Iterable[tuple[str, str]], reserved: Iterable[str], previous: dict[tuple[str, str], str]
) -> dict[tuple[str, str], str]:
    """Function names for ``(label, tool name)`` pairs: deterministic, unique, valid.

    Returns ``previous`` (every name given before, whether or not its pair is still
    listed) with names for the new pairs of ``listing``: a name is never given to two
    pairs. A new tool keeps its own (sanitized) name when no other new tool shares it
    and it is neither given before nor ``reserved``; otherwise it becomes
    ``label_name``, and ``label_name_2``, ... if even that is taken.
    """
    names = dict(previous)
    taken = set(reserved) | set(names.values())
    fresh = [pair for pair in dict.fromkeys(listing) if pair not in names]
    shared = Counter(_sanitize(name) for _, name in fresh)
    for label, name in fresh:
        own = _sanitize(name)
        wanted = own if shared[own] == 1 and own not in taken else _sanitize(f"{label}_{name}")
        names[label, name] = _unique(wanted, taken)
        taken.add(names[label, name])
    return names


def _sanitize(name: str) -> str:
    return _INVALID_NAME_CHARS.sub("_", name)[:NAME_LIMIT] or "tool"


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        suffix = f"_{number}"
        candidate = name[: NAME_LIMIT - len(suffix)] + suffix
    return candidate


def _offer(label: str, listed: Iterable[_SdkTool]) -> tuple[list[LocalTool], list[str]]:
    """The tools of one listing that may be offered, and one line for each kind left out."""
    tools: list[LocalTool] = []
    long_names, big_schemas = [], []
    for tool in listed:
        if not 0 < len(tool.name) <= TOOL_NAME_LIMIT:
            long_names.append(repr(tool.name[:40]))
        elif (local := _local_tool(label, tool)) is None:
            big_schemas.append(tool.name)
        else:
            tools.append(local)
    left_out = [f"{why}, left out: {', '.join(names)}" for why, names in (
        (f"tools whose name is empty or over {TOOL_NAME_LIMIT} characters", long_names),
        (f"tools whose parameters are over {SCHEMA_LIMIT} bytes of JSON", big_schemas)) if names]
    if len(tools) > TOOL_LIMIT:
        left_out.append(f"it offers more than {TOOL_LIMIT} tools; only the first {TOOL_LIMIT} are offered")
    return tools[:TOOL_LIMIT], left_out


def _local_tool(label: str, tool: _SdkTool) -> LocalTool | None:
    """A listed tool as offered, or None when its parameters are over :data:`SCHEMA_LIMIT`."""
    parameters = _parameters(tool.input_schema)
    try:
        size = len(json.dumps(parameters, separators=(",", ":")))  # ASCII: characters are bytes
    except (ValueError, RecursionError):
        return None
    if size > SCHEMA_LIMIT:
        return None
    hints = tool.annotations
    read_only = bool(hints and hints.read_only_hint)
    destructive = not read_only and (hints is None or hints.destructive_hint is None or hints.destructive_hint)
    description = tool.description or tool.title or ""
    if len(description) > DESCRIPTION_LIMIT:
        description = description[: DESCRIPTION_LIMIT - 1] + "…"
    return LocalTool(label=label, name=tool.name, function_name=tool.name, description=description,
                     parameters=parameters, read_only=read_only, destructive=bool(destructive))


def _parameters(schema: object) -> dict[str, Any]:
    """An MCP input schema as a function tool's parameters: an object schema with properties."""
    parameters = {key: value for key, value in schema.items() if key != "$schema"} if isinstance(schema, dict) else {}
    parameters["type"] = "object"
    if not isinstance(parameters.get("properties"), dict):
        parameters["properties"] = {}
    return parameters


def _output(result: _ToolResult) -> tuple[str, bool]:
    """A ``CallToolResult`` as a function_call_output (see :func:`_carried` for structured content)."""
    text = "\n".join(_block_text(block) for block in result.content)
    if result.is_error:
        return _error(text or "the tool failed without saying why")
    structured = result.structured_content
    if structured is not None and not _carried(text, structured):
        text = json.dumps({"content": text, "structured": structured}, ensure_ascii=False, default=str)
    return _cut(text), False


def _carried(text: str, structured: object) -> bool:
    """True when ``text`` already says what ``structured`` does: it is its JSON (the MCP spec's
    advice to servers) or the SDKs' ``{"result": value}`` wrapping of a plain return value."""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    return structured in (parsed, {"result": parsed}, {"result": text})


def _block_text(block: Any) -> str:
    """One content block as text: text as it is, media and blobs as a one-line summary."""
    match block.type:
        case "text":
            return block.text
        case "image" | "audio":
            return f"[{block.type}: {block.mime_type}, {len(block.data) * 3 // 4} bytes]"
        case "resource_link":
            return f"[resource link: {block.name} {block.uri}]"
        case "resource" if hasattr(block.resource, "text"):
            return f"[resource {block.resource.uri}]\n{block.resource.text}"
        case "resource":
            size = len(block.resource.blob) * 3 // 4
            return f"[resource {block.resource.uri}: {block.resource.mime_type or 'binary'}, {size} bytes]"
        case other:
            return f"[{other} content]"


def _cut(text: str) -> str:
    if len(text) <= OUTPUT_LIMIT:
        return text
    return text[:OUTPUT_LIMIT] + f"… [cut: {len(text)} characters in all]"


def _error(message: str) -> tuple[str, bool]:
    return json.dumps({"error": _cut(message)}, ensure_ascii=False), True


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _closed(exc: BaseException) -> bool:
    """True for the SDK's "the connection is gone" (a stdio server that exited, a dropped HTTP session)."""
    from mcp import MCPError
    from mcp_types import CONNECTION_CLOSED

    exc = _leaf(exc)
    return isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED


def _describe(exc: BaseException) -> str:
    """One line for a failure: the first leaf of an exception group, the OS's words for a command."""
    from mcp import MCPError

    if _closed(exc):
        return "it closed the connection (did it exit?)"
    exc = _leaf(exc)
    match exc:
        case MCPError():
            return exc.message
        case TimeoutError():
            return "it did not answer in time"
        case OSError(filename=filename, strerror=strerror) if strerror:
            return f"{filename}: {strerror}" if filename else strerror
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _stray_text(exc: Exception) -> str | None:
    """The offending stdout text, when the SDK's parse error carries it."""
    errors = getattr(exc, "errors", None)
    found = errors()[0].get("input") if callable(errors) and errors() else None
    return found if isinstance(found, str) else None


def _stray_line(exc: Exception) -> str:
    found = _stray_text(exc)
    return repr(found[:80]) if found is not None else _describe(exc)


def _was_cut(exc: Exception) -> bool:
    """True for the parse error of a stdout line :class:`rtproto._mcp_io._BoundedLines` cut."""
    found = _stray_text(exc)
    return found is not None and found.endswith(_CUT)


def _announces_on_listen(client: Client) -> bool:
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    tools = client.server_capabilities.tools
    return client.protocol_version in MODERN_PROTOCOL_VERSIONS and bool(tools and tools.list_changed)


def _redactor(specs: Iterable[LocalServerSpec], session: Secrets | None) -> Callable[[str], str]:
    """Redaction of non-JSON text: the ``session`` secrets and the specs' env values and URL credentials."""
    own = Secrets()
    if session is not None:
        own.update(session)
    for spec in specs:
        for value in (spec.env or {}).values():
            own.add(value)
        own.add_url(spec.url)
    return own.raw_text


def _twice(labels: list[str]) -> set[str]:
    return {label for label, count in Counter(labels).items() if count > 1}


def require_sdk() -> None:
    """Raise :class:`RtprotoError` naming the extra to install when the ``mcp`` package is missing."""
    try:
        import mcp  # noqa: F401
    except ImportError as exc:
        raise RtprotoError(MISSING_SDK) from exc
