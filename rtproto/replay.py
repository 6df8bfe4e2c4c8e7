"""Offline replay: feed a recorded transcript into a fresh session core and check that
the core makes the same decisions the recorded client made.

Theory of operation
-------------------
The transcript's lines are fed in file order into one :class:`~rtproto.session.Session`:

* server lines are decoded (``decode_server(api=transcript.api)``) and passed to
  :meth:`Session.receive`;
* local lines go to :meth:`Session.local` (``approval.answer``,
  ``playback.cleared``, ``function.result``, ``text.input`` and ``tools.changed``
  repeat what a person, a speaker or a tool did, that an approval question timed
  out, or that a local MCP server's tools changed; other local lines, such as a
  local MCP tool's ``tool.call``, are ignored);
* client lines are split in two. Those the *app* originates are decoded and
  passed to :meth:`Session.send`, which validates and tracks them exactly as it
  did live. Those the *core* derives from what happened are not fed in: they are
  the **expected** events, and the client events the core returns are the
  **produced** ones.

A recorded client event is *derived* when it is

* a ``conversation.item.truncate`` or a ``response.cancel``;
* a ``conversation.item.create`` of an ``mcp_approval_response`` or a
  ``function_call_output`` item;
* a ``conversation.item.create`` of a user message made only of ``input_text``
  parts whose text is that of an earlier, not yet matched ``text.input`` line;
* a ``response.create``, unless the line just before it (audio appends aside) is a
  client event the app originated: an app that commits its audio buffer or adds
  an item and then asks for a response sends both back to back, with no server
  or local line between them, whereas the core's follow-ups always answer a
  server or local line, or its own derived item.

Everything else (``session.update``, audio appends, commits, clears, other items)
is app-originated.

Only GA transcripts are replayed for now: the session core handles GA events.

Expected and produced events are compared as sequences, in order, ignoring
``event_id``, the generated ``id`` of approval responses, a ``null`` ``reason``,
and audio bytes. Each difference becomes a human-readable mismatch naming the
transcript line. A recorded derived event that comes *earlier* than the core
would send it (before the server or local line that triggers it) is a mismatch
too; one that comes later is not, as a live client may lag behind its input.
Illegal app events (:class:`~rtproto.errors.LocalProtocolError`) and, in strict
mode, server events that break the protocol or cannot be decoded are reported as
mismatches and skipped.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from rtproto.actions import Notice, Output, ProtocolViolation, Send
from rtproto.errors import LocalProtocolError, ProtocolError, RemoteProtocolError, TranscriptError
from rtproto.events import decode_client, decode_server, to_dict
from rtproto.policy import ToolPolicy
from rtproto.session import Session
from rtproto.transcript import RAW_FRAME_TYPE, Line, Transcript, iter_transcript

__all__ = ["DERIVED_TYPES", "Produced", "Recorded", "ReplayNotice", "ReplayResult", "replay", "replay_lines"]

#: Client event types that may be derived (see the module docstring for the exact rule).
DERIVED_TYPES = frozenset({"response.create", "response.cancel", "conversation.item.truncate",
                           "conversation.item.create"})
_DERIVED_ITEMS = frozenset({"mcp_approval_response", "function_call_output"})
_APPEND = "input_audio_buffer.append"


@dataclass(frozen=True)
class Recorded:
    """A derived client event as recorded: its line, time, event and how many server
    and local lines preceded it (``slot``)."""

    lineno: int
    t: float
    event: dict[str, Any]
    slot: int


@dataclass(frozen=True)
class Produced:
    """A client event the core produced while processing line ``lineno`` at time ``t``;
    ``slot`` counts the server and local lines processed so far."""

    lineno: int
    t: float
    event: dict[str, Any]
    slot: int


class ReplayNotice(NamedTuple):
    """A notice the core produced while processing line ``lineno`` (at time ``t``)."""

    t: float
    lineno: int
    notice: Notice


@dataclass
class ReplayResult:
    """What a replay found; ``ok`` when the core agrees with the recording."""

    expected: list[Recorded]
    produced: list[Produced]
    mismatches: list[str]
    notices: list[ReplayNotice]
    session: Session

    @property
    def ok(self) -> bool:
        """True when there is no mismatch."""
        return not self.mismatches


def replay(
    transcript: Transcript | str | os.PathLike[str],
    *,
    policy: ToolPolicy | None = None,
    function_tools: Iterable[str] | None = None,
    strict: bool = True,
    on_notice: Callable[[ReplayNotice], None] | None = None,
) -> ReplayResult:
    """Replay ``transcript`` (or the transcript file at that path) into a fresh session.

    ``policy`` defaults to the header's ``"policy": {"allow": [...], "ask": [...]}``
    (none: allow every MCP tool the recording names, as a recording made without
    a policy did); ``function_tools`` defaults to the function tools of
    the recorded ``session.update`` events. ``strict`` makes server misbehaviour a
    mismatch (the event is skipped) instead of a ``ProtocolViolation`` notice.
    ``on_notice``, when given, receives each notice as it is produced instead of
    :attr:`ReplayResult.notices` keeping it. A file is read as a stream (twice
    when ``function_tools`` is not given), so memory does not grow with its
    length. Only GA transcripts can be replayed for now (:class:`TranscriptError` otherwise).
    """
    if isinstance(transcript, Transcript):
        header, path, lines = transcript.header, transcript.path, lambda: iter(transcript.lines)
    else:
        path = os.fspath(transcript)
        header, first = iter_transcript(path)
        first.close()
        lines = lambda: iter_transcript(path)[1]  # noqa: E731 - a second read of the file
    return replay_lines(header, lines, path=path, policy=policy, function_tools=function_tools,
                        strict=strict, on_notice=on_notice)


def replay_lines(
    header: dict[str, Any],
    lines: Callable[[], Iterable[Line]],
    *,
    path: str | None = None,
    policy: ToolPolicy | None = None,
    function_tools: Iterable[str] | None = None,
    strict: bool = True,
    on_notice: Callable[[ReplayNotice], None] | None = None,
) -> ReplayResult:
    """:func:`replay` of a header and a source of its lines (``lines()`` iterates
    them from the start; it is called twice when ``function_tools`` is not given)."""
    api = header.get("api")
    if api != "ga":
        raise TranscriptError(f"replay supports GA transcripts only, this one has api {api!r}", line=1, path=path)
    if policy is None:
        policy = _header_policy(header, path)
    if policy is None or function_tools is None:
        functions, mcp_tools = _recorded_tools(lines())
        policy = policy or ToolPolicy(allow=mcp_tools)
        function_tools = functions if function_tools is None else function_tools
    run = _Replayer(api, Session(policy=policy, function_tools=function_tools, strict=strict), on_notice)
    for line in lines():
        run.feed(line)
    run.compare()
    return run.result


def recorded_function_tools(transcript: Transcript | Iterable[Line]) -> set[str]:
    """Names of the function tools declared by the recorded ``session.update`` events."""
    return _recorded_tools(transcript.lines if isinstance(transcript, Transcript) else transcript)[0]


_MCP_ITEMS = frozenset({"mcp_call", "mcp_approval_request"})


def _recorded_tools(lines: Iterable[Line]) -> tuple[set[str], set[str]]:
    # (function tools declared by session.update before any tools.changed line, which sets the
    # tools from then on; MCP tools named by the server's items).
    names: set[str] = set()
    mcp: set[str] = set()
    changed = False
    for line in lines:
        changed = changed or (line.dir == "local" and line.type == "tools.changed")
        if line.dir == "server":
            item = line.event.get("item")
            if isinstance(item, dict) and item.get("type") in _MCP_ITEMS and isinstance(item.get("name"), str):
                mcp.add(item["name"])
        if line.dir != "client" or line.type != "session.update" or changed:
            continue
        session = line.event.get("session")
        tools = session.get("tools") if isinstance(session, dict) else None
        for tool in tools if isinstance(tools, list) else ():
            if isinstance(tool, dict) and tool.get("type") in (None, "function") and isinstance(tool.get("name"), str):
                names.add(tool["name"])
    return names, mcp


def _header_policy(header: dict[str, Any], path: str | None) -> ToolPolicy | None:
    data = header.get("policy")
    if data is None:
        return None
    try:
        return ToolPolicy.from_dict(data)
    except ValueError as exc:
        raise TranscriptError(f"header 'policy': {exc}", line=1, path=path) from None


class _Replayer:
    # Feeds lines into the session and collects expected, produced and notices.

    def __init__(self, api: str, session: Session, on_notice: Callable[[ReplayNotice], None] | None):
        self.api = api
        self.session = session
        self.result = ReplayResult([], [], [], [], session)
        self.notice = on_notice or self.result.notices.append
        self.slot = 0  # server and local lines fed so far
        self.typed: list[str] = []  # text.input texts not yet matched by a recorded item
        self.after_app = False  # the last line (appends aside) was an app-originated client event

    def feed(self, line: Line) -> None:
        {"server": self._server, "local": self._local, "client": self._client}[line.dir](line)

    def _server(self, line: Line) -> None:
        self.slot += 1
        self.after_app = False
        try:
            event = _decode(line, decode_server, self.api)
        except ProtocolError as exc:
            self._misbehaviour(line, f"undecodable server event: {exc}")
            return
        self._run(line, lambda: self.session.receive(event, line.t))

    def _local(self, line: Line) -> None:
        self.slot += 1
        self.after_app = False
        if line.type == "text.input" and isinstance(line.event.get("text"), str):
            self.typed.append(line.event["text"])
        self._run(line, lambda: self.session.local(line.event, line.t))

    def _client(self, line: Line) -> None:
        if line.type == RAW_FRAME_TYPE:
            return  # not JSON: nothing a session could have sent
        if self._derived(line.event):
            self.result.expected.append(Recorded(line.lineno, line.t, line.event, self.slot))
            self.after_app = False
            return
        try:
            event = _decode(line, decode_client, self.api)
        except ProtocolError as exc:
            self.result.mismatches.append(f"line {line.lineno}: undecodable client event: {exc}")
            return
        self._run(line, lambda: self.session.send(event, line.t)[1:])  # [0] is the app's own event
        self.after_app = self.after_app if line.type == _APPEND else True

    def _derived(self, event: dict[str, Any]) -> bool:
        kind = event["type"]
        if kind == "response.create":
            return not self.after_app
        if kind != "conversation.item.create":
            return kind in DERIVED_TYPES
        item = event.get("item")
        if not isinstance(item, dict):
            return False
        if item.get("type") in _DERIVED_ITEMS:
            return True
        text = _typed_text(item)
        if text is not None and text in self.typed:
            self.typed.remove(text)
            return True
        return False

    def _run(self, line: Line, call: Callable[[], list[Output]]) -> None:
        try:
            outputs = call()
        except RemoteProtocolError as exc:
            self.result.mismatches.append(f"line {line.lineno}: the server broke the protocol: {exc}")
            return
        except LocalProtocolError as exc:
            self.result.mismatches.append(f"line {line.lineno}: illegal {line.type}: {exc}")
            return
        self._collect(line, outputs)

    def _collect(self, line: Line, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Send):
                self.result.produced.append(Produced(line.lineno, line.t, to_dict(output.event), self.slot))
            elif isinstance(output, Notice):
                self.notice(ReplayNotice(line.t, line.lineno, output))

    def _misbehaviour(self, line: Line, message: str) -> None:
        if self.session.strict:
            self.result.mismatches.append(f"line {line.lineno}: {message}")
        else:
            self.notice(ReplayNotice(line.t, line.lineno, ProtocolViolation(message)))

    def compare(self) -> None:
        expected, produced = self.result.expected, self.result.produced
        matcher = difflib.SequenceMatcher(None, [_key(r.event) for r in expected],
                                          [_key(p.event) for p in produced], autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            self.result.mismatches.extend(_differences(tag, expected[i1:i2], produced[j1:j2]))
        self.result.mismatches.sort(key=_line_of)


def _differences(tag: str, recorded: list[Recorded], produced: list[Produced]) -> list[str]:
    if tag == "equal":
        return [f"line {r.lineno}: {_describe(r.event)} was sent before the core would send it "
                f"(after line {p.lineno})" for r, p in zip(recorded, produced) if r.slot < p.slot]
    out = []
    for r, p in zip(recorded, produced):
        out.append(f"line {r.lineno}: the recording has {_describe(r.event)} where the core produced "
                   f"{_describe(p.event)} (after line {p.lineno})")
    for r in recorded[len(produced):]:
        out.append(f"line {r.lineno}: the recording has {_describe(r.event)}, "
                   "which the core did not produce (unexpected or duplicate)")
    for p in produced[len(recorded):]:
        out.append(f"line {p.lineno}: after this line the core produced {_describe(p.event)}, "
                   "missing from the recording")
    return out


def _line_of(message: str) -> int:
    return int(message.split(":", 1)[0].removeprefix("line "))


def _decode(line: Line, decode: Callable[..., Any], api: str) -> Any:
    if line.type == RAW_FRAME_TYPE:
        raise ProtocolError("the frame is not a JSON object")
    return decode(orjson.dumps(line.event), api=api)


def _typed_text(item: dict[str, Any]) -> str | None:
    # The text of a user message made only of input_text parts, else None.
    content = item.get("content")
    if item.get("type") != "message" or item.get("role") != "user" or not isinstance(content, list) or not content:
        return None
    if not all(isinstance(part, dict) and part.get("type") == "input_text" for part in content):
        return None
    return "".join(str(part.get("text", "")) for part in content)


def _shape(value: Any, key: str | None = None) -> Any:
    # What is compared: no event_id, no generated approval-response id, no null reason, no audio bytes.
    if isinstance(value, dict):
        shaped = {k: _shape(v, k) for k, v in value.items() if k != "event_id"}
        if shaped.get("type") == "mcp_approval_response":
            shaped.pop("id", None)
            if shaped.get("reason") is None:
                shaped.pop("reason", None)
        return shaped
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return "<audio>" if key == "audio" and isinstance(value, str) else value


def _key(event: dict[str, Any]) -> bytes:
    return orjson.dumps(_shape(event), option=orjson.OPT_SORT_KEYS)


def _describe(event: dict[str, Any]) -> str:
    kind = event.get("type")
    item = event.get("item") if isinstance(event.get("item"), dict) else {}
    details = {
        "conversation.item.create": lambda: _describe_item(item),
        "conversation.item.truncate": lambda: f"item_id={event.get('item_id')} audio_end_ms={event.get('audio_end_ms')}",
        "response.cancel": lambda: f"response_id={event.get('response_id')}",
    }.get(kind)
    return f"{kind} ({details()})" if details else str(kind)


def _describe_item(item: dict[str, Any]) -> str:
    kind = item.get("type")
    if kind == "mcp_approval_response":
        reason = f" reason={item['reason']!r}" if item.get("reason") is not None else ""
        return f"mcp_approval_response {item.get('approval_request_id')} approve={item.get('approve')}{reason}"
    if kind == "function_call_output":
        return f"function_call_output {item.get('call_id')} output={str(item.get('output'))[:60]!r}"
    text = _typed_text(item)
    return f"user text {text[:60]!r}" if text is not None else str(kind)
