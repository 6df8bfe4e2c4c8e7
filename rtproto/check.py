"""Lint a transcript against rtproto's protocol model.

``python -m rtproto.run check FILE.jsonl`` (or :func:`cli_check`) tells a user
that the API has drifted from the model (unknown event types, unknown or
missing fields, wrong types), or that their app misuses the protocol (client
events the server rejected, ``response.create`` while a response is active, a
truncate beyond the audio received, an approval for an unknown request, a tool
call never answered).

Theory of operation
-------------------

Three checks, each producing :class:`Finding` s (line number, severity, code,
message, JSON path). The file is read as a stream, twice (``schema`` and
``rejected`` on the first read, ``misuse`` on the second, once the tools the
recording names are known), keeping only bounded state, so memory does not
grow with the transcript's length:

``schema``
    Every wire line is decoded with the transcript's API (``decode_server`` /
    ``decode_client``). A :class:`~rtproto.errors.ProtocolError` is a ``schema``
    finding at its JSON path; an unknown ``type`` is ``unknown-type``. Server
    events are read liberally, and each thing that reading let through
    (:func:`rtproto.events.leniencies`) is a finding at its JSON path: a field the
    model does not know is ``unknown-field``, an unknown nested kind or a missing
    required field is ``schema``. On client events these are errors (the server
    rejects them); on server events they are warnings (the model lags behind the
    API). A frame that was
    not a JSON object with a string ``type`` is ``not-json``.
``rejected``
    Each ``error`` event naming a client ``event_id`` is matched to the line of
    that client event; other ``error`` events are ``server-error`` warnings.
``misuse``
    The decoded events (beta ones translated to GA first) are fed, in order,
    into a :class:`rtproto.session.Session`: server events with ``receive``,
    client events with ``send``. A :class:`~rtproto.errors.LocalProtocolError`
    on a client event is app misuse (``misuse``); a
    :class:`~rtproto.actions.ProtocolViolation` on a server event is the server
    breaking the model (``server-misbehaviour``). The session runs in live
    mode, not strict, so that it records the violation and goes on (strict
    mode would raise and leave the response untracked, and every later event
    of it would be reported again). Function calls never given a
    ``function_call_output`` (``unanswered-call``) and approval requests never
    answered (``unanswered-approval``) are warnings at the line of the request:
    a session may end right after one. Local lines are not fed: the recorded
    client events are what the app really sent.

Exit codes of the CLI: 0 clean, 1 findings, 2 bad input (unreadable file, not
a transcript, a line that breaks the file's own structure). What a peer sent
is never bad input: it is a finding.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from rtproto.actions import ProtocolViolation, Send
from rtproto.errors import LocalProtocolError, ProtocolError, TranscriptError
from rtproto.events import ResponseCreate, UnknownEvent, decode_client, decode_server, leniencies
from rtproto.policy import ToolPolicy
from rtproto.session import Session
from rtproto.transcript import RAW_FRAME_TYPE, Line, Transcript, iter_transcript, unreadable
from rtproto.versions import TranslationState, beta_to_ga

__all__ = ["CheckReport", "Finding", "check_file", "check_transcript", "cli_check", "render_check"]


@dataclass(frozen=True)
class Finding:
    """One problem on one transcript line; ``path`` is a JSON path inside the event (``$.item.role``)."""

    line: int
    severity: str  # "error" or "warning"
    code: str
    message: str
    path: str | None = None
    event_type: str | None = None


@dataclass
class CheckReport:
    """The findings of :func:`check_transcript`, sorted by line."""

    file: str
    api: str
    lines: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when there is nothing to report (exit 0)."""
        return not self.findings

    def count(self, severity: str) -> int:
        """How many findings have ``severity``."""
        return sum(f.severity == severity for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready builtins."""
        out = asdict(self)
        out["clean"] = self.clean
        out["errors"], out["warnings"] = self.count("error"), self.count("warning")
        return out

    def to_json(self) -> str:
        """The report as a JSON document."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2).decode()


def check_transcript(transcript: Transcript) -> CheckReport:
    """Lint ``transcript``; see the module docstring for what is checked."""
    return _check(transcript.path or "<transcript>", transcript.api, lambda: iter(transcript.lines))


def check_file(path: str | os.PathLike[str]) -> CheckReport:
    """Lint the transcript file at ``path``, reading it as a stream (twice).

    Memory does not grow with the file's length; raises
    :class:`~rtproto.errors.TranscriptError` or :class:`OSError` for a file
    that cannot be read as a transcript.
    """
    name = os.fspath(path)
    header, lines = iter_transcript(name)
    lines.close()
    return _check(name, header["api"], lambda: iter_transcript(name)[1])


def _check(name: str, api: str, lines: Callable[[], Iterator[Line]]) -> CheckReport:
    # Pass 1: schema and rejections, and what pass 2 needs to know in advance
    # (the tools named, where calls and approvals were first seen); pass 2: misuse.
    report = CheckReport(name, api, 1)
    scan = _Scan(api)
    for line in lines():
        report.lines += 1
        report.findings += scan.line(line)
    if api in ("ga", "beta"):  # the session core models realtime conversations only
        report.findings += _misuse(api, lines(), scan)
    report.findings.sort(key=lambda f: (f.line, f.code))
    return report


# ---------------------------------------------------------------------------
# Schema: decoding, unknown types and fields


def _check_line(line: Line, api: str) -> tuple[Any, list[Finding]]:
    if line.dir == "local":
        return None, []
    if line.type == RAW_FRAME_TYPE:
        text = str(line.event.get("raw", ""))[:60]
        message = f"{line.dir} frame is not a JSON object with a string type: {text!r}"
        return None, [Finding(line.lineno, "error", "not-json", message)]
    decode = decode_server if line.dir == "server" else decode_client
    severity = "warning" if line.dir == "server" else "error"
    try:
        event = decode(orjson.dumps(line.event), api=api)
    except ProtocolError as exc:
        return None, [Finding(line.lineno, "error", "schema", str(exc), _schema_path(exc), exc.event_type or line.type)]
    if isinstance(event, UnknownEvent):
        message = f"unknown {line.dir} event type {line.type!r} (not in the {api} model)"
        return event, [Finding(line.lineno, severity, "unknown-type", message, None, line.type)]
    return event, [_tolerated(line, severity, path, what) for path, what in leniencies(line.event, event)]


def _tolerated(line: Line, severity: str, path: str, what: str) -> Finding:
    # What the lenient server reading let through: drift from the model, with its JSON path.
    if what.startswith("unknown field"):
        return Finding(line.lineno, severity, "unknown-field", f"{line.type}: unknown field at {path}", path, line.type)
    return Finding(line.lineno, severity, "schema", f"{line.type}: {what} at {path}", path, line.type)


_SENT_MEMORY = 65_536  # client event ids remembered, to match the server's errors to them


class _Scan:
    """Pass 1, line by line with bounded state: schema findings, rejections, and what
    pass 2 must know in advance (the tools named, where calls and approvals were first seen)."""

    def __init__(self, api: str):
        self.api = api
        self.sent: dict[str, tuple[int, str]] = {}  # client event_id -> (line, type)
        self.asked: set[str] = set()  # MCP tools with approval requests
        self.called: set[str] = set()  # MCP tools called
        self.functions: set[str] = set()
        self.calls: dict[str, int] = {}  # function call_id -> line first seen
        self.approvals: dict[str, int] = {}  # approval request id -> line first seen

    @property
    def policy(self) -> ToolPolicy:
        """The recording's tools as its client must have treated them: asked about, or allowed."""
        return ToolPolicy(allow=self.called - self.asked, ask=self.asked)

    def line(self, line: Line) -> list[Finding]:
        _, findings = _check_line(line, self.api)
        event_id = line.event.get("event_id")
        if line.dir == "client" and isinstance(event_id, str) and event_id not in self.sent:
            self.sent[event_id] = (line.lineno, line.type)
            if len(self.sent) > _SENT_MEMORY:
                del self.sent[next(iter(self.sent))]
        elif line.dir == "server":
            if line.type == "error":
                findings.append(_rejection(line, self.sent))
            self._note(line)
        return findings

    def _note(self, line: Line) -> None:
        event = line.event
        if isinstance(event.get("call_id"), str):
            self.calls.setdefault(event["call_id"], line.lineno)
        if event.get("type") == "response.function_call_arguments.done" and isinstance(event.get("name"), str):
            self.functions.add(event["name"])
        for item in _items(event):
            kind, name = item.get("type"), item.get("name")
            if kind == "function_call" and isinstance(item.get("call_id"), str):
                self.calls.setdefault(item["call_id"], line.lineno)
            elif kind == "mcp_approval_request" and isinstance(item.get("id"), str):
                self.approvals.setdefault(item["id"], line.lineno)
            if isinstance(name, str):
                names = {"function_call": self.functions, "mcp_call": self.called, "mcp_approval_request": self.asked}
                names.get(kind, set()).add(name)


_MISSING = re.compile(r"missing required field (\w+)")


def _schema_path(exc: ProtocolError) -> str | None:
    # msgspec names a missing field in the message and its parent in the path.
    missing = _MISSING.search(str(exc))
    return f"{exc.path or '$'}.{missing.group(1)}" if missing else exc.path


def _rejection(line: Line, sent: dict[str, tuple[int, str]]) -> Finding:
    error = line.event.get("error") if isinstance(line.event.get("error"), dict) else {}
    message = str(error.get("message") or "no message")
    code = error.get("code") or error.get("type") or "error"
    param = f" (param {error['param']})" if error.get("param") else ""
    culprit = sent.get(error.get("event_id")) if isinstance(error.get("event_id"), str) else None
    if culprit is None:
        return Finding(line.lineno, "warning", "server-error", f"server error {code}: {message}{param}", None, "error")
    lineno, kind = culprit
    text = f"{kind} rejected by the server (error on line {line.lineno}): {code}: {message}{param}"
    return Finding(lineno, "error", "rejected", text, None, kind)


# ---------------------------------------------------------------------------
# Pass 2: protocol misuse, through the session state machine


# Local lines that change what the client may do next: the client re-sent what resume() sends
# (with the recorded budget), or its function tools and policy changed.
_STATE_LINES = ("connection.resumed", "tools.changed")


def _misuse(api: str, lines: Iterator[Line], scan: _Scan) -> list[Finding]:
    replay = _Replay(Session(policy=scan.policy, function_tools=scan.functions))
    translation = TranslationState()
    findings: list[Finding] = []
    for line in lines:
        if line.dir == "local" and line.type in _STATE_LINES:
            try:
                replay.followups += _creates(replay.session.local(line.event, line.t))
            except LocalProtocolError as exc:
                findings.append(Finding(line.lineno, "error", "bad-local-line", str(exc), exc.path, line.type))
            continue
        ga = _ga_event(api, line, _decode_line(line, api), translation)
        if ga is not None:
            findings += replay.server(line, ga[1]) if line.dir == "server" else replay.client(line, ga[1])
    for call_id, call in replay.session.pending_calls.items():
        text = f"function call {call.name!r} (call_id {call_id!r}) never got a function_call_output"
        findings.append(Finding(scan.calls.get(call_id, 0), "warning", "unanswered-call", text, None, None))
    for request_id, request in replay.session.pending_approvals.items():
        text = f"approval request {request_id!r} for mcp tool {request.name!r} was never answered"
        findings.append(Finding(scan.approvals.get(request_id, 0), "warning", "unanswered-approval", text, None, None))
    return findings


def _decode_line(line: Line, api: str) -> Any:
    # The event struct of a wire line, or None (local, raw, or not decodable: pass 1 reported it).
    if line.dir == "local" or line.type == RAW_FRAME_TYPE:
        return None
    decode = decode_server if line.dir == "server" else decode_client
    try:
        return decode(orjson.dumps(line.event), api=api)
    except ProtocolError:
        return None


def _ga_event(api: str, line: Line, event: Any, state: TranslationState) -> tuple[dict[str, Any], Any] | None:
    # (GA JSON, GA struct) of a wire event that decoded; beta is translated first.
    if event is None or isinstance(event, UnknownEvent):
        return None
    if api == "ga":
        return line.event, event
    if api != "beta":
        return None
    try:
        translated = beta_to_ga(line.event, line.dir, state).event
        if translated is None:
            return None
        decode = decode_server if line.dir == "server" else decode_client
        return translated, decode(orjson.dumps(translated))
    except ProtocolError:
        return None  # already reported by the schema pass


def _items(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    # The items an event carries: `item`, and the output of `response`.
    if isinstance(event.get("item"), dict):
        yield event["item"]
    response = event.get("response")
    output = response.get("output") if isinstance(response, dict) else None
    if isinstance(output, list):
        yield from (item for item in output if isinstance(item, dict))


class _Replay:
    """Feeds recorded events into a :class:`Session` (live mode, so it keeps going after a violation).

    The core pays a follow-up ``response.create`` by itself (after a tool output,
    an approval, an MCP call); the app's recorded ``response.create`` is that one
    and is not sent again. The follow-up lapses when the server starts a
    response on its own first.
    """

    def __init__(self, session: Session):
        self.session = session
        self.followups = 0

    def server(self, line: Line, event: Any) -> list[Finding]:
        try:
            outputs = self.session.receive(event, line.t)
        except ProtocolError as exc:
            return [Finding(line.lineno, "error", "server-misbehaviour", f"{line.type}: {exc}", exc.path, line.type)]
        if line.type == "response.created":
            self.followups = 0
        self.followups += _creates(outputs)
        return [
            Finding(line.lineno, "error", "server-misbehaviour", f"{line.type}: {o.message}", None, line.type)
            for o in outputs
            if isinstance(o, ProtocolViolation)
        ]

    def client(self, line: Line, event: Any) -> list[Finding]:
        if line.type == "response.create" and self.followups:
            self.followups -= 1
            return []
        try:
            outputs = self.session.send(event, line.t)
        except LocalProtocolError as exc:
            message = str(exc) if str(exc).startswith(line.type) else f"{line.type}: {exc}"
            return [Finding(line.lineno, "error", "misuse", message, exc.path or _misuse_path(line, str(exc)), line.type)]
        self.followups += _creates(outputs[1:])
        return []


def _creates(outputs: Sequence[Any]) -> int:
    return sum(isinstance(o, Send) and isinstance(o.event, ResponseCreate) for o in outputs)


def _misuse_path(line: Line, message: str) -> str | None:
    # Where in the client event the misuse sits, for the finding's JSON path.
    item = line.event.get("item") if isinstance(line.event.get("item"), dict) else {}
    if line.type == "conversation.item.truncate":
        return "$.audio_end_ms" if "audio_end_ms" in message else "$.item_id"
    if item.get("type") == "mcp_approval_response":
        return "$.item.approval_request_id"
    if item.get("type") == "function_call_output":
        return "$.item.call_id"
    if line.type == "response.cancel" and "response_id" in line.event:
        return "$.response_id"
    return None


# ---------------------------------------------------------------------------
# Output and command line


def render_check(report: CheckReport) -> str:
    """One ``FILE:LINE: severity: message [code]`` line per finding, and a summary."""
    out = [f"{report.file}:{f.line}: {f.severity}: {f.message} [{f.code}]" for f in report.findings]
    if report.clean:
        out.append(f"{report.file}: clean ({report.lines} lines, api {report.api})")
    else:
        out.append(f"{report.file}: {report.count('error')} error(s), {report.count('warning')} warning(s)")
    return "\n".join(out) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rtproto.run check",
        description="Lint a transcript against the protocol model. Exit 0: clean, 1: findings, 2: bad input.",
    )
    parser.add_argument("file", metavar="FILE.jsonl", help="the transcript to check")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def cli_check(argv: Sequence[str] | None = None) -> int:
    """``check FILE``: print the findings; return 0 (clean), 1 (findings) or 2 (bad input)."""
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    try:
        report = check_file(args.file)
    except (TranscriptError, OSError) as exc:
        print(f"error: {unreadable(exc, args.file)}", file=sys.stderr)
        return 2
    sys.stdout.write(report.to_json() + "\n" if args.json else render_check(report))
    return 0 if report.clean else 1


