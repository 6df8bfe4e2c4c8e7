"""rtproto's GA event model against the official SDK (openai==3.51.0, a test-only dependency).

Two kinds of check:

* structure: every member of the SDK's unions (events, items, tools,
  tool_choice, audio formats, turn detection, MCP errors, session types,
  transcription usage) has an rtproto struct with the same type string, and
  every SDK field, down the whole object tree, exists on the rtproto struct
  with the same required/optional status and nullability;
* values: payloads generated from the SDK's JSON schema (made strict) and
  accepted by the SDK's own pydantic models decode into the right rtproto
  struct and re-encode to the same JSON.
"""

from __future__ import annotations

import collections
from typing import Any, get_args

import msgspec
import orjson
import pytest
import sdk_schemas as sdk
from hypothesis import HealthCheck, Phase, given, settings

from rtproto.events import (
    GA_CLIENT,
    GA_SERVER,
    AudioFormat,
    ConversationItem,
    McpError,
    SessionConfig,
    Tool,
    ToolChoice,
    UnknownEvent,
    decode_client,
    decode_server,
    encode,
    extra_fields,
    leniencies,
)
from rtproto.events import server
from rtproto.events._base import OneOf
from rtproto.events._event import Event
from rtproto.events.config import RealtimeSession, TranscriptionSession, TurnDetection, VoiceId
from rtproto.events.items import ItemReference
from rtproto.events.server import TranscriptionUsage

DECODE = {"server": decode_server, "client": decode_client}
TABLES = {"server": GA_SERVER.classes, "client": GA_CLIENT.classes}

# SDK union -> the rtproto union that models it (variants keyed by type, or (type, role)).
RTPROTO_UNIONS: dict[str, type[OneOf]] = {
    "items": ConversationItem,
    "session_tools": Tool,
    "response_tools": Tool,
    "tool_choice": ToolChoice,
    "audio_formats": AudioFormat,
    "turn_detection": TurnDetection,
    "mcp_errors": McpError,
    "session_types": SessionConfig,
    "transcription_usage": TranscriptionUsage,
}

# Fields rtproto has and the SDK does not, each for a documented reason.
KNOWN_EXTRA_FIELDS: dict[type, set[str]] = {
    # The server's session object carries them (the SDK's REST session class has them); for
    # session.created/updated the SDK reuses its request class, which lacks them.
    RealtimeSession: {"id", "object", "expires_at"},
    TranscriptionSession: {"id", "object", "expires_at"},
    # Real servers pad streamed deltas (see rtproto.events.server); the SDK lists it on MCP arguments only.
    **{cls: {"obfuscation"} for cls in (
        server.ResponseOutputAudioDelta, server.ResponseOutputAudioTranscriptDelta, server.ResponseOutputTextDelta,
        server.ResponseFunctionCallArgumentsDelta, server.ConversationItemInputAudioTranscriptionDelta)},
}
# (SDK model, field) -> structs rtproto also accepts there, each for a documented reason.
KNOWN_EXTRA_STRUCTS: dict[tuple[str, str], set[type]] = {
    # Only valid in response.create -> response.input; the SDK lists it in its param (TypedDict) types only.
    ("realtime_response_create_params.RealtimeResponseCreateParams", "input"): {ItemReference},
    # rtproto shares one audio-output struct between response.create and the response object,
    # so the response object also reads a custom voice {"id": ...} (the SDK's response model does not).
    ("realtime_response.AudioOutput", "voice"): {VoiceId},
}


# ---------------------------------------------------------------------------
# Structure


def rt_key(struct: type) -> tuple[Any, Any]:
    """(type, role) of an rtproto struct: its key in the OneOf union that lists it, or its event tag."""
    if issubclass(struct, Event):
        return struct.__struct_config__.tag, None
    for union in _all_subclasses(OneOf):
        for key, member in union.variants.items():
            if member is struct:
                return key if isinstance(key, tuple) else (key, None)
    return None, None


