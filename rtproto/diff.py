"""Protocol diff: compare the protocol behaviour recorded in two transcripts.

``python -m rtproto.run diff A.jsonl B.jsonl`` (or :func:`cli_diff`) answers
"did these two sessions speak the protocol the same way?", e.g. one scenario
captured on beta and on GA, or on two GA models.

Theory of operation
-------------------

1. **Normalise** each transcript (:func:`normalize`): beta event names become
   GA names (``rtproto.versions.EVENT_RENAMES_BETA_TO_GA``); ids are mapped by
   order of first appearance (``item_1``, ``resp_1``, ``call_1``, ...); server
   ``event_id`` values are dropped; timestamps are kept only for latency;
   audio payloads become ``{"audio_ms": N}`` (the duration in the session's
   wire format), so audio bytes never matter, only their length.
2. **Segment** (:func:`segment`) into turns and responses. A turn starts at
   user input (VAD speech, a buffer commit, a user text item, typed text) and
   holds everything up to the next user input; markers before the turn's
   first response belong to the same turn (speech_started, speech_stopped,
   committed). Events before the first user input form the ``setup`` turn. A
   response is ``response.created`` .. ``response.done`` with the events that
   carry its id or arrive while it is active; it belongs to the turn that
   created it, even when a barge-in ends it in the next one.
3. **Compare**, turn by turn and response by response (matched by position):

   * event types present in only one transcript (per turn, with counts);
   * event order within each response lifecycle (``difflib``), leaving out
     streaming ``*.delta`` events, whose chunking and interleaving vary by run;
   * behaviour facts per turn, compared as sets: how the input came, each
     response's status, output item kinds and who created it (client
     ``response.create`` or the server on its own, notably after a tool call),
     tools called, tool outputs sent, approvals, cancels, truncations, errors;
   * latency per turn (end of user input to first output audio), and output
     audio duration, side by side;
   * and globally, the shape of each event type: the JSON paths and JSON kinds
     seen, with counts (``added`` = only in B, ``removed`` = only in A).

What makes two transcripts *different* (exit 1)
-----------------------------------------------

Every item of the report is either a *difference* or *info*. Behaviour
facts, turn and response counts, order and presence differences are always
differences. Timing is info unless ``latency_threshold_ms`` is given and a
turn's latency differs by more than that. When the two transcripts use
different APIs (beta vs GA), what the API version itself explains is info:
renamed events (reported as "same event under another name"), event types
only one API version has (and beta's ``conversation.item.created`` item
lifecycle against GA's ``conversation.item.added``/``.done``), and field
shapes. ``strict_api=True`` (``--strict-api``) counts those too. So a beta and
a GA capture of the same scenario are equivalent when they behave the same:
ignoring renames is the default between APIs (within one API there are none),
and ``--strict-api`` is the way to make them count.
"""

from __future__ import annotations

import difflib
from collections import Counter
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

from rtproto.codec import WireFormat
from rtproto.transcript import RAW_FRAME_TYPE, Line, Transcript, iter_transcript

__all__ = [
    "DiffOptions",
    "DiffReport",
    "ResponseTrace",
    "Step",
    "Turn",
    "diff_files",
    "diff_transcripts",
    "normalize",
    "normalized",
    "segment",
]

# ---------------------------------------------------------------------------
# Normalisation

# Which id space a key's string value lives in; "event_id" only for client
# ids and error.event_id (server event ids are dropped).
_ID_KEYS = {
    "item_id": "item",
    "previous_item_id": "item",
    "approval_request_id": "item",
    "call_id": "call",
    "response_id": "resp",
    "conversation_id": "conv",
    "event_id": "event",
}
# An "id" key takes its space from the key holding its object.
_ID_PARENTS = {
    "item": "item",
    "output": "item",
    "input": "item",
    "response": "resp",
    "session": "sess",
    "conversation": "conv",
}
_NOT_IDS = frozenset({"root"})
# Values under these keys are free-form JSON (schemas, metadata), not protocol shape.
_OPAQUE_KEYS = frozenset({"parameters", "input_schema", "metadata", "annotations", "variables"})
_INPUT_AUDIO_TYPES = frozenset({"input_audio_buffer.append"})
_AUDIO_DELTA = "response.output_audio.delta"


