"""The beta (``OpenAI-Beta: realtime=v1``) and translation event models, checked against the SDK.

The SDK (openai 3.51.0) is used only here, as the reference: its unions say
which event types must exist and which fields each object has; its JSON
schemas feed hypothesis, which checks that every frame the SDK can represent
decodes and re-encodes to the same JSON.
"""

from __future__ import annotations

import functools
import math
import types
import typing
from typing import Any, Union

import msgspec
import orjson
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema
from pydantic import TypeAdapter
from sdk_schemas import flatten, is_model, literal_values, load, strict, strip_annotated, wire_fields

from rtproto import events
from rtproto.errors import ProtocolError
from rtproto.events import (
    UNSET, UnknownEvent, beta, decode_client, decode_server, decoder, encode, leniencies, to_dict, translation,
)

SDK_EVENT_UNIONS = {
    ("beta", "server"): "openai.types.beta.realtime:RealtimeServerEvent",
    ("beta", "client"): "openai.types.beta.realtime:RealtimeClientEvent",
    ("translation", "server"): "openai.types.realtime:RealtimeTranslationServerEvent",
    ("translation", "client"): "openai.types.realtime:RealtimeTranslationClientEvent",
}
# The GA unions too, for tests that translate GA events (tests/test_versions.py).
ALL_SDK_EVENT_UNIONS = {
    **SDK_EVENT_UNIONS,
    ("ga", "server"): "openai.types.realtime:RealtimeServerEvent",
    ("ga", "client"): "openai.types.realtime:RealtimeClientEvent",
}
MODULES = {"beta": beta, "translation": translation}


@functools.cache
def sdk_events(api: str, side: str) -> dict[str, type[pydantic.BaseModel]]:
    """Event type -> SDK model, for one of the SDK unions."""
    return {literal_values(m.model_fields["type"].annotation)[0]: m for m in flatten(load(ALL_SDK_EVENT_UNIONS[api, side]))}


def decode(api: str, side: str, data: bytes | str) -> Any:
    return (decode_server if side == "server" else decode_client)(data, api=api)


# ---------------------------------------------------------------------------
# Coverage: every SDK event has a struct, with every SDK field, all the way down


@pytest.mark.parametrize("api, side", list(SDK_EVENT_UNIONS))
def test_every_sdk_event_type_has_a_struct(api: str, side: str) -> None:
    module = MODULES[api]
    listed = module.SERVER_EVENTS if side == "server" else module.CLIENT_EVENTS
    ours = {cls.__struct_config__.tag for cls in listed}
    assert ours == set(sdk_events(api, side))
    assert set(decoder(side, api).classes) == ours
    assert len(listed) == len(ours), "an event class is listed twice"


# Fields a struct has beyond one SDK class, on purpose (see the struct docstrings).
EXTRA_FIELDS: dict[type, set[str]] = {
    # Server-sent, not in the SDK; client_secret only in session.update, id only in the server's session.
    beta.Session: {"id", "object", "expires_at", "include", "client_secret"},
    # One struct for transcription_session.update and .updated, whose SDK classes differ.
    beta.TranscriptionSession: {"client_secret", "include", "input_audio_noise_reduction"},
    beta.ClientSecret: {"expires_after", "expires_at", "value"},
    # One content-part struct; the response.input variant has no audio.
    beta.ConversationItemContent: {"audio"},
    # One flat turn_detection; the transcription session's has fewer fields.
    beta.TurnDetection: {"create_response", "eagerness", "interrupt_response"},
    # Sent by real servers on streamed deltas (see rtproto.events.server); not in the SDK.
    beta.ResponseAudioDelta: {"obfuscation"},
    beta.ResponseAudioTranscriptDelta: {"obfuscation"},
    beta.ResponseTextDelta: {"obfuscation"},
    events.ResponseFunctionCallArgumentsDelta: {"obfuscation"},
    events.ConversationItemInputAudioTranscriptionDelta: {"obfuscation"},
}
# SDK-required fields that are optional here, on purpose.
LENIENT: set[tuple[type, str]] = {
    (beta.TranscriptionSession, "client_secret"),
    (beta.ClientSecret, "expires_at"),
    (beta.ClientSecret, "value"),
}


