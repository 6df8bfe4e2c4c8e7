"""Lint a transcript against rtproto's protocol model.

``python -m rtproto.run check FILE.jsonl`` (or :func:`cli_check`) tells a user
that the API has drifted from the model (unknown event types, unknown or
missing fields, wrong types), or that their app misuses the protocol (client
events the server rejected, ``response.create`` while a response is active, a
truncate beyond the audio received, an approval for an unknown request, a tool
call never answered).

Theory of operation
-------------------

Three passes over the lines, each producing :class:`Finding` s (line number,
severity, code, message, JSON path):

``schema``
    Every wire line is decoded with the transcript's API (``decode_server`` /
    ``decode_client``). A :class:`~rtproto.errors.ProtocolError` is a ``schema``
    finding at its JSON path; an unknown ``type`` is ``unknown-type``. The
    decoded struct drops keys it does not know, so every path present in the
    recorded JSON but absent from ``to_dict(decoded)`` is an ``unknown-field``.
    On client events these are errors (the server rejects them); on server
    events they are warnings (the model lags behind the API). A frame that was
    not JSON is ``not-json``.
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
a transcript).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from rtproto.actions import ProtocolViolation, Send
from rtproto.errors import LocalProtocolError, ProtocolError, TranscriptError
from rtproto.events import ResponseCreate, UnknownEvent, decode_client, decode_server, to_dict
from rtproto.policy import ToolPolicy
from rtproto.session import Session
from rtproto.transcript import RAW_FRAME_TYPE, Line, Transcript, read_transcript
from rtproto.versions import TranslationState, beta_to_ga

__all__ = ["CheckReport", "Finding", "check_transcript", "cli_check", "render_check"]


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


@dataclass(frozen=True)
class _Decoded:
    line: Line
    event: Any  # the event struct, an UnknownEvent, or None when it did not decode


def check_transcript(transcript: Transcript) -> CheckReport:
    """Lint ``transcript``; see the module docstring for what is checked."""
    report = CheckReport(transcript.path or "<transcript>", transcript.api, len(transcript.lines) + 1)
    decoded: list[_Decoded] = []
    for line in transcript.lines:
        event, findings = _check_line(line, transcript.api)
        decoded.append(_Decoded(line, event))
        report.findings += findings
    report.findings += _rejections(transcript.lines)
    report.findings += _misuse(transcript.api, decoded)
    report.findings.sort(key=lambda f: (f.line, f.code))
    return report


# ---------------------------------------------------------------------------
# Schema: decoding, unknown types and fields


def _check_line(line: Line, api: str) -> tuple[Any, list[Finding]]:
    if line.dir == "local":
        return None, []
    if line.type == RAW_FRAME_TYPE:
        text = str(line.event.get("raw", ""))[:60]
        return None, [Finding(line.lineno, "error", "not-json", f"{line.dir} frame is not a JSON object: {text!r}")]
    decode = decode_server if line.dir == "server" else decode_client
    severity = "warning" if line.dir == "server" else "error"
    try:
        event = decode(orjson.dumps(line.event), api=api)
    except ProtocolError as exc:
        return None, [Finding(line.lineno, "error", "schema", str(exc), _schema_path(exc), exc.event_type or line.type)]
    if isinstance(event, UnknownEvent):
        message = f"unknown {line.dir} event type {line.type!r} (not in the {api} model)"
        return event, [Finding(line.lineno, severity, "unknown-type", message, None, line.type)]
    return event, [
        Finding(line.lineno, severity, "unknown-field", f"{line.type}: unknown field at {path}", path, line.type)
        for path in unknown_paths(line.event, to_dict(event))
    ]


_MISSING = re.compile(r"missing required field (\w+)")


def _schema_path(exc: ProtocolError) -> str | None:
    # msgspec names a missing field in the message and its parent in the path.
    missing = _MISSING.search(str(exc))
    return f"{exc.path or '$'}.{missing.group(1)}" if missing else exc.path


def unknown_paths(raw: Any, known: Any, path: str = "$") -> Iterator[str]:
    """JSON paths present in ``raw`` but not in ``known`` (its re-encoding by the model)."""
    if isinstance(raw, dict) and isinstance(known, dict):
        for key, value in raw.items():
            if key not in known:
                yield f"{path}.{key}"
            else:
                yield from unknown_paths(value, known[key], f"{path}.{key}")
    elif isinstance(raw, list) and isinstance(known, list):
        for index, (value, kept) in enumerate(zip(raw, known)):
            yield from unknown_paths(value, kept, f"{path}[{index}]")


# ---------------------------------------------------------------------------
# Client events the server rejected


def _rejections(lines: Sequence[Line]) -> list[Finding]:
    sent: dict[str, Line] = {}
    findings = []
    for line in lines:
        event_id = line.event.get("event_id")
        if line.dir == "client" and isinstance(event_id, str):
            sent.setdefault(event_id, line)
        elif line.dir == "server" and line.type == "error":
            findings.append(_rejection(line, sent))
    return findings


def _rejection(line: Line, sent: dict[str, Line]) -> Finding:
    error = line.event.get("error") if isinstance(line.event.get("error"), dict) else {}
    message = str(error.get("message") or "no message")
    code = error.get("code") or error.get("type") or "error"
    param = f" (param {error['param']})" if error.get("param") else ""
    culprit = sent.get(error.get("event_id")) if isinstance(error.get("event_id"), str) else None
    if culprit is None:
        return Finding(line.lineno, "warning", "server-error", f"server error {code}: {message}{param}", None, "error")
    text = f"{culprit.type} rejected by the server (error on line {line.lineno}): {code}: {message}{param}"
    return Finding(culprit.lineno, "error", "rejected", text, None, culprit.type)


# ---------------------------------------------------------------------------
# Protocol misuse, through the session state machine


def _misuse(api: str, decoded: Sequence[_Decoded]) -> list[Finding]:
    if api not in ("ga", "beta"):
        return []  # the session core models realtime conversations only
    events = list(_ga_events(api, decoded))
    calls, approvals = _first_sightings(events)
    policy = ToolPolicy(ask=_names(events, ("mcp_call", "mcp_approval_request")))
    replay = _Replay(Session(policy=policy, function_tools=_names(events, ("function_call",))))
    findings: list[Finding] = []
    for line, _, event in events:
        findings += replay.server(line, event) if line.dir == "server" else replay.client(line, event)
    for call_id, call in replay.session.pending_calls.items():
        text = f"function call {call.name!r} (call_id {call_id!r}) never got a function_call_output"
        findings.append(Finding(calls.get(call_id, 0), "warning", "unanswered-call", text, None, None))
    for request_id, request in replay.session.pending_approvals.items():
        text = f"approval request {request_id!r} for mcp tool {request.name!r} was never answered"
        findings.append(Finding(approvals.get(request_id, 0), "warning", "unanswered-approval", text, None, None))
    return findings


def _ga_events(api: str, decoded: Sequence[_Decoded]) -> Iterator[tuple[Line, dict[str, Any], Any]]:
    # (line, GA JSON, GA struct) for each wire event that decoded; beta is translated first.
    state = TranslationState()
    for entry in decoded:
        if entry.event is None or isinstance(entry.event, UnknownEvent):
            continue
        if api == "ga":
            yield entry.line, entry.line.event, entry.event
            continue
        try:
            event = beta_to_ga(entry.line.event, entry.line.dir, state).event
            if event is not None:
                decode = decode_server if entry.line.dir == "server" else decode_client
                yield entry.line, event, decode(orjson.dumps(event))
        except ProtocolError:
            continue  # already reported by the schema pass


def _items(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    # The items an event carries: `item`, and the output of `response`.
    if isinstance(event.get("item"), dict):
        yield event["item"]
    response = event.get("response")
    output = response.get("output") if isinstance(response, dict) else None
    if isinstance(output, list):
        yield from (item for item in output if isinstance(item, dict))


def _names(events: Sequence[tuple[Line, dict[str, Any], Any]], kinds: tuple[str, ...]) -> set[str]:
    names = set()
    for line, event, _ in events:
        if line.dir != "server":
            continue
        if "function_call" in kinds and event.get("type") == "response.function_call_arguments.done":
            names.add(event.get("name"))
        names |= {item.get("name") for item in _items(event) if item.get("type") in kinds}
    return {name for name in names if isinstance(name, str)}


def _first_sightings(events: Sequence[tuple[Line, dict[str, Any], Any]]) -> tuple[dict[str, int], dict[str, int]]:
    # Line of the first server event naming each function call_id and each approval request id.
    calls: dict[str, int] = {}
    approvals: dict[str, int] = {}
    for line, event, _ in events:
        if line.dir != "server":
            continue
        if isinstance(event.get("call_id"), str):
            calls.setdefault(event["call_id"], line.lineno)
        for item in _items(event):
            if item.get("type") == "function_call" and isinstance(item.get("call_id"), str):
                calls.setdefault(item["call_id"], line.lineno)
            elif item.get("type") == "mcp_approval_request" and isinstance(item.get("id"), str):
                approvals.setdefault(item["id"], line.lineno)
    return calls, approvals


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
        transcript = read_transcript(args.file)
    except TranscriptError as exc:
        print(f"rtproto check: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"rtproto check: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    report = check_transcript(transcript)
    sys.stdout.write(report.to_json() + "\n" if args.json else render_check(report))
    return 0 if report.clean else 1


