"""Helpers to test Realtime apps against a local server, without the network.

Script a conversation in code, or load a recorded transcript, and serve it::

    script = (
        ScriptBuilder()
        .server("session.created", event_id="event_1", session={"type": "realtime"})
        .expect_client("session.update")
        .server("session.updated", event_id="event_2", session={"type": "realtime"})
        .expect_client("response.create")
        .server("response.created", event_id="event_3", response={"id": "resp_1"}, after_ms=20)
        .close(1011, "server error")
        .build()
    )
    async with serve_transcript(script, speed="max") as server:
        await my_app(url=server.url)          # connects to ws://127.0.0.1:PORT/v1/realtime
        session = await server.wait_session_done()
        assert not session.departures

Test how your app survives a misbehaving server with :func:`serve_with_faults`
(:mod:`rtproto.faults`: closes, drops, silence, refused handshakes, hostile
frames, the real server's error events, each at a chosen moment)::

    faults = [Fault.close(1011, "boom", when=after_server("response.created"))]
    async with serve_with_faults(script, faults_per_connection=[faults, []], speed="max") as server:
        await my_app(url=server.url)          # the first connection fails, the second one is clean
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from rtproto.faults import ON_OPEN, Fault, FaultedConnection, FaultServer, Trigger, after_client, after_server
from rtproto.server import RealtimeServer
from rtproto.transcript import CONNECTION_CLOSED, Line, Transcript

__all__ = [
    "ON_OPEN",
    "Fault",
    "FaultServer",
    "FaultedConnection",
    "ScriptBuilder",
    "Trigger",
    "after_client",
    "after_server",
    "serve_transcript",
    "serve_with_faults",
]


class ScriptBuilder:
    """Build a :class:`~rtproto.transcript.Transcript` step by step (methods chain).

    Each step happens ``after_ms`` (default 0) after the previous one; the
    server replays those gaps unless it runs with ``speed="max"``.
    ``header`` keys go into the transcript header (``api`` defaults to ``"ga"``).
    """

    def __init__(self, **header: Any):
        self._header = {"api": "ga", **header}
        self._lines: list[Line] = []
        self._t = 0.0

    def server(self, event: Mapping[str, Any] | str, /, *, after_ms: float = 0.0, **fields: Any) -> ScriptBuilder:
        """Add a server event: a mapping, or a ``type`` string plus its fields as keywords."""
        return self._add("server", _event(event, fields), after_ms)

    def expect_client(self, event: Mapping[str, Any] | str, /, *, after_ms: float = 0.0) -> ScriptBuilder:
        """Add a client event the server waits for (matched by ``type`` only)."""
        return self._add("client", _event(event, {}), after_ms)

    def local(self, event: Mapping[str, Any], /, *, after_ms: float = 0.0) -> ScriptBuilder:
        """Add a local line (ignored by the server except ``connection.closed``)."""
        return self._add("local", _event(event, {}), after_ms)

    def close(self, code: int | None = 1000, reason: str = "", *, after_ms: float = 0.0) -> ScriptBuilder:
        """Make the server close the connection here (1006: drop it without a close frame)."""
        event = {"type": CONNECTION_CLOSED, "code": code, "reason": reason, "by": "server"}
        return self._add("local", event, after_ms)

    def build(self) -> Transcript:
        """Return the validated transcript."""
        return Transcript.from_events(self._header, self._lines)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the transcript to ``path`` (``transcript/1`` JSON Lines) and return the path."""
        self.build().save(path)
        return Path(path)

    def _add(self, direction: str, event: dict[str, Any], after_ms: float) -> ScriptBuilder:
        if after_ms < 0:
            raise ValueError(f"after_ms must be >= 0, got {after_ms}")
        self._t += after_ms
        self._lines.append(Line(self._t, direction, event, len(self._lines) + 2))
        return self


def _event(event: Mapping[str, Any] | str, fields: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(event, str):
        return {"type": event, **fields}
    if fields:
        raise TypeError("give either an event mapping or a type string with keyword fields, not both")
    return dict(event)


@asynccontextmanager
async def serve_transcript(
    source: Transcript | ScriptBuilder | str | os.PathLike[str], **options: Any
) -> AsyncIterator[RealtimeServer]:
    """Run a :class:`~rtproto.server.RealtimeServer` on 127.0.0.1 (a free port) for the block.

    ``source`` is a transcript, a builder or a transcript path; ``options`` go to
    :class:`~rtproto.server.RealtimeServer` (``speed``, ``strict``, ``api_key``, ...).
    """
    if isinstance(source, ScriptBuilder):
        source = source.build()
    async with RealtimeServer(source, **options) as server:
        yield server


@asynccontextmanager
async def serve_with_faults(
    source: Transcript | ScriptBuilder | str | os.PathLike[str],
    *,
    faults: Sequence[Fault] = (),
    faults_per_connection: Sequence[Sequence[Fault]] | None = None,
    **options: Any,
) -> AsyncIterator[FaultServer]:
    """Run a :class:`~rtproto.faults.FaultServer` on 127.0.0.1 (a free port) for the block.

    ``source`` as for :func:`serve_transcript`; ``faults`` apply to every
    connection, ``faults_per_connection[i]`` to connection ``i``; ``options`` go
    to :class:`~rtproto.server.RealtimeServer`. Leaving the block stops the server
    at once, held connections and stalled handshakes included.
    """
    if isinstance(source, ScriptBuilder):
        source = source.build()
    async with FaultServer(source, faults=faults, faults_per_connection=faults_per_connection, **options) as server:
        yield server
