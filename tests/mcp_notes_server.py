"""A tiny notes MCP server over stdio, written with the MCP SDK's own server API.

Run it as ``python tests/mcp_notes_server.py [FLAGS]``. It serves three real tools:
``read_note(title)`` and ``list_notes()`` (read-only) and ``write_note(title, text)``
(destructive). The notes live in memory, or in the JSON file named by ``NOTES_FILE``
so that a test can see a write happen.

Test-only behaviour, one flag each (every flag adds the tools it names):

``--fail-start``      write a line to stderr and exit 3 before serving
``--banner``          write a line that is not JSON-RPC to stdout before serving (``NOTES_BANNER``,
                      else ``Notes server ready!``)
``--legacy``          serve only the handshake-era protocol (2025 ``initialize``), not 2026-07-28
``--http``            serve streamable HTTP on 127.0.0.1 (a free port) instead of stdio; the first
                      line on stdout is the URL (``http://127.0.0.1:PORT/mcp``)
``--print-secret``    write ``the secret is $NOTES_SECRET`` to stderr and to stdout at start
``--bulky-tools``     ``wordy()`` has a 3000-character description, ``huge(choice)`` a 20 KB schema,
                      a tool has a 200-character name, and ``t000()`` ... ``t129()`` are more tools
``--hang-tool``       ``hang()`` never returns
``--crash-tool``      ``crash()`` ends the process (exit 1) mid-call
``--garbage-tool``    ``garble()`` writes a line that is not JSON-RPC to stdout instead of a result
``--extra-tools``     ``fail()`` returns isError; ``stats()`` returns structured content;
                      ``picture()`` returns a large image; ``big(n)`` returns ``n`` characters;
                      ``shout(text)`` writes ``text`` to stderr; ``add_tool(name)`` adds a tool and
                      announces tools/list_changed; ``find.note(query)`` has a name the Realtime API
                      would refuse

Every start writes ``notes server up (pid N)`` to stderr.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import anyio
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.runner import serve_loop
from mcp.server.stdio import stdio_server
from mcp_types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from pydantic import Field

READ_ONLY = ToolAnnotations(read_only_hint=True)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True)


class Notes:
    """The notes, in memory or in the JSON file ``NOTES_FILE``."""

    def __init__(self, path: str | None):
        self.path = Path(path) if path else None
        self.memory: dict[str, str] = {}

    def load(self) -> dict[str, str]:
        if self.path is None:
            return self.memory
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def save(self, notes: dict[str, str]) -> None:
        if self.path is None:
            self.memory = notes
        else:
            self.path.write_text(json.dumps(notes))


def build(flags: set[str], notes: Notes, wire: int) -> MCPServer:
    """The server with the tools ``flags`` ask for; ``wire`` is the real stdout."""
    server = MCPServer("notes", instructions="Notes kept by title.")

    @server.tool(description="Read the note with this title.", annotations=READ_ONLY)
    def read_note(title: str) -> str:
        found = notes.load().get(title)
        if found is None:
            raise ToolError(f"no note titled {title!r}")
        return found

    @server.tool(description="Write (or overwrite) the note with this title.", annotations=DESTRUCTIVE)
    def write_note(title: str, text: str) -> str:
        current = notes.load()
        current[title] = text
        notes.save(current)
        return f"saved {title!r}"

    @server.tool(description="The titles of all notes.", annotations=READ_ONLY)
    def list_notes() -> str:
        return "\n".join(sorted(notes.load())) or "(no notes)"

    if "--hang-tool" in flags:
        @server.tool(description="Never returns.")
        async def hang() -> str:
            await anyio.sleep_forever()
            return "unreachable"

    if "--crash-tool" in flags:
        @server.tool(description="Ends the server process.")
        def crash() -> str:
            sys.stderr.write("notes server crashing on purpose\n")
            sys.stderr.flush()
            os._exit(1)

    if "--garbage-tool" in flags:
        @server.tool(description="Writes garbage to stdout and never answers.")
        async def garble() -> str:
            os.write(wire, b"this is not JSON-RPC \x1b[31m\n")
            await anyio.sleep_forever()
            return "unreachable"

    if "--extra-tools" in flags:
        _add_extra_tools(server)
    if "--bulky-tools" in flags:
        _add_bulky_tools(server)
    return server


def _add_bulky_tools(server: MCPServer) -> None:
    @server.tool(description="w" * 3000)
    def wordy() -> str:
        return "wordy"

    @server.tool(description="A tool whose input schema is about 20 KB.")
    def huge(choice: Annotated[str, Field(description="c" * 20_000)]) -> str:
        return choice

    def plain() -> str:
        return "plain"

    server.add_tool(plain, name="n" * 200, description="A tool with a 200-character name.")
    for number in range(130):
        server.add_tool(plain, name=f"t{number:03}", description="One of many.")


def _add_extra_tools(server: MCPServer) -> None:
    @server.tool(description="Always fails.")
    def fail() -> str:
        raise ToolError("the disk is full")

    @server.tool(description="Counts of things.", structured_output=False)
    def stats() -> CallToolResult:
        return CallToolResult(
            content=[TextContent(type="text", text="2 notes")],
            structured_content={"notes": 2, "words": 7},
        )

    @server.tool(description="A large picture.", structured_output=False)
    def picture() -> CallToolResult:
        data = base64.b64encode(b"\x89PNG" + bytes(300_000)).decode()
        return CallToolResult(content=[ImageContent(type="image", data=data, mime_type="image/png")])

    @server.tool(description="A long text of n characters.", structured_output=False)
    def big(n: int) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text="x" * n)])

    @server.tool(description="Writes text to stderr.")
    def shout(text: str) -> str:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
        return "shouted"

    @server.tool(description="Adds a tool named `name` and announces the change.")
    async def add_tool(name: str, ctx: Context) -> str:
        def added() -> str:
            return f"I am {name}"

        server.add_tool(added, name=name, description=f"Added at run time: {name}.", annotations=READ_ONLY)
        await ctx.notify_tools_changed()  # 2026-07-28 clients: their subscriptions/listen stream
        await ctx.session.send_tool_list_changed()  # handshake-era clients (dropped on a modern connection)
        return f"added {name}"

    @server.tool(name="find.note", description="Titles containing the query.", annotations=READ_ONLY)
    def find_note(query: str) -> str:
        return query


async def serve(server: MCPServer, legacy: bool) -> None:
    """Serve over stdio: both protocol eras, or with ``legacy`` the handshake era only."""
    lowlevel = server._lowlevel_server  # the MCPServer's own lowlevel Server (no public accessor)
    options = lowlevel.create_initialization_options(NotificationOptions(tools_changed=True))
    async with stdio_server() as (read_stream, write_stream):
        if not legacy:
            await lowlevel.run(read_stream, write_stream, options)
            return
        async with lowlevel.lifespan(lowlevel) as state:
            await serve_loop(lowlevel, read_stream, write_stream, lifespan_state=state, init_options=options)


def serve_http(server: MCPServer) -> None:
    """Serve streamable HTTP on a free port of 127.0.0.1, announcing the URL on stdout."""
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts: the URL is usable once printed
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/mcp", flush=True)
    uvicorn.Server(uvicorn.Config(server.streamable_http_app(), log_level="warning")).run(sockets=[sock])


def main(argv: list[str]) -> None:
    flags = set(argv)
    sys.stderr.write(f"notes server up (pid {os.getpid()})\n")
    sys.stderr.flush()
    if "--fail-start" in flags:
        sys.stderr.write("notes server: cannot start (asked to fail)\n")
        sys.exit(3)
    if "--print-secret" in flags:
        line = f"the secret is {os.environ.get('NOTES_SECRET')}\n"
        sys.stderr.write(line)
        sys.stderr.flush()
        os.write(1, line.encode())
    if "--banner" in flags:
        os.write(1, os.environ.get("NOTES_BANNER", "Notes server ready!").encode() + b"\n")
    wire = os.dup(1)  # the real stdout: stdio_server points fd 1 at stderr while it serves
    server = build(flags, Notes(os.environ.get("NOTES_FILE")), wire)
    if "--http" in flags:
        serve_http(server)
    else:
        anyio.run(serve, server, "--legacy" in flags)


if __name__ == "__main__":
    main(sys.argv[1:])