class IdMap:
    """Maps wire ids to positional names (``item_1``, ``resp_2``), per id space."""

    def __init__(self) -> None:
        self._names: dict[tuple[str, str], str] = {}
        self._counts: Counter[str] = Counter()

    def __call__(self, space: str, value: str) -> str:
        key = (space, value)
        name = self._names.get(key)
        if name is None:
            self._counts[space] += 1
            name = self._names[key] = f"{space}_{self._counts[space]}"
        return name


@dataclass(frozen=True)
class Step:
    """One transcript line after normalisation.

    ``type`` is the GA name, ``wire_type`` the name in the file; ``body`` is
    the normalised event, ``raw`` the event as recorded.
    """

    index: int
    lineno: int
    t: float
    dir: str
    type: str
    wire_type: str
    body: dict[str, Any]
    raw: dict[str, Any]


@dataclass
class _Formats:
    input: WireFormat = field(default_factory=WireFormat)
    output: WireFormat = field(default_factory=WireFormat)


def _renames(api: str) -> Mapping[str, str]:
    if api != "beta":
        return {}
    from rtproto.versions import EVENT_RENAMES_BETA_TO_GA

    return EVENT_RENAMES_BETA_TO_GA


def normalize(transcript: Transcript) -> list[Step]:
    """The transcript's lines as :class:`Step` s: GA names, positional ids, audio as durations."""
    return list(normalized(transcript.api, transcript.lines))


def normalized(api: str, lines: Iterable[Line]) -> Iterator[Step]:
    """:func:`normalize` as a stream: one :class:`Step` per line, as the lines come."""
    renames = _renames(api)
    ids, formats = IdMap(), _Formats()
    for index, line in enumerate(lines):
        wire_type = line.event.get("type", "")
        ga_type = renames.get(wire_type, wire_type)
        if line.dir != "local":
            _track_formats(line.event, formats)
        default = formats.input if ga_type in _INPUT_AUDIO_TYPES else formats.output
        event = line.event
        if line.dir == "server" or ga_type in _INPUT_AUDIO_TYPES:
            # Server event ids are unique per event, and so are the ids of audio
            # appends (nothing refers to them): they carry nothing, and keeping
            # them would grow the id map with the length of the recording.
            event = {k: v for k, v in event.items() if k != "event_id"}
        body = _Normalizer(ids, formats, ga_type).value(event, None, default)
        body["type"] = ga_type
        yield Step(index, line.lineno, line.t, line.dir, ga_type, wire_type, body, line.event)


@dataclass
class _Normalizer:
    ids: IdMap
    formats: _Formats
    event_type: str

    def value(self, value: Any, parent: str | None, fmt: WireFormat) -> Any:
        if isinstance(value, dict):
            if value.get("type") == "input_audio":  # a user content part: input audio format
                fmt = self.formats.input
            return {k: self.member(k, v, parent, fmt) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, parent, fmt) for v in value]
        return value

    def member(self, key: str, value: Any, parent: str | None, fmt: WireFormat) -> Any:
        if isinstance(value, str):
            if key == "audio" or (key == "delta" and self.event_type == _AUDIO_DELTA):
                return {"audio_ms": audio_ms(value, fmt)}
            space = _ID_KEYS.get(key) or (_ID_PARENTS.get(parent or "") if key == "id" else None)
            return self.ids(space, value) if space and value not in _NOT_IDS else value
        if key in _OPAQUE_KEYS:
            return value
        return self.value(value, key, fmt)


def audio_ms(b64: str, fmt: WireFormat) -> float:
    """Duration in ms of base64 audio in ``fmt``, from its length alone (nothing is decoded)."""
    size = len(b64)
    nbytes = size * 3 // 4 - b64.count("=", max(0, size - 2))
    return round(nbytes / fmt.sample_width / fmt.rate * 1000.0, 1)


def _track_formats(event: dict[str, Any], formats: _Formats) -> None:
    # session.update / .created / .updated set the wire formats of later audio.
    session = event.get("session")
    if not isinstance(session, dict):
        return
    audio = session.get("audio") if isinstance(session.get("audio"), dict) else {}
    for side in ("input", "output"):
        ga = audio.get(side) if isinstance(audio.get(side), dict) else {}
        try:
            if "format" in ga:
                setattr(formats, side, WireFormat.from_ga(ga["format"]))
            elif f"{side}_audio_format" in session:
                setattr(formats, side, WireFormat.from_beta(session[f"{side}_audio_format"]))
        except ValueError:
            pass  # an unknown format: keep the previous one; `check` reports it