def _all_subclasses(cls: type) -> list[type]:
    return [s for sub in cls.__subclasses__() for s in (sub, *_all_subclasses(sub))]


def sdk_union_keys(name: str) -> dict[tuple[Any, Any], type]:
    return {sdk.discriminator_key(m): m for m in sdk.union_models(sdk.SDK_UNIONS[name])}


def rt_union_keys(union: type[OneOf]) -> dict[tuple[Any, Any], type]:
    return {(k if isinstance(k, tuple) else (k, None)): v for k, v in union.variants.items()}


def sdk_models_in(tp: Any) -> list[type]:
    """The SDK models anywhere inside an annotation (through Optional, List, Dict, Union)."""
    tp = sdk.strip_annotated(tp)
    if sdk.is_model(tp):
        return [tp]
    return [m for arg in get_args(tp) for m in sdk_models_in(arg)]


def rt_structs_in(tp: Any) -> list[type]:
    """The rtproto structs anywhere inside a field type; a OneOf union counts as its variants."""
    if isinstance(tp, type) and issubclass(tp, OneOf):
        return list(dict.fromkeys(tp.variants.values()))
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return [tp]
    return list(dict.fromkeys(s for arg in get_args(tp) for s in rt_structs_in(arg)))


def rt_fields(struct: type) -> dict[str, tuple[bool, bool, Any]]:
    """Wire name -> (always on the wire, may be null, type) for an rtproto struct.

    A field is "required" when it has no default or a real (non-UNSET)
    default: either way it is always encoded. The event tag counts as ``type``.
    """
    out = {}
    for f in msgspec.structs.fields(struct):
        nullable = type(None) in get_args(f.type) or f.type is type(None)
        out[f.encode_name] = (f.default is not msgspec.UNSET, nullable, f.type)
    if issubclass(struct, Event):
        out["type"] = (True, False, str)
    return out


def sdk_name(model: type) -> str:
    """``module.Class`` of an SDK model, e.g. ``realtime_response.AudioOutput``."""
    return f"{model.__module__.rsplit('.', 1)[-1]}.{model.__qualname__}"


def compare(sdk_model: type, struct: type, where: str, problems: list[str], seen: set) -> None:
    """Append to ``problems`` every difference between an SDK model and an rtproto struct, recursively."""
    if (sdk_model, struct) in seen:
        return
    seen.add((sdk_model, struct))
    theirs = {(f.alias or n): f for n, f in sdk_model.model_fields.items()}
    ours = rt_fields(struct)
    for name in sorted(set(ours) - set(theirs) - KNOWN_EXTRA_FIELDS.get(struct, set())):
        problems.append(f"{where}: {struct.__name__}.{name} is not in {sdk_model.__name__}")
    for name, field in theirs.items():
        at = f"{where}.{name}"
        if name not in ours:
            problems.append(f"{at}: missing on {struct.__name__}")
            continue
        required, nullable, rt_type = ours[name]
        if required != field.is_required():
            problems.append(f"{at}: required is {required} in rtproto, {field.is_required()} in the SDK")
        sdk_nullable = type(None) in sdk.flatten(field.annotation)
        if nullable != sdk_nullable:
            problems.append(f"{at}: nullable is {nullable} in rtproto, {sdk_nullable} in the SDK")
        extra = KNOWN_EXTRA_STRUCTS.get((sdk_name(sdk_model), name), set())
        structs = [s for s in rt_structs_in(rt_type) if s not in extra]
        pair_nested(sdk_models_in(field.annotation), structs, at, problems, seen)


def pair_nested(models: list[type], structs: list[type], where: str, problems: list[str], seen: set) -> None:
    if len(models) == 1 and len(structs) == 1:
        compare(models[0], structs[0], where, problems, seen)
        return
    ours = {rt_key(s): s for s in structs}
    theirs = {sdk.discriminator_key(m): m for m in models}
    if set(ours) != set(theirs):
        problems.append(f"{where}: variants {sorted(map(str, ours))} in rtproto, {sorted(map(str, theirs))} in the SDK")
    for key in set(ours) & set(theirs):
        compare(theirs[key], ours[key], f"{where}<{key[0]}>", problems, seen)


