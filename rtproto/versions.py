"""The beta <-> GA mapping of the Realtime protocol: pure functions on JSON dicts.

Theory of operation. :func:`beta_to_ga` and :func:`ga_to_beta` take one event
(a JSON object as a ``dict``) and return a :class:`Translation`: the event in
the other API's shape, or ``None`` when it has no counterpart, plus notes (one
string each, starting with the JSON path) on everything that could not be
carried over. The input is first checked against the source model (a
malformed event raises :class:`~rtproto.errors.ProtocolError`) and is never
modified. Events are dispatched by ``type`` through one table per direction
and side; events missing from the table are renamed
(:data:`EVENT_RENAMES_BETA_TO_GA`), copied (same shape in both APIs) or
dropped (:data:`ONLY_IN_GA`). Objects whose layout differs (session, response,
``response.create`` parameters) are mapped field by field through
:class:`_Field` rows, read one way for beta -> GA and the other for GA -> beta;
a field without a row is dropped with a note (a dropped ``null`` goes without
one: it carried nothing). Beta items are one flat shape, GA items one shape per
``type``: an item GA cannot hold, or beta cannot (MCP), is dropped with a note,
and with it the event that carries it, or just the entry of ``response.output``.
GA's ``conversation.item.added`` becomes beta's ``conversation.item.created``
(:data:`EVENT_SUBSTITUTES_GA_TO_BETA`), once per item.

Some facts span events: ``response.function_call_arguments.done`` has a
``name`` only in GA, filled from the ``function_call`` item seen earlier with
the same ``call_id``. Pass one :class:`TranslationState` to consecutive calls
(:func:`translate_transcript` does) to carry such facts along.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import orjson

from .errors import ProtocolError
from .events import UnknownEvent, decoder
from .transcript import RAW_FRAME_TYPE, Transcript

__all__ = [
    "EVENT_RENAMES_BETA_TO_GA",
    "EVENT_RENAMES_GA_TO_BETA",
    "EVENT_SUBSTITUTES_GA_TO_BETA",
    "ONLY_IN_BETA",
    "ONLY_IN_GA",
    "Note",
    "Translation",
    "TranslationState",
    "beta_to_ga",
    "ga_to_beta",
    "translate_transcript",
]

Side = Literal["client", "server"]
JSON = dict[str, Any]


def _types(api: str) -> frozenset[str]:
    return frozenset(decoder("server", api).classes) | frozenset(decoder("client", api).classes)


_BETA_TYPES = _types("beta")
_GA_TYPES = _types("ga")

EVENT_RENAMES_BETA_TO_GA: dict[str, str] = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    # GA folds transcription sessions into session.* with session.type "transcription".
    "transcription_session.update": "session.update",
    "transcription_session.updated": "session.updated",
}
"""Beta event types that GA calls differently."""

EVENT_RENAMES_GA_TO_BETA: dict[str, str] = {
    ga: beta for beta, ga in EVENT_RENAMES_BETA_TO_GA.items() if ga not in _BETA_TYPES
}
"""The unambiguous inverse of :data:`EVENT_RENAMES_BETA_TO_GA`.