# ---------------------------------------------------------------------------
# Segmentation into turns and responses

_INPUT_PREFIXES = ("input_audio_buffer.", "conversation.item.input_audio_transcription.", "session.")
_NOT_LIFECYCLE = frozenset(
    {"error", "conversation.item.truncated", "conversation.item.deleted", "conversation.item.retrieved"}
)
_CLIENT_ITEM_TYPES = frozenset({"function_call_output", "mcp_approval_response"})
_TOOL_ITEMS = {"function_call": "function", "mcp_call": "mcp"}


@dataclass
class ResponseTrace:
    """One response's lifecycle: its events, final status and who asked for it."""

    id: str
    created_by: str  # "client" (a response.create preceded it) or "server"
    after_tool: str | None  # "function" / "mcp" when the previous response in the turn called a tool
    types: list[str] = field(default_factory=list)  # its event types in order, streaming deltas left out
    status: str | None = None
    reason: str | None = None
    output: list[dict[str, Any]] = field(default_factory=list)
    audio_total_ms: float = 0.0

    def add(self, step: Step) -> None:
        """Take in one of its events (only what the comparison needs is kept)."""
        if step.type == _AUDIO_DELTA:
            delta = step.body.get("delta")
            if isinstance(delta, dict):
                self.audio_total_ms += delta["audio_ms"]
        if not step.type.endswith(".delta"):
            self.types.append(step.type)

    @property
    def done(self) -> bool:
        """True once ``response.done`` was seen."""
        return self.status is not None

    def sequence(self, leave_out: frozenset[str] = frozenset()) -> list[str]:
        """Its event types in order, without streaming deltas and ``leave_out``."""
        return [kind for kind in self.types if kind not in leave_out]

    def output_kinds(self) -> list[str]:
        """The ``type`` (``message`` with its role) of each output item."""
        return [_item_kind(item) for item in self.output]

    def audio_ms(self) -> float:
        """Output audio duration of this response, in ms."""
        return round(self.audio_total_ms, 1)


@dataclass
class Turn:
    """User input and everything up to the next user input."""

    index: int  # 0 is the setup turn, before any user input
    kind: str  # "setup", "speech", "commit", "text", "timeout"
    responses: list[ResponseTrace] = field(default_factory=list)
    barge_in: bool = False
    counts: Counter[str] = field(default_factory=Counter)  # wire event types seen, with counts
    client_facts: set[str] = field(default_factory=set)  # behaviour facts stated by single lines
    input_end_ms: float | None = None  # end of the user input
    first_output_ms: float | None = None  # first output audio (or text) after it

    def add(self, step: Step) -> None:
        """Take in one of its lines (only what the comparison needs is kept)."""
        if step.dir != "local":
            self.counts[step.type] += 1
        fact = _LINE_FACTS.get((step.dir, step.type))
        if fact is not None and (text := fact(step.raw)) is not None:
            self.client_facts.add(text)
        if self.input_end_ms is None:
            if _is_input_end(step):
                self.input_end_ms = step.t
        elif self.first_output_ms is None and step.type in (_AUDIO_DELTA, "response.output_text.delta"):
            self.first_output_ms = step.t

    @property
    def label(self) -> str:
        """``setup`` or ``turn N (kind)``."""
        return "setup" if self.index == 0 else f"turn {self.index} ({self.kind})"


def _user_item(event: dict[str, Any]) -> bool:
    item = event.get("item")
    return isinstance(item, dict) and item.get("role") == "user"


# (dir, type) -> the kind of user input that line marks; a callable decides on the event.
_INPUT_MARKERS: dict[tuple[str, str], str | Callable[[dict[str, Any]], str | None]] = {
    ("server", "input_audio_buffer.speech_started"): "speech",
    ("server", "input_audio_buffer.speech_stopped"): "speech",
    ("server", "input_audio_buffer.timeout_triggered"): "timeout",
    ("server", "input_audio_buffer.committed"): "commit",
    ("client", "input_audio_buffer.commit"): "commit",
    ("client", "conversation.item.create"): lambda event: "text" if _user_item(event) else None,
    ("local", "text.input"): "text",
}