@pytest.mark.parametrize(("side", "count"), [("server", 46), ("client", 11)])
def test_every_sdk_event_type_has_a_struct(side: str, count: int) -> None:
    theirs = set(sdk.event_models(side))
    assert len(theirs) == count
    assert set(TABLES[side]) == theirs


@pytest.mark.parametrize("name", sorted(RTPROTO_UNIONS))
def test_every_sdk_union_member_has_a_struct(name: str) -> None:
    theirs = set(sdk_union_keys(name))
    ours = set(rt_union_keys(RTPROTO_UNIONS[name]))
    assert ours == theirs
    if name == "items":
        assert len(ours) == 9
        assert {role for kind, role in ours if kind == "message"} == {"system", "user", "assistant"}


def test_tool_choice_string_forms_match() -> None:
    assert ToolChoice.strings == sdk.union_string_forms(sdk.SDK_UNIONS["tool_choice"])


@pytest.mark.parametrize("side", ["server", "client"])
def test_event_fields_match_the_sdk_down_the_whole_tree(side: str) -> None:
    problems: list[str] = []
    seen: set = set()
    for event_type, model in sorted(sdk.event_models(side).items()):
        compare(model, TABLES[side][event_type], event_type, problems, seen)
    assert problems == []
    assert len(seen) > {"server": 100, "client": 50}[side]  # the walk really went down the tree


@pytest.mark.parametrize("name", sorted(RTPROTO_UNIONS))
def test_union_member_fields_match_the_sdk(name: str) -> None:
    problems: list[str] = []
    theirs = sdk_union_keys(name)
    ours = rt_union_keys(RTPROTO_UNIONS[name])
    for key in theirs:
        compare(theirs[key], ours[key], f"{name}<{key[0]}>", problems, set())
    assert problems == []


def test_the_structure_check_catches_a_missing_and_a_mistyped_field() -> None:
    # The same walk on deliberately wrong structs must complain: it is not vacuous.
    class Truncated(msgspec.Struct, kw_only=True):
        item_id: str
        content_index: int | msgspec.UnsetType = msgspec.UNSET
        type: str = "conversation.item.truncated"

    problems: list[str] = []
    model = sdk.event_models("server")["conversation.item.truncated"]
    compare(model, Truncated, "conversation.item.truncated", problems, set())
    assert problems == [
        "conversation.item.truncated.audio_end_ms: missing on Truncated",
        "conversation.item.truncated.content_index: required is False in rtproto, True in the SDK",
        "conversation.item.truncated.event_id: missing on Truncated",
    ]


# ---------------------------------------------------------------------------
# Values: generated payloads round-trip exactly

ALL_TYPES = [(side, t) for side in ("server", "client") for t in sorted(sdk.event_models(side))]
# Event types the generator cannot produce payloads for. Keep this exact: it must not grow.
UNGENERATABLE: set[tuple[str, str]] = set()
# More examples where the schema has more room (items, sessions, responses).
RICH = {"session.created", "session.updated", "session.update", "response.create", "response.created",
        "response.done", "conversation.item.create", "conversation.item.added", "conversation.item.done",
        "conversation.item.created", "conversation.item.retrieved", "response.output_item.added",
        "response.output_item.done"}
EXAMPLES = {"rich": 400, "plain": 150}
EXTRA_KEY = "x_rtproto_future_field"

TALLY: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_tally(request: pytest.FixtureRequest):
    yield
    if TALLY:
        line = (f"conformance: {sum(TALLY.values())} SDK-valid payloads round-tripped over "
                f"{len(TALLY)} GA event types ({sum(1 for s, _ in TALLY if s == 'server')} server, "
                f"{sum(1 for s, _ in TALLY if s == 'client')} client)")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)


