"""The beta <-> GA mapping (rtproto.versions): renames, session shapes, items, transcripts."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema
from sdk_schemas import wire_fields
from test_beta import BETA_FRAMES, sdk_events, strict_schema

from rtproto import versions
from rtproto.errors import ProtocolError
from rtproto.events import UnknownEvent, decode_client, decode_server, decoder
from rtproto.transcript import RAW_FRAME_TYPE, Transcript, read_transcript
from rtproto.versions import (
    EVENT_RENAMES_BETA_TO_GA,
    EVENT_RENAMES_GA_TO_BETA,
    EVENT_SUBSTITUTES_GA_TO_BETA,
    ONLY_IN_BETA,
    ONLY_IN_GA,
    Note,
    TranslationState,
    beta_to_ga,
    ga_to_beta,
    translate_transcript,
)

def sdk_types(api: str) -> set[str]:
    return set(sdk_events(api, "server")) | set(sdk_events(api, "client"))


def decode(api: str, side: str, event: dict[str, Any]) -> Any:
    return (decode_server if side == "server" else decode_client)(orjson.dumps(event), api=api)


def content(ids: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """The ids every streamed-content event carries, plus ``fields``."""
    base = {"event_id": "event_1", "response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
    return {**base, **(ids or {}), **fields}


# ---------------------------------------------------------------------------
# Event tables, checked against the SDK's unions


def test_renames_map_sdk_beta_types_to_sdk_ga_types() -> None:
    beta, ga = sdk_types("beta"), sdk_types("ga")
    assert set(EVENT_RENAMES_BETA_TO_GA) <= beta - ga
    assert set(EVENT_RENAMES_BETA_TO_GA.values()) <= ga
    assert EVENT_RENAMES_BETA_TO_GA["response.audio.delta"] == "response.output_audio.delta"
    assert EVENT_RENAMES_BETA_TO_GA["transcription_session.update"] == "session.update"


def test_renamed_streaming_events_carry_the_same_fields_in_the_sdk() -> None:
    for beta_type, ga_type in EVENT_RENAMES_BETA_TO_GA.items():
        if beta_type.startswith("transcription_session."):
            continue  # the session changes shape (checked below)
        side = "server"
        assert wire_fields(sdk_events("beta", side)[beta_type]).keys() == wire_fields(
            sdk_events("ga", side)[ga_type]
        ).keys(), beta_type


def test_inverse_renames_leave_out_types_beta_also_has() -> None:
    assert EVENT_RENAMES_GA_TO_BETA == {
        ga: beta for beta, ga in EVENT_RENAMES_BETA_TO_GA.items() if ga not in sdk_types("beta")
    }
    assert "session.update" not in EVENT_RENAMES_GA_TO_BETA
    assert EVENT_RENAMES_GA_TO_BETA["response.output_text.done"] == "response.text.done"


def test_only_in_sets_match_the_sdk_unions() -> None:
    beta, ga = sdk_types("beta"), sdk_types("ga")
    assert ONLY_IN_BETA == beta - ga - set(EVENT_RENAMES_BETA_TO_GA)
    assert ONLY_IN_GA == ga - beta - set(EVENT_RENAMES_GA_TO_BETA) - set(EVENT_SUBSTITUTES_GA_TO_BETA)
    assert {"conversation.item.done", "response.mcp_call.completed", "input_audio_buffer.timeout_triggered"} <= ONLY_IN_GA
    assert set(EVENT_SUBSTITUTES_GA_TO_BETA.values()) <= beta & ga


# ---------------------------------------------------------------------------
# Renames and copies


STREAMING_FIELDS = {"response.text.done": {"text": "Hi."}, "response.audio_transcript.done": {"transcript": "Hi."}}


@pytest.mark.parametrize("ga_type, beta_type", list(EVENT_RENAMES_GA_TO_BETA.items()))
def test_streaming_events_are_renamed_both_ways(ga_type: str, beta_type: str) -> None:
    field = {"delta": "AAAA"} if beta_type.endswith(".delta") else STREAMING_FIELDS.get(beta_type, {})
    beta_event = {"type": beta_type, **content(**field)}
    ga = beta_to_ga(beta_event, "server")
    assert ga.event == {**beta_event, "type": ga_type}
    assert ga.notes == []
    assert decode("ga", "server", ga.event).type == ga_type
    back = ga_to_beta(ga.event, "server")
    assert back.event == beta_event and back.notes == []


def test_events_of_the_same_shape_are_copied() -> None:
    event = {"type": "input_audio_buffer.speech_started", "event_id": "e1", "item_id": "i1", "audio_start_ms": 320}
    assert beta_to_ga(event, "server") == (event, [])
    assert ga_to_beta(event, "server") == (event, [])
    cancel = {"type": "response.cancel", "event_id": "c1", "response_id": "resp_1"}
    assert beta_to_ga(cancel, "client") == (cancel, [])


@pytest.mark.parametrize("side, frame", BETA_FRAMES, ids=[f["type"] for _, f in BETA_FRAMES])
def test_realistic_beta_frames_become_valid_ga_events(side: str, frame: dict[str, Any]) -> None:
    result = beta_to_ga(frame, side)
    assert result.event is not None
    event = decode("ga", side, result.event)
    assert event.type == EVENT_RENAMES_BETA_TO_GA.get(frame["type"], frame["type"])
    if frame["type"] != "response.create":  # GA item_reference exists only in the SDK's param types
        sdk_events("ga", side)[event.type].model_validate(result.event)
    assert all(note.startswith("$.") for note in result.notes)


def test_translation_never_modifies_its_input() -> None:
    event = copy.deepcopy(BETA_SESSION_UPDATE)
    beta_to_ga(event, "client")
    assert event == BETA_SESSION_UPDATE


# ---------------------------------------------------------------------------
# Session shape

BETA_SESSION_UPDATE = {
    "type": "session.update",
    "event_id": "evt_c1",
    "session": {
        "modalities": ["text", "audio"],
        "instructions": "Answer in French.",
        "voice": "verse",
        "speed": 1.2,
        "input_audio_format": "pcm16",
        "output_audio_format": "g711_alaw",
        "input_audio_transcription": {"model": "whisper-1", "language": "fr", "prompt": "météo"},
        "input_audio_noise_reduction": {"type": "far_field"},
        "turn_detection": {"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 300,
                           "silence_duration_ms": 450, "create_response": True, "interrupt_response": False},
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather by city",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": "required",
        "temperature": 0.7,
        "max_response_output_tokens": 1024,
        "tracing": {"workflow_name": "weather"},
        "model": "gpt-4o-realtime-preview",
    },
}


def test_beta_session_update_becomes_the_ga_shape() -> None:
    result = beta_to_ga(BETA_SESSION_UPDATE, "client")
    assert result.event["type"] == "session.update"
    assert result.event["event_id"] == "evt_c1"
    session = result.event["session"]
    assert session["type"] == "realtime"
    assert session["output_modalities"] == ["audio"]
    assert session["instructions"] == "Answer in French."
    assert session["model"] == "gpt-4o-realtime-preview"
    assert session["max_output_tokens"] == 1024
    assert session["tools"] == BETA_SESSION_UPDATE["session"]["tools"]
    assert session["tool_choice"] == "required"
    assert session["tracing"] == {"workflow_name": "weather"}
    audio_in, audio_out = session["audio"]["input"], session["audio"]["output"]
    assert audio_in["format"] == {"type": "audio/pcm", "rate": 24000}
    assert audio_in["transcription"] == {"model": "whisper-1", "language": "fr", "prompt": "météo"}
    assert audio_in["noise_reduction"] == {"type": "far_field"}
    assert audio_in["turn_detection"] == {"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 300,
                                          "silence_duration_ms": 450, "create_response": True,
                                          "interrupt_response": False}
    assert audio_out == {"format": {"type": "audio/pcma"}, "voice": "verse", "speed": 1.2}
    assert set(session) == {"type", "output_modalities", "instructions", "model", "max_output_tokens", "tools",
                            "tool_choice", "tracing", "audio"}
    assert len(result.notes) == 2
    assert result.notes[0].startswith("$.session.modalities:") and '["audio"]' in result.notes[0]
    assert result.notes[1] == "$.session.temperature: dropped (GA has no temperature)"
    decoded = decode("ga", "client", result.event)
    assert decoded.session.audio.input.turn_detection.threshold == 0.6
    sdk_events("ga", "client")["session.update"].model_validate(result.event)


GA_SESSION_UPDATE = {
    "type": "session.update",
    "event_id": "evt_c2",
    "session": {
        "type": "realtime",
        "model": "gpt-realtime",
        "instructions": "Be concise.",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": "weather"},
                "noise_reduction": {"type": "near_field"},
                "turn_detection": {"type": "semantic_vad", "eagerness": "high", "create_response": True,
                                   "interrupt_response": True},
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 0.9},
        },
        "tools": [{"type": "function", "name": "lookup", "description": "Look up", "parameters": {"type": "object"}}],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": "auto",
    },
}


def test_ga_session_update_becomes_the_beta_shape() -> None:
    result = ga_to_beta(GA_SESSION_UPDATE, "client")
    assert result.notes == []
    assert result.event == {
        "type": "session.update",
        "event_id": "evt_c2",
        "session": {
            "model": "gpt-realtime",
            "instructions": "Be concise.",
            "modalities": ["text", "audio"],
            "input_audio_format": "g711_ulaw",
            "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": "weather"},
            "input_audio_noise_reduction": {"type": "near_field"},
            "turn_detection": {"type": "semantic_vad", "eagerness": "high", "create_response": True,
                               "interrupt_response": True},
            "output_audio_format": "pcm16",
            "voice": "marin",
            "speed": 0.9,
            "tools": GA_SESSION_UPDATE["session"]["tools"],
            "tool_choice": "auto",
            "max_response_output_tokens": "inf",
            "tracing": "auto",
        },
    }
    assert decode("beta", "client", result.event).session.turn_detection.eagerness == "high"
    sdk_events("beta", "client")["session.update"].model_validate(result.event)


def test_session_update_round_trips_ga_beta_ga() -> None:
    beta = ga_to_beta(GA_SESSION_UPDATE, "client")
    back = beta_to_ga(beta.event, "client")
    assert back.event == GA_SESSION_UPDATE
    # the only note on the way back: beta's ["text","audio"] has to become ["audio"]
    assert [n.split(":")[0] for n in back.notes] == ["$.session.modalities"]


def test_ga_only_session_settings_are_dropped_with_notes() -> None:
    session = copy.deepcopy(GA_SESSION_UPDATE["session"])
    session.update(
        prompt={"id": "pmpt_1"},
        truncation="auto",
        reasoning={"effort": "low"},
        parallel_tool_calls=True,
        tool_choice={"type": "function", "name": "lookup"},
    )
    session["tools"].append({"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example/sse"})
    session["audio"]["input"]["format"] = {"type": "audio/pcm", "rate": 16000}
    session["audio"]["input"]["turn_detection"] = {"type": "server_vad", "idle_timeout_ms": 5000, "threshold": 0.4}
    session["audio"]["input"]["transcription"]["keywords"] = ["Paris"]
    session["audio"]["input"]["noise_reduction"]["strength"] = 0.5
    session["audio"]["output"]["voice"] = {"id": "voice_123"}
    result = ga_to_beta({"type": "session.update", "session": session}, "client")
    beta = result.event["session"]
    assert beta["tools"] == GA_SESSION_UPDATE["session"]["tools"]
    assert beta["input_audio_format"] == "pcm16"
    assert beta["turn_detection"] == {"type": "server_vad", "threshold": 0.4}
    assert beta["input_audio_transcription"] == {"model": "gpt-4o-transcribe", "language": "en", "prompt": "weather"}
    assert beta["input_audio_noise_reduction"] == {"type": "near_field"}
    assert not {"voice", "tool_choice", "prompt", "truncation", "reasoning", "parallel_tool_calls"} & set(beta)
    where = sorted(note.split(":")[0] for note in result.notes)
    assert where == sorted([
        "$.session.prompt", "$.session.truncation", "$.session.reasoning", "$.session.parallel_tool_calls",
        "$.session.tool_choice", "$.session.tools[1]", "$.session.audio.input.format.rate",
        "$.session.audio.input.turn_detection.idle_timeout_ms", "$.session.audio.input.transcription.keywords",
        "$.session.audio.input.noise_reduction.strength", "$.session.audio.output.voice",
    ])
    decode("beta", "client", result.event)


def test_modalities_and_formats_both_ways() -> None:
    for beta_modalities, ga_modalities in ((["text"], ["text"]), (["audio", "text"], ["audio"])):
        ga = beta_to_ga({"type": "session.update", "session": {"modalities": beta_modalities}}, "client")
        assert ga.event["session"]["output_modalities"] == ga_modalities
    beta = ga_to_beta({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}},
                      "client")
    assert beta.event["session"] == {"modalities": ["text"]}
    for name, obj in (("pcm16", {"type": "audio/pcm", "rate": 24000}), ("g711_ulaw", {"type": "audio/pcmu"}),
                      ("g711_alaw", {"type": "audio/pcma"})):
        ga = beta_to_ga({"type": "session.update", "session": {"output_audio_format": name}}, "client")
        assert ga.event["session"]["audio"] == {"output": {"format": obj}}
        beta = ga_to_beta(ga.event, "client")
        assert beta.event["session"] == {"output_audio_format": name}
    # GA reads a format object without type as PCM
    beta = ga_to_beta({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": {}}}}},
                      "client")
    assert beta == ({"type": "session.update", "session": {"input_audio_format": "pcm16"}}, [])


def test_nulls_are_carried_where_both_apis_allow_them() -> None:
    beta = {"type": "session.update", "session": {"turn_detection": None, "input_audio_transcription": None,
                                                   "temperature": None}}
    ga = beta_to_ga(beta, "client")
    assert ga.event["session"] == {"type": "realtime",
                                   "audio": {"input": {"transcription": None, "turn_detection": None}}}
    assert ga.notes == []  # a dropped null carried nothing
    assert ga_to_beta(ga.event, "client").event == {**beta, "session": {"input_audio_transcription": None,
                                                                          "turn_detection": None}}


def test_turn_detection_type_defaults_to_server_vad_and_misplaced_settings_are_noted() -> None:
    beta = {"type": "session.update", "session": {"turn_detection": {"threshold": 0.3, "eagerness": "low"}}}
    ga = beta_to_ga(beta, "client")
    assert ga.event["session"]["audio"]["input"]["turn_detection"] == {"type": "server_vad", "threshold": 0.3}
    assert ga.notes == ["$.session.turn_detection.eagerness: dropped (not a server_vad setting in GA)"]


def test_transcription_session_update_becomes_a_ga_transcription_session() -> None:
    beta = {
        "type": "transcription_session.update",
        "event_id": "evt_t1",
        "session": {
            "input_audio_format": "g711_ulaw",
            "input_audio_transcription": {"model": "gpt-4o-mini-transcribe", "language": "de"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 700},
            "include": ["item.input_audio_transcription.logprobs"],
            "modalities": ["text"],
            "client_secret": {"expires_at": {"anchor": "created_at", "seconds": 600}},
        },
    }
    ga = beta_to_ga(beta, "client")
    assert ga.event == {
        "type": "session.update",
        "event_id": "evt_t1",
        "session": {
            "type": "transcription",
            "include": ["item.input_audio_transcription.logprobs"],
            "audio": {"input": {"format": {"type": "audio/pcmu"},
                                "transcription": {"model": "gpt-4o-mini-transcribe", "language": "de"},
                                "turn_detection": {"type": "server_vad", "silence_duration_ms": 700}}},
        },
    }
    assert sorted(n.split(":")[0] for n in ga.notes) == ["$.session.client_secret", "$.session.modalities"]
    assert type(decode("ga", "client", ga.event).session).__name__ == "TranscriptionSession"
    back = ga_to_beta(ga.event, "client")
    assert back.event["type"] == "transcription_session.update"
    assert back.event["session"] == {k: v for k, v in beta["session"].items() if k not in ("modalities", "client_secret")}
    assert back.notes == []


def test_ga_transcription_session_events_on_the_server_side() -> None:
    session = {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}}
    created = ga_to_beta({"type": "session.created", "event_id": "e1", "session": session}, "server")
    assert created.event is None
    assert created.notes == ["$.session.type: a transcription session.created has no beta counterpart; event dropped"]
    updated = ga_to_beta({"type": "session.updated", "event_id": "e2", "session": session}, "server")
    assert updated.event == {"type": "transcription_session.updated", "event_id": "e2",
                             "session": {"input_audio_format": "pcm16"}}
    assert [n.split(":")[0] for n in updated.notes] == ["$.session.client_secret"]


# ---------------------------------------------------------------------------
# Items


def test_assistant_content_types_are_renamed_and_user_ones_kept() -> None:
    assistant = {"id": "item_A", "object": "realtime.item", "type": "message", "role": "assistant",
                 "status": "completed", "content": [{"type": "audio", "transcript": "Sunny."},
                                                    {"type": "text", "text": "Sunny."}]}
    user = {"id": "item_U", "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_audio", "transcript": "Weather?"}, {"type": "input_text", "text": "Paris"}]}
    for item, ga_types in ((assistant, ["output_audio", "output_text"]), (user, ["input_audio", "input_text"])):
        event = {"type": "conversation.item.created", "event_id": "e1", "previous_item_id": None, "item": item}
        ga = beta_to_ga(event, "server")
        assert ga.notes == []
        assert [part["type"] for part in ga.event["item"]["content"]] == ga_types
        assert {k: v for k, v in ga.event["item"].items() if k != "content"} == {
            k: v for k, v in item.items() if k != "content"}
        assert type(decode("ga", "server", ga.event).item).__name__ == f"{item['role'].title()}Message"
        assert ga_to_beta(ga.event, "server").event == event


def test_function_call_items_both_ways() -> None:
    call = {"id": "item_F", "object": "realtime.item", "type": "function_call", "status": "in_progress",
            "name": "get_weather", "call_id": "call_1", "arguments": ""}
    event = {"type": "response.output_item.added", "event_id": "e1", "response_id": "resp_1", "output_index": 0,
             "item": call}
    assert beta_to_ga(event, "server") == (event, [])
    output = {"type": "conversation.item.create",
              "item": {"type": "function_call_output", "call_id": "call_1", "output": "18C"}}
    assert beta_to_ga(output, "client") == (output, [])
    assert ga_to_beta(output, "client") == (output, [])


def test_beta_items_the_ga_model_cannot_hold_are_dropped_with_notes() -> None:
    no_role = {"type": "conversation.item.create", "item": {"type": "message", "content": []}}
    result = beta_to_ga(no_role, "client")
    assert result.event is None
    assert result.notes == ["$.item: a message item without role has no GA form", "$.item: event dropped"]
    flat = {"type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "c", "output": "o", "name": "stray"}}
    result = beta_to_ga(flat, "client")
    assert result.event["item"] == {"type": "function_call_output", "call_id": "c", "output": "o"}
    assert result.notes == ["$.item.name: dropped (not a field of a GA function_call_output item)"]


def test_mcp_items_cannot_go_to_beta() -> None:
    request = {"type": "mcp_approval_request", "id": "mcpr_1", "server_label": "docs", "name": "search",
               "arguments": "{}"}
    event = {"type": "conversation.item.done", "event_id": "e1", "item": request}
    assert ga_to_beta(event, "server").event is None
    added = ga_to_beta({**event, "type": "conversation.item.added"}, "server")
    assert added.event is None
    assert added.notes[0] == "$.item: an item of type 'mcp_approval_request' has no beta form"
    response = {"type": "response.done", "event_id": "e2", "response": {
        "id": "resp_1", "status": "completed", "output_modalities": ["audio"],
        "output": [{"type": "mcp_call", "id": "mcp_1", "server_label": "docs", "name": "search", "arguments": "{}"},
                   {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]}],
    }}
    result = ga_to_beta(response, "server")
    assert result.event["response"]["output"] == [{"type": "message", "role": "assistant",
                                                   "content": [{"type": "text", "text": "Done."}]}]
    assert result.event["response"]["modalities"] == ["text", "audio"]
    assert result.notes == ["$.response.output[0]: an item of type 'mcp_call' has no beta form"]
    decode("beta", "server", result.event)


def test_images_cannot_go_to_beta() -> None:
    item = {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}]}
    result = ga_to_beta({"type": "conversation.item.create", "item": item}, "client")
    assert result.event["item"]["content"] == [{"type": "input_text", "text": "What is this?"}]
    assert result.notes == ["$.item.content[1]: dropped (beta has no image input)"]


def test_response_create_with_item_references_both_ways() -> None:
    beta = {"type": "response.create", "event_id": "c9", "response": {
        "conversation": "none", "modalities": ["text"], "voice": "ash", "output_audio_format": "pcm16",
        "temperature": 0.6, "max_response_output_tokens": 200, "metadata": {"k": "v"},
        "input": [{"type": "item_reference", "id": "item_U"},
                  {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "Earlier."}]}]}}
    ga = beta_to_ga(beta, "client")
    assert ga.event["response"] == {
        "conversation": "none", "metadata": {"k": "v"},
        "input": [{"type": "item_reference", "id": "item_U"},
                  {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Earlier."}]}],
        "max_output_tokens": 200, "output_modalities": ["text"],
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "ash"}},
    }
    assert ga.notes == ["$.response.temperature: dropped (GA has no temperature)"]
    assert decode("ga", "client", ga.event).response.input[0].id == "item_U"
    back = ga_to_beta(ga.event, "client")
    assert back.event == {**beta, "response": {k: v for k, v in beta["response"].items() if k != "temperature"}}


def test_response_object_both_ways() -> None:
    beta = {"type": "response.created", "event_id": "e1", "response": {
        "id": "resp_1", "object": "realtime.response", "status": "in_progress", "status_details": None,
        "output": [], "modalities": ["text", "audio"], "voice": "alloy", "output_audio_format": "pcm16",
        "temperature": 0.8, "max_output_tokens": "inf", "usage": None, "metadata": None}}
    ga = beta_to_ga(beta, "server")
    assert ga.event["response"]["output_modalities"] == ["audio"]
    assert ga.event["response"]["audio"] == {"output": {"format": {"type": "audio/pcm", "rate": 24000},
                                                        "voice": "alloy"}}
    assert "temperature" not in ga.event["response"] and "modalities" not in ga.event["response"]
    decode("ga", "server", ga.event)
    sdk_events("ga", "server")["response.created"].model_validate(ga.event)


def test_usage_details_beta_lacks_are_noted() -> None:
    usage = {"total_tokens": 10, "input_tokens": 6, "output_tokens": 4,
             "input_token_details": {"text_tokens": 2, "audio_tokens": 3, "image_tokens": 1, "cached_tokens": 0,
                                     "cached_tokens_details": {"text_tokens": 0}}}
    result = ga_to_beta({"type": "response.done", "event_id": "e", "response": {"usage": usage}}, "server")
    assert result.event["response"]["usage"]["input_token_details"] == {"text_tokens": 2, "audio_tokens": 3,
                                                                         "cached_tokens": 0}
    assert sorted(n.split(":")[0] for n in result.notes) == [
        "$.response.usage.input_token_details.cached_tokens_details",
        "$.response.usage.input_token_details.image_tokens"]


# ---------------------------------------------------------------------------
# Events without counterparts, and malformed ones


def test_ga_only_events_are_dropped_with_a_note() -> None:
    result = ga_to_beta({"type": "mcp_list_tools.in_progress", "event_id": "e1", "item_id": "mcpl_1"}, "server")
    assert result.event is None
    assert result.notes == ["$.type: 'mcp_list_tools.in_progress' has no beta counterpart; event dropped"]


def test_transcription_languages_are_dropped_for_beta() -> None:
    event = {"type": "conversation.item.input_audio_transcription.completed", "event_id": "e1", "item_id": "i1",
             "content_index": 0, "transcript": "Hola", "usage": {"type": "duration", "seconds": 1.0},
             "languages": [{"code": "es"}]}
    result = ga_to_beta(event, "server")
    assert result.event == {k: v for k, v in event.items() if k != "languages"}
    assert result.notes == ["$.languages: dropped (beta reports no detected languages)"]


def test_unknown_types_pass_through_with_a_note() -> None:
    event = {"type": "response.future_thing", "event_id": "e1", "x": 1}
    result = beta_to_ga(event, "server")
    assert result.event == event
    assert result.notes == ["$.type: 'response.future_thing' is not a beta server event; passed through unchanged"]


def test_malformed_input_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError) as info:
        beta_to_ga({"type": "response.audio.delta", **content(delta=7)}, "server")
    assert (info.value.event_type, info.value.path) == ("response.audio.delta", "$.delta")
    with pytest.raises(ValueError, match="side must be"):
        beta_to_ga({"type": "response.cancel"}, "both")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Whole transcripts

BETA_HEADER = {"api": "beta", "url": "wss://api.openai.com/v1/realtime?model=gpt-4o-realtime-preview",
               "model": "gpt-4o-realtime-preview"}


def beta_function_call_transcript() -> Transcript:
    call_item = {"id": "item_F", "object": "realtime.item", "type": "function_call", "status": "in_progress",
                 "name": "get_weather", "call_id": "call_1", "arguments": ""}
    lines = [
        (0.0, "server", {"type": "session.created", "event_id": "e0", "session": {
            "id": "sess_1", "object": "realtime.session", "modalities": ["text", "audio"], "temperature": 0.8,
            "turn_detection": {"type": "server_vad"}, "input_audio_format": "pcm16", "voice": "alloy"}}),
        (12.5, "client", {"type": "session.update", "session": BETA_SESSION_UPDATE["session"]}),
        (40.0, "server", {"type": "response.output_item.added", "event_id": "e1", "response_id": "resp_1",
                          "output_index": 0, "item": call_item}),
        (41.0, "server", {"type": "response.function_call_arguments.delta", "event_id": "e2", "response_id": "resp_1",
                          "item_id": "item_F", "output_index": 0, "call_id": "call_1", "delta": '{"city":'}),
        (42.0, "server", {"type": "response.function_call_arguments.done", "event_id": "e3", "response_id": "resp_1",
                          "item_id": "item_F", "output_index": 0, "call_id": "call_1",
                          "arguments": '{"city":"Paris"}'}),
        (43.0, "local", {"type": "function.result", "call_id": "call_1", "output": "18C", "is_error": False}),
        (44.0, "server", {"type": "response.function_call_arguments.done", "event_id": "e4", "response_id": "resp_2",
                          "item_id": "item_G", "output_index": 0, "call_id": "call_unseen", "arguments": "{}"}),
        (50.0, "server", {"type": "response.audio.delta", **content(delta="AAAA")}),
        (51.0, "server", {"type": "rtproto.raw_frame", "raw": "not json"}),
        (60.0, "local", {"type": "connection.closed", "code": 1000, "reason": "", "by": "client"}),
    ]
    return Transcript.from_events(BETA_HEADER, lines)


def test_function_name_is_filled_in_across_a_transcript() -> None:
    ga, notes = translate_transcript(beta_function_call_transcript(), "ga")
    done = [line.event for line in ga.lines if line.type == "response.function_call_arguments.done"]
    assert [event["name"] for event in done] == ["get_weather", ""]
    assert Note(8, "response.function_call_arguments.done",
                "$.name: unknown (no function_call item with call_id 'call_unseen' seen before); set to \"\"") in notes
    for line in ga.lines:
        if line.dir != "local" and line.type != RAW_FRAME_TYPE:
            assert type(decode("ga", line.dir, line.event)) is not UnknownEvent


def test_transcript_translation_keeps_timing_local_and_raw_lines(tmp_path) -> None:
    source = beta_function_call_transcript()
    ga, notes = translate_transcript(source, "ga")
    assert ga.api == "ga" and ga.header["translated_from"] == "beta"
    assert ga.header["url"] == BETA_HEADER["url"]
    assert [(line.t, line.dir) for line in ga.lines] == [(line.t, line.dir) for line in source.lines]
    assert [line.event for line in ga.lines if line.dir == "local"] == source.local_events()
    assert ga.lines[8].event == {"type": RAW_FRAME_TYPE, "raw": "not json"}
    assert ga.lines[7].type == "response.output_audio.delta"
    assert {(note.lineno, note.event_type) for note in notes} == {
        (2, "session.created"), (3, "session.update"), (8, "response.function_call_arguments.done")}
    ga.save(tmp_path / "ga.jsonl")
    assert read_transcript(tmp_path / "ga.jsonl").lines == ga.lines


def test_transcript_round_trip_restores_ga_names_from_items() -> None:
    ga, _ = translate_transcript(beta_function_call_transcript(), "ga")
    beta, notes = translate_transcript(ga, "beta")
    assert beta.api == "beta"
    done = [line.event for line in beta.lines if line.type == "response.function_call_arguments.done"]
    assert all("name" not in event for event in done)
    again, _ = translate_transcript(beta, "ga")
    assert [line.event.get("name") for line in again.lines if line.type == "response.function_call_arguments.done"] \
        == ["get_weather", ""]


def test_ga_transcript_items_become_beta_creations_once() -> None:
    item = {"id": "item_U", "type": "message", "role": "user", "content": [{"type": "input_audio"}]}
    lines = [
        (0.0, "server", {"type": "conversation.item.added", "event_id": "e1", "previous_item_id": None, "item": item}),
        (1.0, "server", {"type": "conversation.item.created", "event_id": "e2", "item": item}),
        (2.0, "server", {"type": "conversation.item.done", "event_id": "e3", "item": item}),
        (3.0, "server", {"type": "input_audio_buffer.dtmf_event_received", "event": "5", "received_at": 1700000000}),
    ]
    beta, notes = translate_transcript(Transcript.from_events({"api": "ga"}, lines), "beta")
    assert [line.event for line in beta.lines] == [
        {"type": "conversation.item.created", "event_id": "e1", "previous_item_id": None, "item": item}]
    assert [(note.lineno, note.event_type) for note in notes] == [
        (3, "conversation.item.created"), (4, "conversation.item.done"), (5, "input_audio_buffer.dtmf_event_received")]


def test_malformed_transcript_events_are_dropped_with_a_note() -> None:
    lines = [(0.0, "server", {"type": "response.audio.delta", **content(delta=None)}),
             (1.0, "server", {"type": "response.audio.done", **content()})]
    ga, notes = translate_transcript(Transcript.from_events(BETA_HEADER, lines), "ga")
    assert [line.type for line in ga.lines] == ["response.output_audio.done"]
    assert len(notes) == 1 and notes[0].lineno == 2 and notes[0].event_type == "response.audio.delta"
    assert notes[0].message.startswith("malformed, dropped: response.audio.delta: Expected str, got null at $.delta")


def test_translate_transcript_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="'translation' transcript"):
        translate_transcript(Transcript.from_events({"api": "translation"}, []), "ga")
    with pytest.raises(ValueError, match="to must be"):
        translate_transcript(Transcript.from_events({"api": "beta"}, []), "translation")  # type: ignore[arg-type]
    same, notes = translate_transcript(beta_function_call_transcript(), "beta")
    assert same.lines == beta_function_call_transcript().lines and notes == []


def test_state_can_be_shared_by_hand() -> None:
    state = TranslationState()
    item = {"type": "function_call", "name": "f", "call_id": "c1", "arguments": ""}
    beta_to_ga({"type": "conversation.item.create", "item": item}, "client", state)
    assert state.call_names == {"c1": "f"}
    done = {"type": "response.function_call_arguments.done", "event_id": "e", "response_id": "r", "item_id": "i",
            "output_index": 0, "call_id": "c1", "arguments": "{}"}
    assert beta_to_ga(done, "server", state) == ({**done, "name": "f"}, [])


# ---------------------------------------------------------------------------
# Every SDK-representable event translates into something the target model decodes


def handled(api: str, side: str) -> list[str]:
    """The event types whose payload the translation reshapes (the others are renamed, copied or dropped)."""
    return sorted(versions._HANDLERS[api, side])


def fits(source: type, goal: type) -> bool:
    """Whether every event of struct ``source`` decodes unchanged as struct ``goal``."""
    if source is goal:
        return True
    theirs = {f.encode_name: f for f in msgspec.structs.fields(goal)}
    ours = {f.encode_name: f.type for f in msgspec.structs.fields(source)}
    same = all(name in theirs and theirs[name].type == tp for name, tp in ours.items())
    return same and all(f.default is not msgspec.NODEFAULT for name, f in theirs.items() if name not in ours)


@pytest.mark.parametrize("api, target", [("beta", "ga"), ("ga", "beta")])
@pytest.mark.parametrize("side", ["server", "client"])
def test_events_copied_or_renamed_unchanged_are_decoded_by_the_same_struct(api, target, side) -> None:
    renames = EVENT_RENAMES_BETA_TO_GA if api == "beta" else EVENT_RENAMES_GA_TO_BETA
    dropped = ONLY_IN_BETA if api == "beta" else ONLY_IN_GA
    source, goal = decoder(side, api).classes, decoder(side, target).classes
    for event_type in set(sdk_events(api, side)) - set(handled(api, side)) - dropped:
        assert fits(source[event_type], goal[renames.get(event_type, event_type)]), event_type


def one_per_handler(api: str, side: str) -> list[str]:
    """The last event type (sorted) of each handler function: they share a payload shape."""
    by_handler = {versions._HANDLERS[api, side][t]: t for t in handled(api, side)}
    return sorted(by_handler.values())


# Beta schemas are cheap to generate from, GA ones slow (big unions): every beta type, one GA type per handler.
HANDLED = [("beta", side, t) for side in ("server", "client") for t in handled("beta", side)] + [
    ("ga", side, t) for side in ("server", "client") for t in one_per_handler("ga", side)
]


@pytest.mark.parametrize("api, side, event_type", HANDLED, ids=[f"{a}-{t}" for a, _, t in HANDLED])
def test_every_sdk_event_translates_to_a_decodable_event_or_a_note(api: str, side: str, event_type: str) -> None:
    translate, target = (beta_to_ga, "ga") if api == "beta" else (ga_to_beta, "beta")

    # GA schemas are big, and slow for hypothesis-jsonschema: fewer examples.
    @settings(max_examples=6 if api == "beta" else 3, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(from_schema(strict_schema(api, side, event_type)))
    def check(payload: dict[str, Any]) -> None:
        result = translate(payload, side)
        if result.event is None:
            assert result.notes, "an event was dropped without a note"
            return
        event = decode(target, side, result.event)
        assert type(event) is decoder(side, target).classes[result.event["type"]]

    check()