def _input_kind(step: Step) -> str | None:
    # The kind of user input this step marks, or None when it is no user input.
    kind = _INPUT_MARKERS.get((step.dir, step.type))
    return kind(step.raw) if callable(kind) else kind


def segment(steps: Iterable[Step]) -> list[Turn]:
    """Split normalised steps into turns (turn 0 = setup) holding their responses.

    The steps may be a stream: turns keep summaries, never the steps themselves.
    """
    turns = [Turn(0, "setup")]
    active: dict[str, ResponseTrace] = {}
    creates: list[Any] = []  # event_ids of client response.create not yet answered
    for step in steps:
        turn = turns[-1]
        kind = _input_kind(step)
        if kind is not None and (turn.index == 0 or turn.responses):
            turn = Turn(len(turns), kind, barge_in=any(not r.done for r in active.values()))
            turns.append(turn)
        turn.add(step)
        if step.dir == "client" and step.type == "response.create":
            creates.append(step.body.get("event_id"))
        elif step.dir == "server":
            _track_response(step, turn, active, creates)
    return turns


def _track_response(step: Step, turn: Turn, active: dict[str, ResponseTrace], creates: list[Any]) -> None:
    if step.type == "error":
        error = step.body.get("error")
        rejected = error.get("event_id") if isinstance(error, dict) else None
        if rejected is not None and rejected in creates:
            creates.remove(rejected)  # that response.create started nothing
        return
    if step.type == "response.created":
        rid = _response_id(step) or f"resp_?{len(active)}"
        after = _tool_kind(turn.responses[-1]) if turn.responses else None
        trace = ResponseTrace(rid, "client" if creates else "server", after)
        del creates[:1]
        active[rid] = trace
        turn.responses.append(trace)
        trace.add(step)
        return
    trace = _owner(step, active)
    if trace is not None:
        trace.add(step)
        if step.type == "response.done":
            _finish(trace, step)


def _response_id(step: Step) -> str | None:
    rid = step.body.get("response_id")
    if rid is None and isinstance(step.body.get("response"), dict):
        rid = step.body["response"].get("id")
    return rid if isinstance(rid, str) else None


def _owner(step: Step, active: dict[str, ResponseTrace]) -> ResponseTrace | None:
    # The response an event belongs to: by its response id, else the one in progress.
    rid = _response_id(step)
    if rid is not None:
        return active.get(rid)
    if step.type.startswith(_INPUT_PREFIXES) or step.type in _NOT_LIFECYCLE or _is_input_item(step.raw):
        return None
    running = [t for t in active.values() if not t.done]
    return running[-1] if running else None


def _is_input_item(event: dict[str, Any]) -> bool:
    item = event.get("item")
    if not isinstance(item, dict):
        return False
    return item.get("role") in ("user", "system") or item.get("type") in _CLIENT_ITEM_TYPES


def _finish(trace: ResponseTrace, step: Step) -> None:
    response = step.raw.get("response") if isinstance(step.raw.get("response"), dict) else {}
    trace.status = str(response.get("status") or "unknown")
    details = response.get("status_details")
    if isinstance(details, dict) and details.get("reason"):
        trace.reason = str(details["reason"])
    output = response.get("output")
    trace.output = [item for item in output if isinstance(item, dict)] if isinstance(output, list) else []


def _item_kind(item: dict[str, Any]) -> str:
    kind = str(item.get("type", "?"))
    return f"{kind}/{item['role']}" if kind == "message" and "role" in item else kind


def _tool_kind(trace: ResponseTrace) -> str | None:
    kinds = [_TOOL_ITEMS[item.get("type")] for item in trace.output if item.get("type") in _TOOL_ITEMS]
    return kinds[-1] if kinds else None


# ---------------------------------------------------------------------------
# Behaviour facts and timing per turn


def turn_facts(turn: Turn) -> set[str]:
    """The behaviour of one turn as a set of short sentences (compared as sets)."""
    facts = {f"input: {turn.kind}" + (" (while a response was in progress)" if turn.barge_in else "")}
    facts.add(f"responses: {len(turn.responses)}")
    for number, trace in enumerate(turn.responses, start=1):
        facts |= _response_facts(number, trace)
    return facts | turn.client_facts