def strategy_errors() -> dict[tuple[str, str], str]:
    errors = {}
    for side, event_type in ALL_TYPES:
        try:
            sdk.strategy(sdk.strict_event_schema(side, event_type))
        except NotImplementedError as exc:
            errors[side, event_type] = str(exc)
    return errors


def test_every_event_type_can_be_generated() -> None:
    assert set(strategy_errors()) == UNGENERATABLE


def check_round_trip(side: str, payload: dict[str, Any]) -> None:
    sdk.sdk_validate(side, payload)  # the SDK itself accepts the payload
    event = DECODE[side](orjson.dumps(payload))
    assert not isinstance(event, UnknownEvent)
    assert type(event) is TABLES[side][payload["type"]]
    assert orjson.loads(encode(event)) == payload
    assert leniencies(payload, event) == []
    # An unknown top-level field is kept (and reported), and nothing else changes.
    extra = {EXTRA_KEY: {"nested": [1, None]}}
    widened = DECODE[side](orjson.dumps({**payload, **extra}))
    assert widened == event and extra_fields(widened) == extra
    assert orjson.loads(encode(widened)) == {**payload, **extra}
    assert leniencies({**payload, **extra}, widened) == [(f"$.{EXTRA_KEY}", f"unknown field {EXTRA_KEY!r}")]


@pytest.mark.parametrize(("side", "event_type"), [p for p in ALL_TYPES if p not in UNGENERATABLE])
def test_sdk_valid_payloads_round_trip_exactly(side: str, event_type: str) -> None:
    examples = EXAMPLES["rich" if event_type in RICH else "plain"]
    seen = 0

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(sdk.strategy(sdk.strict_event_schema(side, event_type)))
    def check(payload: dict[str, Any]) -> None:
        nonlocal seen
        assert payload["type"] == event_type
        check_round_trip(side, payload)
        seen += 1

    check()
    TALLY[side, event_type] += seen
    assert seen >= examples // 2  # the generator was not starved


@pytest.mark.parametrize(
    ("side", "payload"),
    [
        ("server", {"type": "session.updated", "event_id": "e", "session": {
            "type": "realtime", "tools": [{"name": "f", "parameters": {"type": "object"}, "strict": True}],
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000, "channels": 1}}},
            "new_setting": {"x": 1}}}),
        ("server", {"type": "conversation.item.done", "event_id": "e", "item": {
            "type": "message", "role": "assistant", "id": "i", "provenance": "model",
            "content": [{"type": "output_audio", "transcript": "hi", "confidence": 0.9}]}}),
        ("server", {"type": "response.done", "event_id": "e", "trace": [1, 2], "response": {
            "id": "r", "usage": {"total_tokens": 3, "input_token_details": {"video_tokens": 2}}}}),
        ("client", {"type": "response.create", "client_hint": True, "response": {"conversation": "none", "seed": 1}}),
    ],
)
def test_unknown_fields_on_known_events_are_kept_and_reported(side: str, payload: dict[str, Any]) -> None:
    data = orjson.dumps(payload)
    event = DECODE[side](data)
    assert type(event) is TABLES[side][payload["type"]]
    assert orjson.loads(encode(event)) == payload
    unknown = {"strict", "channels", "new_setting", "provenance", "confidence", "trace", "video_tokens",
               "client_hint", "seed"}
    reported = leniencies(data, event)
    assert sorted(what for _, what in reported) == sorted(f"unknown field {k!r}" for k in keys(payload) if k in unknown)
    assert all(path.rsplit(".", 1)[-1] in unknown for path, _ in reported)
    # Free-form values (a tool's JSON-schema parameters) are values, not fields: never reported.
    if payload["type"] == "session.updated":
        assert event.session.tools[0].parameters == {"type": "object"}
        assert extra_fields(event.session.tools[0]) == {"strict": True}


def keys(value: Any) -> list[str]:
    """Every object key anywhere inside a JSON value."""
    if isinstance(value, dict):
        return [k for key, v in value.items() for k in (key, *keys(v))]
    if isinstance(value, list):
        return [k for v in value for k in keys(v)]
    return []