def sdk_models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    found = []
    for member in flatten(strip_annotated(annotation)):
        origin = typing.get_origin(member)
        if origin in (list, dict):
            found += sdk_models_in(typing.get_args(member)[-1])
        elif is_model(member):
            found.append(member)
    return found


def structs_in(annotation: Any) -> list[type[msgspec.Struct]]:
    found = []
    members = typing.get_args(annotation) if typing.get_origin(annotation) in (Union, types.UnionType) else [annotation]
    for member in members:
        origin = typing.get_origin(member)
        if origin in (list, dict):
            found += structs_in(typing.get_args(member)[-1])
        elif isinstance(member, type) and issubclass(member, msgspec.Struct):
            found.append(member)
    return found


def compare(sdk: type[pydantic.BaseModel], ours: type[msgspec.Struct], path: str, problems: list[str], tag: bool) -> None:
    """Check that ``ours`` models every field of ``sdk`` (recursively); collect what is wrong."""
    sdk_fields = wire_fields(sdk)
    if tag:
        sdk_fields.pop("type")
    our_fields = {f.encode_name: f for f in msgspec.structs.fields(ours)}
    if missing := set(sdk_fields) - set(our_fields):
        problems.append(f"{path} ({ours.__name__}): missing {sorted(missing)}")
    if extra := set(our_fields) - set(sdk_fields) - EXTRA_FIELDS.get(ours, set()):
        problems.append(f"{path} ({ours.__name__}): undocumented extra fields {sorted(extra)}")
    for name, required in sdk_fields.items():
        if name not in our_fields:
            continue
        ours_required = our_fields[name].default is msgspec.NODEFAULT
        if ours_required and not required:
            problems.append(f"{path}.{name}: required here, optional in the SDK")
        if required and not ours_required and (ours, name) not in LENIENT:
            problems.append(f"{path}.{name}: optional here, required in the SDK")
        sdk_nested = sdk_models_in(sdk.model_fields[_python_name(sdk, name)].annotation)
        our_nested = structs_in(our_fields[name].type)
        if len(sdk_nested) == 1 and len(our_nested) == 1:
            compare(sdk_nested[0], our_nested[0], f"{path}.{name}", problems, tag=False)
        elif sdk_nested and not our_nested and not _is_oneof(our_fields[name].type):
            problems.append(f"{path}.{name}: the SDK has an object here, we have {our_fields[name].type}")


def _python_name(model: type[pydantic.BaseModel], wire: str) -> str:
    return next(n for n, f in model.model_fields.items() if (f.alias or n) == wire)


def _is_oneof(annotation: Any) -> bool:
    members = typing.get_args(annotation) or (annotation,)
    return any(isinstance(m, type) and issubclass(m, events.OneOf) for m in members)


@pytest.mark.parametrize("api, side", list(SDK_EVENT_UNIONS))
def test_structs_model_every_sdk_field_recursively(api: str, side: str) -> None:
    problems: list[str] = []
    classes = decoder(side, api).classes
    for event_type, model in sdk_events(api, side).items():
        compare(model, classes[event_type], event_type, problems, tag=True)
    assert problems == []


def test_events_identical_to_ga_are_the_ga_structs() -> None:
    frame = b'{"type":"input_audio_buffer.speech_started","event_id":"e1","item_id":"i1","audio_start_ms":120}'
    assert type(decode_server(frame, api="beta")) is events.InputAudioBufferSpeechStarted
    assert type(decode_server(frame, api="ga")) is events.InputAudioBufferSpeechStarted
    # ...while events that differ are separate classes under the same type string.
    assert beta.SessionUpdate is not events.SessionUpdate
    assert beta.SessionUpdate.__struct_config__.tag == events.SessionUpdate.__struct_config__.tag


# ---------------------------------------------------------------------------
# Lossless round trip of every SDK-representable frame (hypothesis)