def _response_facts(number: int, trace: ResponseTrace) -> set[str]:
    status = trace.status or "not done"
    facts = {f"response {number}: {status}" + (f" ({trace.reason})" if trace.reason else "")}
    facts.add(f"response {number} output: {', '.join(trace.output_kinds()) or 'none'}")
    if trace.after_tool:
        how = "client sent response.create" if trace.created_by == "client" else "server continued on its own"
        facts.add(f"response {number} after {trace.after_tool} call: {how}")
    else:
        facts.add(f"response {number} created by {'client response.create' if trace.created_by == 'client' else 'server'}")
    for item in trace.output:
        facts |= _tool_facts(item)
    return facts


def _tool_facts(item: dict[str, Any]) -> set[str]:
    kind = item.get("type")
    if kind == "function_call":
        return {f"tool called: function {item.get('name')}"}
    if kind == "mcp_call":
        name = f"mcp {item.get('server_label')}/{item.get('name')}"
        return {f"tool called: {name}"} | ({f"tool failed: {name}"} if item.get("error") else set())
    if kind == "mcp_approval_request":
        return {f"approval requested: mcp {item.get('server_label')}/{item.get('name')}"}
    return set()


def _item_fact(event: dict[str, Any]) -> str | None:
    item = event["item"] if isinstance(event.get("item"), dict) else {}
    if item.get("type") == "function_call_output":
        return "client sent function_call_output"
    if item.get("type") == "mcp_approval_response":
        return f"client {'approved' if item.get('approve') else 'denied'} an mcp call"
    return None


def _error_fact(event: dict[str, Any]) -> str:
    error = event["error"] if isinstance(event.get("error"), dict) else {}
    return f"server error: {error.get('code') or error.get('type')}"


# (dir, type) -> the behaviour fact that line states, if any.
_LINE_FACTS: dict[tuple[str, str], Callable[[dict[str, Any]], str | None]] = {
    ("client", "conversation.item.create"): _item_fact,
    ("client", "response.cancel"): lambda event: "client sent response.cancel",
    ("client", "conversation.item.truncate"): lambda event: "client truncated assistant audio",
    ("server", "error"): _error_fact,
    ("local", "tool.call"): lambda e: f"local MCP tool {e.get('server_label')}.{e.get('tool')} called",
    ("local", "tools.changed"): lambda e: "the local tools changed",
    ("local", "approval.answer"): lambda e: (
        "the approval timed out (denied)" if e.get("by") == "timeout"
        else f"user {'approved' if e.get('approve') else 'denied'} a tool call"
    ),
}


_INPUT_END = frozenset(
    {"input_audio_buffer.speech_stopped", "input_audio_buffer.commit", "input_audio_buffer.committed", "text.input"}
)


def turn_latency_ms(turn: Turn) -> float | None:
    """ms from the end of user input (speech_stopped, commit, text) to the first output audio (or text)."""
    if turn.input_end_ms is None or turn.first_output_ms is None:
        return None
    return round(turn.first_output_ms - turn.input_end_ms, 1)


def _is_input_end(step: Step) -> bool:
    return step.type in _INPUT_END or (
        step.dir == "client" and step.type == "conversation.item.create" and _input_kind(step) == "text"
    )


# ---------------------------------------------------------------------------
# Event shapes


_KINDS = {bool: "boolean", int: "number", float: "number", str: "string", type(None): "null", dict: "object", list: "array"}


def _walk_shape(value: Any, path: str, out: set[tuple[str, str]], opaque: bool = False) -> None:
    out.add((path, _KINDS.get(type(value), type(value).__name__)))
    if opaque:
        return
    if isinstance(value, dict):
        for key, member in value.items():
            _walk_shape(member, f"{path}.{key}", out, key in _OPAQUE_KEYS)
    elif isinstance(value, list):
        for member in value:
            _walk_shape(member, f"{path}[]", out)