``session.update`` / ``session.updated`` are left out: they exist in beta too,
and become ``transcription_session.*`` only when ``session.type`` is
``"transcription"`` (decided per event by :func:`ga_to_beta`).
"""

EVENT_SUBSTITUTES_GA_TO_BETA: dict[str, str] = {"conversation.item.added": "conversation.item.created"}
"""GA events that beta announces with another event of the same payload (GA keeps that one too)."""

ONLY_IN_BETA: frozenset[str] = _BETA_TYPES - _GA_TYPES - EVENT_RENAMES_BETA_TO_GA.keys()
"""Beta event types with no GA counterpart (dropped by :func:`beta_to_ga`)."""

ONLY_IN_GA: frozenset[str] = (
    _GA_TYPES - _BETA_TYPES - EVENT_RENAMES_GA_TO_BETA.keys() - EVENT_SUBSTITUTES_GA_TO_BETA.keys()
)
"""GA event types with no beta counterpart (dropped by :func:`ga_to_beta`)."""


class Translation(NamedTuple):
    """One translated event (``None`` if it has no counterpart) and notes on what was lost."""

    event: JSON | None
    notes: list[str]


class Note(NamedTuple):
    """Something :func:`translate_transcript` could not carry over, at a source ``lineno``."""

    lineno: int
    event_type: str
    message: str


@dataclass
class TranslationState:
    """Facts earlier events of a transcript give about later ones; pass one to consecutive calls.

    ``call_names`` maps a function call's ``call_id`` to its ``name``;
    ``announced_items`` holds the ids of items already announced to beta by
    ``conversation.item.created``.
    """

    call_names: dict[str, str] = field(default_factory=dict)
    announced_items: set[str] = field(default_factory=set)


class _Ctx:
    # What a handler needs: the state, and where to put notes.
    def __init__(self, state: TranslationState, target: str):
        self.state = state
        self.target = target
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)

    def drop(self, where: str, value: Any, reason: str | None = None) -> None:
        if value is not None:
            self.note(f"{where}: dropped ({reason or f'no {_API_NAMES[self.target]} counterpart'})")


_API_NAMES = {"ga": "GA", "beta": "beta"}
_DROP = object()  # a converter's answer: leave the field out

Conv = Callable[[Any, _Ctx, str], Any]


# ---------------------------------------------------------------------------
# Public API


def beta_to_ga(event: JSON, side: Side, state: TranslationState | None = None) -> Translation:
    """Translate one beta event (a JSON dict) into its GA form.

    ``side`` is ``"client"`` or ``"server"``. Raises :class:`ProtocolError` if
    ``event`` does not fit the beta model; an unknown ``type`` passes through
    unchanged, with a note.
    """
    return _translate(event, side, "beta", "ga", state)


def ga_to_beta(event: JSON, side: Side, state: TranslationState | None = None) -> Translation:
    """Translate one GA event (a JSON dict) into its beta form; see :func:`beta_to_ga`."""
    return _translate(event, side, "ga", "beta", state)


def translate_transcript(transcript: Transcript, to: Literal["ga", "beta"]) -> tuple[Transcript, list[Note]]:
    """Translate a beta transcript to GA or back; local lines and timing are kept.

    Events without a counterpart, and malformed ones, are dropped; every loss
    is reported as a :class:`Note` with the source line number. The header gets
    ``api=to`` and ``translated_from``.
    """
    if to not in _API_NAMES:
        raise ValueError(f"to must be 'ga' or 'beta', not {to!r}")
    source = transcript.api
    if source not in _API_NAMES:
        raise ValueError(f"a {source!r} transcript has no beta or GA form")
    if source == to:
        return Transcript(dict(transcript.header), list(transcript.lines), transcript.torn_tail), []
    state = TranslationState()
    lines: list[tuple[float, str, JSON]] = []
    notes: list[Note] = []
    for line in transcript.lines:
        if line.dir == "local" or line.type == RAW_FRAME_TYPE:
            lines.append((line.t, line.dir, line.event))
            continue
        try:
            result = _translate(line.event, line.dir, source, to, state)
        except ProtocolError as exc:
            notes.append(Note(line.lineno, line.type, f"malformed, dropped: {exc}"))
            continue
        notes.extend(Note(line.lineno, line.type, message) for message in result.notes)
        if result.event is not None:
            lines.append((line.t, line.dir, result.event))
    header = {**transcript.header, "api": to, "translated_from": source}
    return Transcript.from_events(header, lines), notes


def _translate(event: JSON, side: str, source: str, target: str, state: TranslationState | None) -> Translation:
    if side not in ("client", "server"):
        raise ValueError(f"side must be 'client' or 'server', not {side!r}")
    if not isinstance(event, dict):
        raise TypeError(f"expected an event dict, got {type(event).__name__}")
    data = orjson.dumps(event)
    decoded = decoder(side, source).decode(data, strict=True)  # handlers rely on the model's required fields
    event = orjson.loads(data)  # a private deep copy, so handlers may share its parts
    ctx = _Ctx(state if state is not None else TranslationState(), target)
    if type(decoded) is UnknownEvent:
        ctx.note(f"$.type: {event['type']!r} is not a {_API_NAMES[source]} {side} event; passed through unchanged")
        return Translation(event, ctx.notes)
    handler = _HANDLERS[source, side].get(event["type"], _rename_or_copy)
    return Translation(handler(event, ctx), ctx.notes)


def _rename_or_copy(event: JSON, ctx: _Ctx) -> JSON | None:
    kind = event["type"]
    renames = EVENT_RENAMES_BETA_TO_GA if ctx.target == "ga" else EVENT_RENAMES_GA_TO_BETA
    if kind in renames:
        return _renamed(event, renames[kind])
    if kind in (ONLY_IN_BETA if ctx.target == "ga" else ONLY_IN_GA):
        ctx.note(f"$.type: {kind!r} has no {_API_NAMES[ctx.target]} counterpart; event dropped")
        return None
    return event


def _renamed(event: JSON, new_type: str) -> JSON:
    return {"type": new_type, **{k: v for k, v in event.items() if k != "type"}}


def _pick(obj: JSON, allowed: frozenset[str] | set[str], ctx: _Ctx, where: str, reason: str | None = None) -> JSON:
    """The members of ``obj`` named in ``allowed``; the others are dropped with a note."""
    for key, value in obj.items():
        if key not in allowed:
            ctx.drop(f"{where}.{key}", value, reason)
    return {k: v for k, v in obj.items() if k in allowed}


# ---------------------------------------------------------------------------
# Field-by-field object mapping


class _Field(NamedTuple):
    # One field: its beta key, its GA path, and value converters (run on non-null values).
    beta: str
    ga: tuple[str, ...]
    to_ga: Conv | None = None
    to_beta: Conv | None = None
    null_in_ga: bool = True  # False: a beta null is left out (the GA field cannot be null)


def _to_ga(obj: JSON, fields: list[_Field], ctx: _Ctx, where: str, reasons: dict[str, str]) -> JSON:
    out: JSON = {}
    for f in fields:  # in table order, so that GA objects come out in one canonical order
        if f.beta not in obj:
            continue
        value = obj[f.beta]
        if value is None and not f.null_in_ga:
            continue
        if value is not None and f.to_ga is not None:
            value = f.to_ga(value, ctx, f"{where}.{f.beta}")
        if value is not _DROP:
            _set_path(out, f.ga, value)
    known = {f.beta for f in fields}
    for key, value in obj.items():
        if key not in known:
            ctx.drop(f"{where}.{key}", value, reasons.get(key))
    return out


def _set_path(out: JSON, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        out = out.setdefault(key, {})
    out[path[-1]] = value


def _to_beta(obj: JSON, fields: list[_Field], ctx: _Ctx, where: str, reasons: dict[str, str]) -> JSON:
    by_path = {f.ga: f for f in fields}
    containers = {f.ga[:i] for f in fields for i in range(1, len(f.ga))}
    out: JSON = {}

    def walk(node: JSON, prefix: tuple[str, ...]) -> None:
        for key, value in node.items():
            path = prefix + (key,)
            f = by_path.get(path)
            if f is not None:
                if value is not None and f.to_beta is not None:
                    value = f.to_beta(value, ctx, where + "." + ".".join(path))
                if value is not _DROP:
                    out[f.beta] = value
            elif path in containers and isinstance(value, dict):
                walk(value, path)
            else:
                ctx.drop(where + "." + ".".join(path), value, reasons.get(key))

    walk(obj, ())
    return out


# Converters: (value, ctx, JSON path) -> new value or _DROP.


def _modalities_to_ga(value: list[str], ctx: _Ctx, where: str) -> list[str]:
    if "audio" not in value:
        return value
    if "text" in value:
        ctx.note(
            f'{where}: ["text", "audio"] became output_modalities ["audio"]'
            " (GA allows one; audio comes with its transcript)"
        )
    return ["audio"]


def _modalities_to_beta(value: list[str], ctx: _Ctx, where: str) -> list[str]:
    return ["text", "audio"] if "audio" in value else value


_FORMATS_TO_GA: dict[str, JSON] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_FORMATS_TO_BETA: dict[str, str] = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}


def _format_to_ga(value: str, ctx: _Ctx, where: str) -> Any:
    if value not in _FORMATS_TO_GA:
        ctx.note(f"{where}: dropped (unknown audio format {value!r})")
        return _DROP
    return dict(_FORMATS_TO_GA[value])


def _format_to_beta(value: JSON, ctx: _Ctx, where: str) -> Any:
    kind = value.get("type") or "audio/pcm"  # GA reads {} as PCM
    if kind not in _FORMATS_TO_BETA:
        ctx.note(f"{where}: dropped (audio format {kind!r} has no beta name)")
        return _DROP
    rate = value.get("rate")
    if kind == "audio/pcm" and rate not in (None, 24000):
        ctx.note(f"{where}.rate: {rate} became 24000 (beta pcm16 is 24 kHz only)")
    return _FORMATS_TO_BETA[kind]


_GA_VAD_FIELDS: dict[str, frozenset[str]] = {
    "server_vad": frozenset(
        {"type", "create_response", "interrupt_response", "prefix_padding_ms", "silence_duration_ms", "threshold",
         "idle_timeout_ms"}
    ),
    "semantic_vad": frozenset({"type", "create_response", "eagerness", "interrupt_response"}),
}
_BETA_VAD_FIELDS = frozenset(
    {"type", "create_response", "eagerness", "interrupt_response", "prefix_padding_ms", "silence_duration_ms",
     "threshold"}
)


def _turn_detection_to_ga(value: JSON, ctx: _Ctx, where: str) -> Any:
    kind = value.get("type") or "server_vad"  # the beta default
    if kind not in _GA_VAD_FIELDS:
        ctx.note(f"{where}: dropped (unknown turn detection type {kind!r})")
        return _DROP
    return {**_pick(value, _GA_VAD_FIELDS[kind], ctx, where, f"not a {kind} setting in GA"), "type": kind}


def _turn_detection_to_beta(value: JSON, ctx: _Ctx, where: str) -> JSON:
    return _pick(value, _BETA_VAD_FIELDS, ctx, where, "not a beta turn_detection setting")


_TRANSCRIPTION_FIELDS = frozenset({"language", "model", "prompt"})


def _transcription(value: JSON, ctx: _Ctx, where: str) -> JSON:
    reason = "beta transcription has only model, language, prompt" if ctx.target == "beta" else None
    return _pick(value, _TRANSCRIPTION_FIELDS, ctx, where, reason)


def _noise_reduction(value: JSON, ctx: _Ctx, where: str) -> JSON:
    reason = "beta noise reduction has only type" if ctx.target == "beta" else None
    return _pick(value, frozenset({"type"}), ctx, where, reason)


def _voice_to_beta(value: Any, ctx: _Ctx, where: str) -> Any:
    if isinstance(value, dict):
        ctx.note(f"{where}: dropped (beta has no custom voice object)")
        return _DROP
    return value


_FUNCTION_TOOL_FIELDS = frozenset({"type", "name", "description", "parameters"})


def _tools_to_ga(value: list[JSON], ctx: _Ctx, where: str) -> list[JSON]:
    return [_pick(tool, _FUNCTION_TOOL_FIELDS, ctx, f"{where}[{i}]") for i, tool in enumerate(value)]


def _tools_to_beta(value: list[JSON], ctx: _Ctx, where: str) -> list[JSON]:
    kept = []
    for i, tool in enumerate(value):
        if tool.get("type", "function") in ("function", None):
            kept.append(_pick(tool, _FUNCTION_TOOL_FIELDS, ctx, f"{where}[{i}]"))
        else:
            label = tool.get("server_label", "")
            ctx.note(f"{where}[{i}]: dropped ({tool.get('type')} tool {label!r}: beta has function tools only)")
    return kept


_TOOL_CHOICE_STRINGS = frozenset({"auto", "none", "required"})


def _tool_choice_to_ga(value: str, ctx: _Ctx, where: str) -> Any:
    if value in _TOOL_CHOICE_STRINGS:
        return value
    ctx.note(f"{where}: dropped ({value!r} is not a GA tool_choice)")
    return _DROP


def _tool_choice_to_beta(value: Any, ctx: _Ctx, where: str) -> Any:
    if isinstance(value, str):
        return value
    forced = f"{value.get('type')} {value.get('name')!r}"
    ctx.note(f"{where}: dropped (beta tool_choice is a string; cannot force {forced})")
    return _DROP


_USAGE_FIELDS = frozenset(
    {"input_token_details", "input_tokens", "output_token_details", "output_tokens", "total_tokens"}
)
_INPUT_TOKEN_FIELDS = frozenset({"audio_tokens", "cached_tokens", "text_tokens"})


def _usage_to_beta(value: JSON, ctx: _Ctx, where: str) -> JSON:
    usage = _pick(value, _USAGE_FIELDS, ctx, where)
    details = usage.get("input_token_details")
    if isinstance(details, dict):
        usage["input_token_details"] = _pick(details, _INPUT_TOKEN_FIELDS, ctx, f"{where}.input_token_details")
    return usage


def _same(key: str, to_ga: Conv | None = None, to_beta: Conv | None = None) -> _Field:
    return _Field(key, (key,), to_ga, to_beta)


_AUDIO_INPUT_FIELDS = [
    _Field("input_audio_format", ("audio", "input", "format"), _format_to_ga, _format_to_beta),
    _Field("input_audio_transcription", ("audio", "input", "transcription"), _transcription, _transcription),
    _Field("input_audio_noise_reduction", ("audio", "input", "noise_reduction"), _noise_reduction, _noise_reduction),
    _Field("turn_detection", ("audio", "input", "turn_detection"), _turn_detection_to_ga, _turn_detection_to_beta),
]
_OUTPUT_FIELDS = [
    _Field("modalities", ("output_modalities",), _modalities_to_ga, _modalities_to_beta),
    _Field("output_audio_format", ("audio", "output", "format"), _format_to_ga, _format_to_beta),
    _Field("voice", ("audio", "output", "voice"), None, _voice_to_beta),
]
_TOOL_FIELDS = [
    _same("tools", _tools_to_ga, _tools_to_beta),
    _same("tool_choice", _tool_choice_to_ga, _tool_choice_to_beta),
]

_SESSION_FIELDS = [
    # Server-sent fields that the GA session model does not let be null.
    *(_Field(key, (key,), null_in_ga=False) for key in ("id", "object", "expires_at")),
    *map(_same, ("include", "instructions", "model", "tracing")),
    *_AUDIO_INPUT_FIELDS,
    *_OUTPUT_FIELDS,
    _Field("speed", ("audio", "output", "speed")),
    _Field("max_response_output_tokens", ("max_output_tokens",)),
    *_TOOL_FIELDS,
]
_TRANSCRIPTION_SESSION_FIELDS = [_same("include"), *_AUDIO_INPUT_FIELDS]

_REASONS = {
    "temperature": "GA has no temperature",
    "client_secret": "GA sessions carry no client_secret",
    "modalities": "GA transcription sessions have no modalities",
    "prompt": "beta has no prompt templates",
    "truncation": "beta has no truncation setting",
    "reasoning": "beta has no reasoning setting",
    "parallel_tool_calls": "beta has no parallel_tool_calls",
}


def _session_to_ga(session: JSON, ctx: _Ctx) -> JSON:
    return {"type": "realtime", **_to_ga(session, _SESSION_FIELDS, ctx, "$.session", _REASONS)}


def _transcription_session_to_ga(session: JSON, ctx: _Ctx) -> JSON:
    return {"type": "transcription", **_to_ga(session, _TRANSCRIPTION_SESSION_FIELDS, ctx, "$.session", _REASONS)}


def _session_to_beta(session: JSON, ctx: _Ctx, fields: list[_Field]) -> JSON:
    body = {k: v for k, v in session.items() if k != "type"}
    return _to_beta(body, fields, ctx, "$.session", _REASONS)


# ---------------------------------------------------------------------------
# Items and content parts


_ITEM_FIELDS: dict[str, frozenset[str]] = {
    "message": frozenset({"id", "object", "status", "type", "role", "content"}),
    "function_call": frozenset({"id", "object", "status", "type", "name", "arguments", "call_id"}),
    "function_call_output": frozenset({"id", "object", "status", "type", "call_id", "output"}),
    "item_reference": frozenset({"id", "type"}),
}
_GA_REQUIRED: dict[str, tuple[str, ...]] = {
    "message": ("role",),
    "function_call": ("name", "arguments"),
    "function_call_output": ("call_id", "output"),
    "item_reference": ("id",),
}
_PART_FIELDS_GA: dict[str, frozenset[str]] = {
    "system": frozenset({"text", "type"}),
    "user": frozenset({"audio", "text", "transcript", "type"}),
    "assistant": frozenset({"audio", "text", "transcript", "type"}),
}
_PART_FIELDS_BETA = frozenset({"audio", "text", "transcript", "type"})
_ASSISTANT_PARTS_TO_GA = {"text": "output_text", "audio": "output_audio"}
_ASSISTANT_PARTS_TO_BETA = {v: k for k, v in _ASSISTANT_PARTS_TO_GA.items()}


def _learn(item: JSON, ctx: _Ctx) -> None:
    if item.get("type") == "function_call" and item.get("call_id") and item.get("name") is not None:
        ctx.state.call_names[item["call_id"]] = item["name"]


def _item_to_ga(item: JSON, ctx: _Ctx, where: str, references: bool = False) -> JSON | None:
    _learn(item, ctx)
    kind = item.get("type")
    if kind not in _ITEM_FIELDS or (kind == "item_reference" and not references):
        ctx.note(f"{where}: an item of type {kind!r} has no GA form here")
        return None
    missing = [key for key in _GA_REQUIRED[kind] if item.get(key) is None]
    if missing:
        ctx.note(f"{where}: a {kind} item without {' and '.join(missing)} has no GA form")
        return None
    if kind == "message" and item["role"] not in _PART_FIELDS_GA:
        ctx.note(f"{where}.role: a message with role {item['role']!r} has no GA form")
        return None
    out = _pick(item, _ITEM_FIELDS[kind], ctx, where, f"not a field of a GA {kind} item")
    if kind == "message":
        out["content"] = _parts_to_ga(item.get("content") or [], item["role"], ctx, f"{where}.content")
    return out


def _parts_to_ga(parts: list[JSON], role: str, ctx: _Ctx, where: str) -> list[JSON]:
    out = []
    for i, part in enumerate(parts):
        kind = part.get("type")
        if kind == "item_reference":
            ctx.note(f"{where}[{i}]: dropped (GA has no item_reference content parts)")
            continue
        new = _pick(part, _PART_FIELDS_GA[role], ctx, f"{where}[{i}]", f"not a field of a GA {role} content part")
        if role == "assistant" and kind in _ASSISTANT_PARTS_TO_GA:
            new["type"] = _ASSISTANT_PARTS_TO_GA[kind]
        out.append(new)
    return out


def _item_to_beta(item: JSON, ctx: _Ctx, where: str) -> JSON | None:
    _learn(item, ctx)
    kind = item.get("type")
    if kind not in _ITEM_FIELDS:
        ctx.note(f"{where}: an item of type {kind!r} has no beta form")
        return None
    out = _pick(item, _ITEM_FIELDS[kind], ctx, where, f"not a field of a beta {kind} item")
    if kind == "message" and isinstance(item.get("content"), list):
        out["content"] = _parts_to_beta(item["content"], item.get("role"), ctx, f"{where}.content")
    return out


def _parts_to_beta(parts: list[JSON], role: str | None, ctx: _Ctx, where: str) -> list[JSON]:
    out = []
    for i, part in enumerate(parts):
        kind = part.get("type")
        if kind == "input_image":
            ctx.note(f"{where}[{i}]: dropped (beta has no image input)")
            continue
        new = _pick(part, _PART_FIELDS_BETA, ctx, f"{where}[{i}]", "not a field of a beta content part")
        if role == "assistant" and kind in _ASSISTANT_PARTS_TO_BETA:
            new["type"] = _ASSISTANT_PARTS_TO_BETA[kind]
        out.append(new)
    return out


def _each(translate_item: Callable[..., JSON | None], **options: Any) -> Conv:
    # A list converter: every item translated, the untranslatable ones left out (with their notes).
    def convert(items: list[JSON], ctx: _Ctx, where: str) -> list[JSON]:
        translated = (translate_item(item, ctx, f"{where}[{i}]", **options) for i, item in enumerate(items))
        return [item for item in translated if item is not None]

    return convert


_RESPONSE_COMMON = ("id", "conversation_id", "max_output_tokens", "metadata", "object", "status", "status_details")
_RESPONSE_FIELDS = [
    *map(_same, _RESPONSE_COMMON),
    _same("usage", None, _usage_to_beta),
    _same("output", _each(_item_to_ga), _each(_item_to_beta)),
    *_OUTPUT_FIELDS,
]
_RESPONSE_CREATE_FIELDS = [
    *map(_same, ("conversation", "instructions", "metadata")),
    _same("input", _each(_item_to_ga, references=True), _each(_item_to_beta)),
    _Field("max_response_output_tokens", ("max_output_tokens",)),
    *_OUTPUT_FIELDS,
    *_TOOL_FIELDS,
]


# ---------------------------------------------------------------------------
# Event handlers: (event, ctx) -> translated event or None


def _session_event_to_ga(event: JSON, ctx: _Ctx) -> JSON:
    return {**event, "session": _session_to_ga(event["session"], ctx)}


def _transcription_event_to_ga(event: JSON, ctx: _Ctx) -> JSON:
    out = _renamed(event, EVENT_RENAMES_BETA_TO_GA[event["type"]])
    return {**out, "session": _transcription_session_to_ga(event["session"], ctx)}


def _session_event_to_beta(event: JSON, ctx: _Ctx) -> JSON | None:
    session = event["session"]
    if session.get("type", "realtime") == "realtime":
        return {**event, "session": _session_to_beta(session, ctx, _SESSION_FIELDS)}
    if event["type"] == "session.created":
        ctx.note("$.session.type: a transcription session.created has no beta counterpart; event dropped")
        return None
    new_type = "transcription_session." + event["type"].split(".", 1)[1]
    if new_type == "transcription_session.updated":
        ctx.note("$.session.client_secret: beta transcription_session.updated carries one; GA has none to give")
    return {**_renamed(event, new_type), "session": _session_to_beta(session, ctx, _TRANSCRIPTION_SESSION_FIELDS)}


Handler = Callable[[JSON, _Ctx], JSON | None]


def _with_item(translate_item: Callable[[JSON, _Ctx, str], JSON | None]) -> Handler:
    # A handler for events that carry one `item`: no item, no event.
    def handler(event: JSON, ctx: _Ctx) -> JSON | None:
        item = translate_item(event["item"], ctx, "$.item")
        if item is None:
            ctx.note("$.item: event dropped")
            return None
        return {**event, "item": item}

    return handler


_item_event_to_ga = _with_item(_item_to_ga)
_item_event_to_beta = _with_item(_item_to_beta)


def _item_created_to_beta(event: JSON, ctx: _Ctx) -> JSON | None:
    # GA announces an item with conversation.item.added (and maybe .created); beta only with .created.
    item_id = event["item"].get("id")
    if item_id is not None and item_id in ctx.state.announced_items:
        ctx.note(f"$.item.id: item {item_id!r} was already announced by conversation.item.created; event dropped")
        return None
    out = _item_event_to_beta(_renamed(event, "conversation.item.created"), ctx)
    if out is not None and item_id is not None:
        ctx.state.announced_items.add(item_id)
    return out


def _reshaping(key: str, fields: list[_Field], mapper: Callable[..., JSON]) -> Handler:
    # A handler for events whose object under `key` is mapped field by field (absent or null stays so).
    def handler(event: JSON, ctx: _Ctx) -> JSON:
        obj = event.get(key)
        if not isinstance(obj, dict):
            return event
        return {**event, key: mapper(obj, fields, ctx, f"$.{key}", _REASONS)}

    return handler


_response_event_to_ga = _reshaping("response", _RESPONSE_FIELDS, _to_ga)
_response_event_to_beta = _reshaping("response", _RESPONSE_FIELDS, _to_beta)
_response_create_to_ga = _reshaping("response", _RESPONSE_CREATE_FIELDS, _to_ga)
_response_create_to_beta = _reshaping("response", _RESPONSE_CREATE_FIELDS, _to_beta)


def _arguments_done_to_ga(event: JSON, ctx: _Ctx) -> JSON:
    name = ctx.state.call_names.get(event["call_id"])
    if name is None:
        ctx.note(f"$.name: unknown (no function_call item with call_id {event['call_id']!r} seen before); set to \"\"")
        name = ""
    return {**event, "name": name}


def _arguments_done_to_beta(event: JSON, ctx: _Ctx) -> JSON:
    ctx.state.call_names.setdefault(event["call_id"], event["name"])
    return {k: v for k, v in event.items() if k != "name"}


def _transcription_completed_to_beta(event: JSON, ctx: _Ctx) -> JSON:
    return _pick(event, set(event) - {"languages"}, ctx, "$", "beta reports no detected languages")


_ITEM_EVENTS = ("conversation.item.retrieved", "response.output_item.added", "response.output_item.done")

_HANDLERS: dict[tuple[str, str], dict[str, Handler]] = {
    ("beta", "server"): {
        "session.created": _session_event_to_ga,
        "session.updated": _session_event_to_ga,
        "transcription_session.updated": _transcription_event_to_ga,
        "conversation.item.created": _item_event_to_ga,
        **dict.fromkeys(_ITEM_EVENTS, _item_event_to_ga),
        "response.created": _response_event_to_ga,
        "response.done": _response_event_to_ga,
        "response.function_call_arguments.done": _arguments_done_to_ga,
    },
    ("beta", "client"): {
        "session.update": _session_event_to_ga,
        "transcription_session.update": _transcription_event_to_ga,
        "conversation.item.create": _item_event_to_ga,
        "response.create": _response_create_to_ga,
    },
    ("ga", "server"): {
        "session.created": _session_event_to_beta,
        "session.updated": _session_event_to_beta,
        "conversation.item.added": _item_created_to_beta,
        "conversation.item.created": _item_created_to_beta,
        **dict.fromkeys(_ITEM_EVENTS, _item_event_to_beta),
        "response.created": _response_event_to_beta,
        "response.done": _response_event_to_beta,
        "response.function_call_arguments.done": _arguments_done_to_beta,
        "conversation.item.input_audio_transcription.completed": _transcription_completed_to_beta,
    },
    ("ga", "client"): {
        "session.update": _session_event_to_beta,
        "conversation.item.create": _item_event_to_beta,
        "response.create": _response_create_to_beta,
    },
}