@functools.cache
def union_schema(api: str, side: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The SDK union's JSON schema and its type -> $ref map."""
    union = load(ALL_SDK_EVENT_UNIONS[api, side])
    schema = TypeAdapter(union).json_schema(mode="validation")
    refs = {}
    for member, sub in zip(flatten(union), schema["anyOf"], strict=True):
        refs[literal_values(member.model_fields["type"].annotation)[0]] = sub["$ref"]
    return schema, refs


def _reachable(node: Any, defs: dict[str, Any], seen: set[str]) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        name = ref.removeprefix("#/$defs/")
        if ref.startswith("#/$defs/") and name not in seen:
            seen.add(name)
            _reachable(defs[name], defs, seen)
        for value in node.values():
            _reachable(value, defs, seen)
    elif isinstance(node, list):
        for value in node:
            _reachable(value, defs, seen)
    return seen


def strict_schema(api: str, side: str, event_type: str) -> dict[str, Any]:
    """A strict standalone schema for one event type, with only the $defs it reaches (fast to generate from)."""
    schema, refs = union_schema(api, side)
    root = {"$ref": refs[event_type]}
    defs = {name: schema["$defs"][name] for name in _reachable(root, schema["$defs"], set())}
    return strict({**root, "$defs": defs})


def canonical(value: Any) -> Any:
    """JSON value with numbers compared by value (1 == 1.0) but booleans kept apart from numbers."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        assert math.isfinite(value)
        return ("number", float(value))
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return {k: canonical(v) for k, v in value.items()}


ALL_TYPES = [(api, side, t) for (api, side) in SDK_EVENT_UNIONS for t in sorted(sdk_events(api, side))]


@pytest.mark.parametrize("api, side, event_type", ALL_TYPES, ids=[f"{a}-{t}" for a, _, t in ALL_TYPES])
def test_every_sdk_frame_round_trips_losslessly(api: str, side: str, event_type: str) -> None:
    @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(from_schema(strict_schema(api, side, event_type)))
    def check(payload: dict[str, Any]) -> None:
        data = orjson.dumps(payload)
        event = decode(api, side, data)
        assert type(event) is decoder(side, api).classes[event_type]
        assert event.type == event_type
        assert canonical(orjson.loads(encode(event))) == canonical(payload)
        assert canonical(to_dict(event)) == canonical(payload)

    check()


# ---------------------------------------------------------------------------
# Hand-written, realistic beta and translation frames

BETA_SESSION_CREATED = {
    "type": "session.created",
    "event_id": "event_B4y0vQ2xG8",
    "session": {
        "id": "sess_B4y0vPkqM3",
        "object": "realtime.session",
        "expires_at": 1735689600,
        "model": "gpt-4o-realtime-preview-2024-12-17",
        "modalities": ["text", "audio"],
        "instructions": "You are a helpful assistant.",
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": None,
        "input_audio_noise_reduction": None,
        "turn_detection": {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "create_response": True,
            "interrupt_response": True,
        },
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
        "speed": 1.1,
        "tracing": "auto",
        "client_secret": None,
        "include": None,
    },
}

BETA_RESPONSE_DONE = {
    "type": "response.done",
    "event_id": "event_B4y1",
    "response": {
        "object": "realtime.response",
        "id": "resp_B4y1",
        "status": "completed",
        "status_details": None,
        "output": [
            {
                "id": "item_B4y2",
                "object": "realtime.item",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "audio", "transcript": "Let me check the weather."}],
            },
            {
                "id": "item_B4y3",
                "object": "realtime.item",
                "type": "function_call",
                "status": "completed",
                "name": "get_weather",
                "call_id": "call_Xk2",
                "arguments": '{"city": "Paris"}',
            },
        ],
        "conversation_id": "conv_B4y0",
        "modalities": ["text", "audio"],
        "voice": "alloy",
        "output_audio_format": "pcm16",
        "temperature": 0.8,
        "max_output_tokens": "inf",
        "usage": {
            "total_tokens": 371,
            "input_tokens": 227,
            "output_tokens": 144,
            "input_token_details": {"text_tokens": 157, "audio_tokens": 70, "cached_tokens": 64},
            "output_token_details": {"text_tokens": 30, "audio_tokens": 114},
        },
        "metadata": None,
    },
}

BETA_FRAMES: list[tuple[str, dict[str, Any]]] = [
    ("server", BETA_SESSION_CREATED),
    ("server", BETA_RESPONSE_DONE),
    ("server", {"type": "response.audio.delta", "event_id": "event_1", "response_id": "resp_1", "item_id": "item_1",
                "output_index": 0, "content_index": 0, "delta": "AAAAAP//AQA="}),
    ("server", {"type": "response.audio_transcript.done", "event_id": "event_2", "response_id": "resp_1",
                "item_id": "item_1", "output_index": 0, "content_index": 0, "transcript": "Hello there!"}),
    ("server", {"type": "response.text.delta", "event_id": "event_3", "response_id": "resp_1", "item_id": "item_1",
                "output_index": 0, "content_index": 0, "delta": "Hel"}),
    ("server", {"type": "response.function_call_arguments.done", "event_id": "event_4", "response_id": "resp_1",
                "item_id": "item_B4y3", "output_index": 1, "call_id": "call_Xk2", "arguments": '{"city": "Paris"}'}),
    ("server", {"type": "conversation.item.created", "event_id": "event_5", "previous_item_id": None,
                "item": {"id": "item_U1", "object": "realtime.item", "type": "message", "status": "completed",
                         "role": "user", "content": [{"type": "input_audio", "transcript": None}]}}),
    ("server", {"type": "conversation.item.input_audio_transcription.completed", "event_id": "event_6",
                "item_id": "item_U1", "content_index": 0, "transcript": "What's the weather in Paris?",
                "usage": {"type": "duration", "seconds": 2.4}}),
    ("server", {"type": "transcription_session.updated", "event_id": "event_7",
                "session": {"client_secret": {"value": "ek_abc", "expires_at": 1735689600},
                            "input_audio_format": "pcm16",
                            "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": ""},
                            "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                               "silence_duration_ms": 500},
                            "modalities": ["text"]}}),
    ("server", {"type": "error", "event_id": "event_8",
                "error": {"type": "invalid_request_error", "code": "invalid_value", "message": "Invalid value",
                          "param": "session.voice", "event_id": "evt_client_3"}}),
    ("client", {"type": "session.update", "event_id": "evt_client_1",
                "session": {"modalities": ["text", "audio"], "voice": "verse", "input_audio_format": "g711_ulaw",
                            "output_audio_format": "g711_ulaw", "turn_detection": None,
                            "input_audio_transcription": {"model": "whisper-1"},
                            "tools": [{"type": "function", "name": "get_weather", "description": "Weather by city",
                                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
                            "tool_choice": "auto", "temperature": 0.7, "max_response_output_tokens": 4096}}),
    ("client", {"type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "call_Xk2", "output": '{"temp_c": 18}'}}),
    ("client", {"type": "response.create",
                "response": {"modalities": ["text"], "instructions": "Be brief.", "conversation": "none",
                             "input": [{"type": "item_reference", "id": "item_U1"},
                                       {"type": "message", "role": "user",
                                        "content": [{"type": "input_text", "text": "And tomorrow?"}]}],
                             "metadata": {"topic": "weather"}}}),
    ("client", {"type": "transcription_session.update",
                "session": {"input_audio_format": "pcm16", "include": ["item.input_audio_transcription.logprobs"],
                            "input_audio_noise_reduction": {"type": "near_field"},
                            "client_secret": {"expires_at": {"anchor": "created_at", "seconds": 600}}}}),
]


@pytest.mark.parametrize("side, frame", BETA_FRAMES, ids=[f["type"] for _, f in BETA_FRAMES])
def test_realistic_beta_frames_decode_and_round_trip(side: str, frame: dict[str, Any]) -> None:
    event = decode("beta", side, orjson.dumps(frame))
    assert type(event) is decoder(side, "beta").classes[frame["type"]]
    assert orjson.loads(encode(event)) == frame
    # ...and the frames are what the SDK's own beta model accepts.
    sdk_events("beta", side)[frame["type"]].model_validate(frame)


def test_beta_session_fields_are_typed() -> None:
    event = decode_server(orjson.dumps(BETA_SESSION_CREATED), api="beta")
    session = event.session
    assert type(session) is beta.Session
    assert session.modalities == ["text", "audio"]
    assert session.input_audio_format == "pcm16"
    assert session.input_audio_transcription is None  # null stays null...
    assert type(session.turn_detection) is beta.TurnDetection
    assert session.turn_detection.silence_duration_ms == 200
    assert session.turn_detection.eagerness is UNSET  # ...and absent stays absent
    assert session.max_response_output_tokens == "inf"
    assert session.temperature == 0.8


def test_beta_response_items_and_usage_are_typed() -> None:
    response = decode_server(orjson.dumps(BETA_RESPONSE_DONE), api="beta").response
    message, call = response.output
    assert type(message) is type(call) is beta.ConversationItem
    assert type(message.content[0]) is beta.ConversationItemContent
    assert (message.role, message.content[0].type, message.content[0].transcript) == (
        "assistant", "audio", "Let me check the weather.",
    )
    assert (call.type, call.name, call.call_id) == ("function_call", "get_weather", "call_Xk2")
    assert call.output is UNSET
    assert type(response.usage) is beta.Usage
    assert response.usage.input_token_details.cached_tokens == 64
    assert response.status_details is None


def test_beta_client_events_build_and_encode() -> None:
    event = beta.SessionUpdate(
        session=beta.Session(
            modalities=["text"],
            turn_detection=beta.TurnDetection(type="semantic_vad", eagerness="low"),
            tools=[beta.FunctionTool(type="function", name="lookup")],
        )
    )
    assert orjson.loads(encode(event)) == {
        "type": "session.update",
        "session": {
            "modalities": ["text"],
            "tools": [{"type": "function", "name": "lookup"}],
            "turn_detection": {"eagerness": "low", "type": "semantic_vad"},
        },
    }


def test_api_names_do_not_leak_between_models() -> None:
    beta_delta = {"type": "response.audio.delta", "event_id": "e", "response_id": "r", "item_id": "i",
                  "output_index": 0, "content_index": 0, "delta": "AA=="}
    ga_delta = {**beta_delta, "type": "response.output_audio.delta"}
    assert decode_server(orjson.dumps(beta_delta), api="ga") == UnknownEvent("response.audio.delta", beta_delta)
    assert decode_server(orjson.dumps(ga_delta), api="beta") == UnknownEvent("response.output_audio.delta", ga_delta)
    assert type(decode_server(orjson.dumps(ga_delta), api="ga")) is events.ResponseOutputAudioDelta
    # the same type string, a different struct per API
    ga_update = decode_client(b'{"type":"session.update","session":{"type":"realtime"}}', api="ga")
    beta_update = decode_client(b'{"type":"session.update","session":{"voice":"ash"}}', api="beta")
    assert type(ga_update) is events.SessionUpdate
    assert type(beta_update) is beta.SessionUpdate


def test_unknown_beta_type_is_kept_whole() -> None:
    frame = {"type": "response.audio.future", "event_id": "e", "x": [1, {"y": None}]}
    event = decode_server(orjson.dumps(frame), api="beta")
    assert event == UnknownEvent("response.audio.future", frame)
    assert orjson.loads(encode(event)) == frame


TRANSLATION_FRAMES: list[tuple[str, dict[str, Any]]] = [
    ("client", {"type": "session.update", "session": {"audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"},
                                                                          "noise_reduction": {"type": "near_field"}},
                                                                "output": {"language": "fr"}}}}),
    ("client", {"type": "session.input_audio_buffer.append", "event_id": "c1", "audio": "AAAA"}),
    ("client", {"type": "session.close"}),
    ("server", {"type": "session.created", "event_id": "s1",
                "session": {"id": "sess_T1", "type": "translation", "model": "gpt-realtime-translate",
                            "expires_at": 1735689600, "audio": {"output": {"language": "fr"}}}}),
    ("server", {"type": "session.input_transcript.delta", "event_id": "s2", "delta": "Good mor", "elapsed_ms": 480}),
    ("server", {"type": "session.output_transcript.delta", "event_id": "s3", "delta": "Bonj", "elapsed_ms": 610}),
    ("server", {"type": "session.output_audio.delta", "event_id": "s4", "delta": "AAAA", "format": "pcm16",
                "sample_rate": 24000, "channels": 1, "elapsed_ms": 610}),
    ("server", {"type": "session.closed", "event_id": "s5"}),
    ("server", {"type": "error", "event_id": "s6", "error": {"type": "server_error", "message": "boom"}}),
]


@pytest.mark.parametrize("side, frame", TRANSLATION_FRAMES, ids=[f["type"] for _, f in TRANSLATION_FRAMES])
def test_realistic_translation_frames(side: str, frame: dict[str, Any]) -> None:
    event = decode("translation", side, orjson.dumps(frame))
    assert type(event) is decoder(side, "translation").classes[frame["type"]]
    assert orjson.loads(encode(event)) == frame
    sdk_events("translation", side)[frame["type"]].model_validate(frame)


def test_translation_events_are_typed() -> None:
    created = decode_server(orjson.dumps(TRANSLATION_FRAMES[3][1]), api="translation")
    assert type(created) is translation.SessionCreated
    assert created.session.audio.output.language == "fr"
    assert created.session.audio.input is UNSET
    audio = decode_server(orjson.dumps(TRANSLATION_FRAMES[6][1]), api="translation")
    assert (audio.sample_rate, audio.channels, audio.format) == (24000, 1, "pcm16")
    # the translation session.update is not the GA one
    update = decode_client(orjson.dumps(TRANSLATION_FRAMES[0][1]), api="translation")
    assert type(update) is translation.SessionUpdate
    assert update.session.audio.input.transcription.model == "gpt-4o-transcribe"


# ---------------------------------------------------------------------------
# Malformed frames


@pytest.mark.parametrize(
    "api, side, frame, event_type, path, words",
    [
        ("beta", "server", {**BETA_FRAMES[2][1], "delta": 5}, "response.audio.delta", "$.delta", "Expected str, got int"),
        ("beta", "server", {k: v for k, v in BETA_FRAMES[2][1].items() if k != "item_id"},
         "response.audio.delta", None, "missing required field item_id"),
        ("beta", "server",
         {**BETA_SESSION_CREATED, "session": {**BETA_SESSION_CREATED["session"],
                                              "turn_detection": {"type": "server_vad", "threshold": "high"}}},
         "session.created", "$.session.turn_detection.threshold", "Expected float | null, got str"),
        ("beta", "server",
         {**BETA_RESPONSE_DONE, "response": {**BETA_RESPONSE_DONE["response"],
                                             "output": [{"type": "message", "content": [{"type": "text", "text": 7}]}]}},
         "response.done", "$.response.output[0].content[0].text", "Expected str | null, got int"),
        ("beta", "client", {"type": "session.update", "session": {"tools": [{"type": "mcp", "server_label": "x"}]}},
         "session.update", "$.session.tools[0].type", "Invalid enum value 'mcp'"),
        ("beta", "client", {"type": "transcription_session.update", "session": []},
         "transcription_session.update", "$.session", "Expected object, got array"),
        ("translation", "server", {**TRANSLATION_FRAMES[6][1], "sample_rate": "24k"},
         "session.output_audio.delta", "$.sample_rate", "Expected int | null, got str"),
        ("translation", "server",
         {"type": "session.created", "event_id": "s1",
          "session": {"type": "translation", "id": "x", "audio": {}, "model": "m"}},
         "session.created", "$.session", "missing required field expires_at"),
    ],
)
def test_malformed_frames_name_type_and_path(api, side, frame, event_type, path, words) -> None:
    data = orjson.dumps(frame)
    with pytest.raises(ProtocolError) as info:
        decode(api, side, data) if side == "client" else decode_server(data, api=api, strict=True)
    error = info.value
    assert (error.event_type, error.path) == (event_type, path)
    assert words in str(error)
    assert str(error).startswith(f"{event_type}: ")
    if "missing required field" in words:  # read liberally, a server event decodes with the field UNSET
        event = decode(api, side, data)
        field = words.rsplit(" ", 1)[-1]
        assert leniencies(data, event) == [(f"{path or '$'}.{field}", f"missing required field {field!r}")]
        assert orjson.loads(encode(event)) == frame


@pytest.mark.parametrize("api", ["beta", "translation"])
@pytest.mark.parametrize(
    "data, words",
    [(b'{"type": "session.update",', "invalid JSON"), (b"[1, 2]", "not an event"), (b'{"type": 3}', "not an event")],
)
def test_frames_that_are_not_events(api: str, data: bytes, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        decode_client(data, api=api)


def test_unknown_api_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown api 'v2'"):
        decode_server(b'{"type":"error"}', api="v2")