@dataclass
class Shape:
    """The JSON paths (with kinds) seen in all events of one type, counted per event."""

    events: int = 0
    paths: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, event: dict[str, Any]) -> None:
        """Count one event's paths."""
        self.events += 1
        seen: set[tuple[str, str]] = set()
        _walk_shape(event, "$", seen)
        for path, kind in seen:
            self.paths.setdefault(path, Counter())[kind] += 1


def shapes(steps: Iterable[Step]) -> dict[str, Shape]:
    """Shape of each wire event type (keyed by GA name), from the recorded events."""
    out: dict[str, Shape] = {}
    for step in steps:
        _add_shape(out, step)
    return out


def _add_shape(out: dict[str, Shape], step: Step) -> None:
    if step.dir != "local" and step.type != RAW_FRAME_TYPE:
        out.setdefault(step.type, Shape()).add(step.raw)


# ---------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class DiffOptions:
    """What counts as a difference; see the module docstring."""

    latency_threshold_ms: float | None = None
    strict_api: bool = False


@dataclass(frozen=True)
class Side:
    """Summary of one compared transcript."""

    path: str
    api: str
    model: str | None
    turns: int
    responses: int


@dataclass(frozen=True)
class Rename:
    """One event under two names: ``beta_type`` in the beta transcript, ``ga_type`` in the GA one."""

    beta_type: str
    ga_type: str
    count_a: int
    count_b: int
    counts: bool


@dataclass(frozen=True)
class Presence:
    """An event type seen in one transcript's turn and not the other's."""

    type: str
    count_a: int
    count_b: int
    note: str  # why it is info ("GA-only", ...), or ""
    counts: bool


@dataclass(frozen=True)
class ShapeChange:
    """A JSON path of an event type that is ``added`` (B only), ``removed`` (A only) or ``type changed``."""

    event_type: str
    path: str
    change: str
    kinds_a: dict[str, int]
    kinds_b: dict[str, int]
    events_a: int
    events_b: int
    counts: bool
    subpaths: int = 0  # paths below this one with the same change, folded into it


@dataclass(frozen=True)
class OrderDiff:
    """Event order of response ``response`` (1-based within the turn): ``(op, type)``, op ``" "``/``-``/``+``."""

    response: int
    lines: list[tuple[str, str]]
    counts: bool = True


@dataclass
class TurnDiff:
    """Everything compared for one turn; ``label_a``/``label_b`` is None when that side has no such turn."""

    index: int
    label_a: str | None
    label_b: str | None
    presence: list[Presence] = field(default_factory=list)
    facts_only_a: list[str] = field(default_factory=list)
    facts_only_b: list[str] = field(default_factory=list)
    order: list[OrderDiff] = field(default_factory=list)
    latency_a: float | None = None
    latency_b: float | None = None
    latency_counts: bool = False
    audio_ms_a: float = 0.0
    audio_ms_b: float = 0.0

    @property
    def differences(self) -> int:
        """How many items of this turn count as differences."""
        missing = int(self.label_a is None or self.label_b is None)
        return (
            missing
            + sum(p.counts for p in self.presence)
            + len(self.facts_only_a)
            + len(self.facts_only_b)
            + sum(o.counts for o in self.order)
            + int(self.latency_counts)
        )

    @property
    def latency_delta(self) -> float | None:
        """B minus A, in ms (None unless both were measured)."""
        if self.latency_a is None or self.latency_b is None:
            return None
        return round(self.latency_b - self.latency_a, 1)


@dataclass
class DiffReport:
    """The result of :func:`diff_transcripts`; ``equivalent`` decides the exit code."""

    a: Side
    b: Side
    cross_api: bool
    options: DiffOptions
    renames: list[Rename] = field(default_factory=list)
    shapes: list[ShapeChange] = field(default_factory=list)
    turns: list[TurnDiff] = field(default_factory=list)

    @property
    def differences(self) -> int:
        """The number of items that count as differences."""
        return (
            sum(r.counts for r in self.renames)
            + sum(s.counts for s in self.shapes)
            + sum(t.differences for t in self.turns)
        )

    @property
    def equivalent(self) -> bool:
        """True when nothing counts as a difference (exit 0)."""
        return self.differences == 0

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready builtins."""
        out = asdict(self)
        out["equivalent"] = self.equivalent
        out["differences"] = self.differences
        for turn, data in zip(self.turns, out["turns"]):
            data["latency_delta"] = turn.latency_delta
            data["differences"] = turn.differences
        return out

    def to_json(self) -> str:
        """The report as a JSON document (see :meth:`to_dict`)."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2).decode()


# ---------------------------------------------------------------------------
# Comparison


@dataclass
class _Analysis:
    # One side, summarised in one pass over its lines.
    header: dict[str, Any]
    path: str
    turns: list[Turn] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)
    renamed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (wire type, GA type) of renamed lines
    wire_types: Counter[str] = field(default_factory=Counter)

    @property
    def api(self) -> str:
        return self.header["api"]

    def watch(self, steps: Iterable[Step]) -> Iterator[Step]:
        # Counts names and shapes of the steps flowing through to `segment`.
        for step in steps:
            self.wire_types[step.wire_type] += 1
            if step.wire_type != step.type:
                self.renamed[step.wire_type, step.type] += 1
            _add_shape(self.shapes, step)
            yield step


def _analyse(header: dict[str, Any], path: str, lines: Iterable[Line]) -> _Analysis:
    analysis = _Analysis(header, path)
    analysis.turns = segment(analysis.watch(normalized(header["api"], lines)))
    return analysis


def _side(analysis: _Analysis) -> Side:
    return Side(
        path=analysis.path,
        api=analysis.api,
        model=analysis.header.get("model"),
        turns=len(analysis.turns) - 1,
        responses=sum(len(t.responses) for t in analysis.turns),
    )


def diff_transcripts(a: Transcript, b: Transcript, options: DiffOptions | None = None) -> DiffReport:
    """Compare two transcripts (A is the reference, B the other); see the module docstring."""
    left = _analyse(a.header, a.path or "<transcript>", a.lines)
    right = _analyse(b.header, b.path or "<transcript>", b.lines)
    return _compare(left, right, options or DiffOptions())


def diff_files(a: str | os.PathLike[str], b: str | os.PathLike[str], options: DiffOptions | None = None) -> DiffReport:
    """:func:`diff_transcripts` of two transcript files, each read as a stream.

    Memory grows with the number of turns and responses, not with the files'
    length. Raises :class:`~rtproto.errors.TranscriptError` or :class:`OSError`
    for a file that cannot be read as a transcript.
    """
    sides = []
    for path in (os.fspath(a), os.fspath(b)):
        header, lines = iter_transcript(path)
        sides.append(_analyse(header, path, lines))
    return _compare(sides[0], sides[1], options or DiffOptions())


def _compare(left: _Analysis, right: _Analysis, options: DiffOptions) -> DiffReport:
    versions = _VersionInfo.of(left.api, right.api, options)
    report = DiffReport(_side(left), _side(right), versions.cross_api, options)
    report.renames = _diff_renames(left, right, versions)
    report.shapes = _diff_shapes(left.shapes, right.shapes, versions)
    for index in range(max(len(left.turns), len(right.turns))):
        turn_a = left.turns[index] if index < len(left.turns) else None
        turn_b = right.turns[index] if index < len(right.turns) else None
        report.turns.append(_diff_turn(index, turn_a, turn_b, versions, options))
    return report


@dataclass(frozen=True)
class _VersionInfo:
    # What the API versions of the two sides explain (empty when both are the same API).
    cross_api: bool
    counts: bool  # whether what the versions explain still counts (strict_api)
    only_in: dict[str, str]  # GA type name -> note, for types one version lacks

    @classmethod
    def of(cls, api_a: str, api_b: str, options: DiffOptions) -> _VersionInfo:
        if api_a == api_b:
            return cls(False, True, {})
        return cls(True, options.strict_api, _version_only_types(api_a, api_b))


def _version_only_types(api_a: str, api_b: str) -> dict[str, str]:
    # Event types that only one of beta and GA has, or that announce items in one
    # and have a substitute in the other (GA conversation.item.added, beta .created).
    if {api_a, api_b} != {"beta", "ga"}:
        return {}
    from rtproto.versions import EVENT_SUBSTITUTES_GA_TO_BETA, ONLY_IN_BETA, ONLY_IN_GA

    notes = {t: "GA-only" for t in ONLY_IN_GA} | {t: "beta-only" for t in ONLY_IN_BETA}
    for ga, beta in EVENT_SUBSTITUTES_GA_TO_BETA.items():
        notes[ga], notes[beta] = f"GA form of beta {beta}", f"beta form of GA {ga}"
    return notes


def _diff_renames(a: _Analysis, b: _Analysis, versions: _VersionInfo) -> list[Rename]:
    # Each renamed pair, counted on each side under either name.
    if not versions.cross_api:
        return []
    pairs = sorted(a.renamed.keys() | b.renamed.keys())
    return [
        Rename(beta, ga, a.renamed[beta, ga] + a.wire_types[ga], b.renamed[beta, ga] + b.wire_types[ga], versions.counts)
        for beta, ga in pairs
    ]


def _diff_shapes(a: dict[str, Shape], b: dict[str, Shape], versions: _VersionInfo) -> list[ShapeChange]:
    changes = []
    for etype in sorted(a.keys() & b.keys()):
        sa, sb = a[etype], b[etype]
        roots: dict[str, ShapeChange] = {}  # added/removed subtrees: their root path -> change
        for path in sorted(sa.paths.keys() | sb.paths.keys()):
            ka, kb = dict(sa.paths.get(path, {})), dict(sb.paths.get(path, {}))
            if ka.keys() == kb.keys():
                continue
            change = "added" if not ka else "removed" if not kb else "type changed"
            root = _folding_root(path, change, roots)
            if root is not None:
                roots[root] = replace(roots[root], subpaths=roots[root].subpaths + 1)
                continue
            entry = ShapeChange(etype, path, change, ka, kb, sa.events, sb.events, versions.counts)
            if change != "type changed":
                roots[path] = entry
            changes.append(entry)
        changes = [roots.get(c.path, c) if c.event_type == etype else c for c in changes]
    return changes


def _folding_root(path: str, change: str, roots: dict[str, ShapeChange]) -> str | None:
    # The added/removed ancestor of `path` with the same change, if any.
    parent = _parent_path(path)
    while parent is not None:
        if parent in roots and roots[parent].change == change:
            return parent
        parent = _parent_path(parent)
    return None


def _parent_path(path: str) -> str | None:
    if path.endswith("[]"):
        return path[:-2]
    cut = path.rfind(".")
    return path[:cut] if cut > 0 else None


def _diff_turn(
    index: int, a: Turn | None, b: Turn | None, versions: _VersionInfo, options: DiffOptions
) -> TurnDiff:
    diff = TurnDiff(index, a.label if a else None, b.label if b else None)
    if a is None or b is None:
        return diff
    diff.presence = _diff_presence(a, b, versions)
    facts_a, facts_b = turn_facts(a), turn_facts(b)
    diff.facts_only_a, diff.facts_only_b = sorted(facts_a - facts_b), sorted(facts_b - facts_a)
    leave_out = frozenset(versions.only_in)
    for number, (ra, rb) in enumerate(zip(a.responses, b.responses), start=1):
        lines = _order_lines(ra.sequence(leave_out), rb.sequence(leave_out))
        if lines is not None:
            diff.order.append(OrderDiff(number, lines))
    diff.latency_a, diff.latency_b = turn_latency_ms(a), turn_latency_ms(b)
    threshold, delta = options.latency_threshold_ms, diff.latency_delta
    diff.latency_counts = threshold is not None and delta is not None and abs(delta) > threshold
    diff.audio_ms_a = round(sum(r.audio_ms() for r in a.responses), 1)
    diff.audio_ms_b = round(sum(r.audio_ms() for r in b.responses), 1)
    return diff


def _diff_presence(a: Turn, b: Turn, versions: _VersionInfo) -> list[Presence]:
    count_a, count_b = a.counts, b.counts
    out = []
    for etype in sorted(count_a.keys() ^ count_b.keys()):
        note = versions.only_in.get(etype, "")
        out.append(Presence(etype, count_a[etype], count_b[etype], note, versions.counts or not note))
    return out


def _order_lines(a: list[str], b: list[str]) -> list[tuple[str, str]] | None:
    if a == b:
        return None
    lines: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            lines += [(" ", t) for t in a[i1:i2]]
        else:
            lines += [("-", t) for t in a[i1:i2]] + [("+", t) for t in b[j1:j2]]
    return lines
