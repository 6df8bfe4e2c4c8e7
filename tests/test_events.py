"""rtproto.events: realistic GA frames, events built in code, bad input, and fuzzing."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtproto.codec import b64_to_pcm16, pcm16_to_b64
from rtproto.errors import ProtocolError
from rtproto.events import (
    GA_CLIENT,
    GA_SERVER,
    UNSET,
    AssistantContent,
    AssistantMessage,
    AudioConfig,
    AudioInput,
    AudioOutput,
    AudioPCM,
    AudioTranscription,
    ConversationItemAdded,
    ConversationItemCreate,
    ConversationItemDone,
    ConversationItemTruncate,
    Error,
    FunctionCall,
    FunctionCallOutput,
    FunctionTool,
    InputAudioBufferAppend,
    InputAudioBufferCommit,
    ItemReference,
    McpApprovalRequest,
    McpApprovalResponse,
    McpCall,
    McpListTools,
    McpTool,
    RealtimeSession,
    ResponseCancel,
    ResponseCreate,
    ResponseCreateParams,
    ResponseDone,
    ResponseOutputAudioDelta,
    ServerVad,
    SessionCreated,
    SessionUpdate,
    SystemMessage,
    UnknownEvent,
    ConversationItem,
    UnknownConversationItem,
    UnknownObject,
    UnknownAudioFormat,
    UnknownTool,
    UnknownToolChoice,
    UnknownTurnDetection,
    UserMessage,
    decode_client,
    decode_server,
    encode,
    extra_fields,
    leniencies,
    to_dict,
)


def frame(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def round_trips(event: Any, payload: dict[str, Any]) -> bool:
    return orjson.loads(encode(event)) == payload and to_dict(event) == payload


# ---------------------------------------------------------------------------
# Realistic GA frames

SESSION_CREATED = {
    "type": "session.created",
    "event_id": "event_C9G5RJeJ2gF77mV7f2B1j",
    "session": {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_C9G5QPteg4UIbotdKLoYQ",
        "model": "gpt-realtime-2025-08-28",
        "output_modalities": ["audio"],
        "instructions": "You are a helpful assistant. Keep answers short.",
        "tools": [
            {
                "type": "function",
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                    "required": ["city"],
                },
            },
            {
                "type": "mcp",
                "server_label": "deepwiki",
                "server_url": "https://mcp.deepwiki.com/mcp",
                "allowed_tools": ["ask_question", "read_wiki_structure"],
                "require_approval": {"never": {"tool_names": ["read_wiki_structure"]}},
                "headers": None,
                "server_description": None,
            },
        ],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": 1756324625,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
        },
        "include": None,
    },
}


def test_session_created_with_function_and_mcp_tools() -> None:
    event = decode_server(frame(SESSION_CREATED))
    assert type(event) is SessionCreated and event.type == "session.created"
    session = event.session
    assert type(session) is RealtimeSession
    assert (session.id, session.model, session.expires_at) == ("sess_C9G5QPteg4UIbotdKLoYQ", "gpt-realtime-2025-08-28", 1756324625)
    function, mcp = session.tools
    assert type(function) is FunctionTool and function.name == "get_weather"
    assert function.parameters["required"] == ["city"]
    assert type(mcp) is McpTool
    assert (mcp.server_label, mcp.server_url) == ("deepwiki", "https://mcp.deepwiki.com/mcp")
    assert mcp.allowed_tools == ["ask_question", "read_wiki_structure"]
    assert mcp.require_approval.never.tool_names == ["read_wiki_structure"]
    assert mcp.require_approval.always is UNSET
    assert mcp.headers is None and mcp.authorization is UNSET  # null stays null, absent stays absent
    assert session.tool_choice == "auto" and session.max_output_tokens == "inf"
    vad = session.audio.input.turn_detection
    assert type(vad) is ServerVad
    assert (vad.threshold, vad.prefix_padding_ms, vad.silence_duration_ms) == (0.5, 300, 200)
    assert vad.idle_timeout_ms is None
    fmt = session.audio.input.format
    assert type(fmt) is AudioPCM and fmt.rate == 24000
    assert session.audio.input.noise_reduction is None
    assert session.audio.input.transcription.model == "gpt-4o-transcribe"
    assert (session.audio.output.voice, session.audio.output.speed) == ("marin", 1.0)
    assert session.reasoning is UNSET and session.parallel_tool_calls is UNSET
    assert round_trips(event, SESSION_CREATED)


RESPONSE_DONE = {
    "type": "response.done",
    "event_id": "event_C9G8pjSJCfRNEhMEnYAVy",
    "response": {
        "object": "realtime.response",
        "id": "resp_C9G8p7IH2WxLbkgPNouYL",
        "status": "completed",
        "status_details": None,
        "output": [
            {
                "id": "mcp_68c9c3a5a0ec8191b6d3a6b1d1a7c1c0",
                "type": "mcp_call",
                "server_label": "deepwiki",
                "name": "ask_question",
                "arguments": '{"repoName":"openai/openai-python","question":"What is Realtime?"}',
                "approval_request_id": None,
                "output": "The Realtime API streams audio both ways.",
                "error": None,
            },
            {
                "id": "item_C9G8pGVKYnaZu8PH5YQ9O",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_audio", "transcript": "It streams audio both ways."}],
            },
        ],
        "conversation_id": "conv_C9G8mmBkLhQJwCon3hoJN",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}},
        "usage": {
            "total_tokens": 1737,
            "input_tokens": 1434,
            "output_tokens": 303,
            "input_token_details": {
                "text_tokens": 1263,
                "audio_tokens": 171,
                "image_tokens": 0,
                "cached_tokens": 1152,
                "cached_tokens_details": {"text_tokens": 1152, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": 74, "audio_tokens": 229},
        },
        "metadata": None,
    },
}


def test_response_done_with_mcp_call_message_and_usage() -> None:
    event = decode_server(frame(RESPONSE_DONE))
    assert type(event) is ResponseDone
    response = event.response
    assert (response.id, response.status, response.status_details) == ("resp_C9G8p7IH2WxLbkgPNouYL", "completed", None)
    call, message = response.output
    assert type(call) is McpCall
    assert (call.server_label, call.name, call.output, call.error) == (
        "deepwiki", "ask_question", "The Realtime API streams audio both ways.", None)
    assert orjson.loads(call.arguments)["repoName"] == "openai/openai-python"
    assert type(message) is AssistantMessage
    assert message.content == [AssistantContent(type="output_audio", transcript="It streams audio both ways.")]
    usage = response.usage
    assert (usage.total_tokens, usage.input_tokens, usage.output_tokens) == (1737, 1434, 303)
    assert usage.input_token_details.cached_tokens_details.text_tokens == 1152
    assert (usage.output_token_details.text_tokens, usage.output_token_details.audio_tokens) == (74, 229)
    assert response.metadata is None
    assert round_trips(event, RESPONSE_DONE)


ITEMS = [
    ({"id": "item_sys", "type": "message", "role": "system", "object": "realtime.item", "status": "completed",
      "content": [{"type": "input_text", "text": "Answer in French."}]},
     SystemMessage, {"role": "system", "content[0].text": "Answer in French."}),
    ({"id": "item_usr", "type": "message", "role": "user", "object": "realtime.item", "status": "completed",
      "content": [{"type": "input_audio", "transcript": "What's the weather in Paris?"},
                  {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}]},
     UserMessage, {"content[0].transcript": "What's the weather in Paris?", "content[0].audio": UNSET,
                   "content[1].detail": "low"}),
    ({"id": "item_ast", "type": "message", "role": "assistant", "object": "realtime.item", "status": "incomplete",
      "content": [{"type": "output_audio", "transcript": "Il fait beau."}]},
     AssistantMessage, {"status": "incomplete", "content[0].type": "output_audio"}),
    ({"id": "item_fc", "type": "function_call", "object": "realtime.item", "status": "completed",
      "name": "get_weather", "call_id": "call_8DWPrNEe1x0XhN0Y", "arguments": '{"city":"Paris"}'},
     FunctionCall, {"name": "get_weather", "call_id": "call_8DWPrNEe1x0XhN0Y", "arguments": '{"city":"Paris"}'}),
    ({"id": "item_fo", "type": "function_call_output", "object": "realtime.item", "status": "completed",
      "call_id": "call_8DWPrNEe1x0XhN0Y", "output": '{"temp_c":21,"sky":"clear"}'},
     FunctionCallOutput, {"call_id": "call_8DWPrNEe1x0XhN0Y", "output": '{"temp_c":21,"sky":"clear"}'}),
    ({"id": "mcpl_1", "type": "mcp_list_tools", "server_label": "deepwiki",
      "tools": [{"name": "ask_question", "description": "Ask about a repository.",
                 "input_schema": {"type": "object", "properties": {"question": {"type": "string"}}},
                 "annotations": {"readOnlyHint": True}}]},
     McpListTools, {"server_label": "deepwiki", "tools[0].name": "ask_question",
                    "tools[0].annotations": {"readOnlyHint": True}}),
    ({"id": "mcp_1", "type": "mcp_call", "server_label": "deepwiki", "name": "ask_question",
      "arguments": '{"question":"?"}', "approval_request_id": "mcpr_1", "output": None,
      "error": {"type": "http_error", "code": 502, "message": "Bad Gateway"}},
     McpCall, {"approval_request_id": "mcpr_1", "output": None, "error.code": 502, "error.type": "http_error"}),
    ({"id": "mcpr_1", "type": "mcp_approval_request", "server_label": "deepwiki", "name": "ask_question",
      "arguments": '{"question":"?"}'},
     McpApprovalRequest, {"id": "mcpr_1", "name": "ask_question"}),
    ({"id": "mcpa_1", "type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": False,
      "reason": "Not now."},
     McpApprovalResponse, {"approve": False, "reason": "Not now."}),
]


def attribute(obj: Any, path: str) -> Any:
    for part in path.replace("]", "").replace("[", ".").split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


@pytest.mark.parametrize(("item", "cls", "expected"), ITEMS, ids=[f"{c.__name__}" for _, c, _ in ITEMS])
def test_conversation_item_done_of_each_item_kind(item: dict, cls: type, expected: dict) -> None:
    payload = {"type": "conversation.item.done", "event_id": "event_1", "previous_item_id": "item_0", "item": item}
    event = decode_server(frame(payload))
    assert type(event) is ConversationItemDone
    assert type(event.item) is cls
    assert event.item.type == item["type"]
    for path, value in expected.items():
        assert attribute(event.item, path) == value, path
    assert round_trips(event, payload)


def test_output_audio_delta_carries_decodable_pcm16() -> None:
    t = np.arange(2400) / 24000
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)  # 100 ms of 440 Hz
    payload = {"type": "response.output_audio.delta", "content_index": 0, "delta": pcm16_to_b64(pcm),
               "event_id": "event_2", "item_id": "item_1", "output_index": 0, "response_id": "resp_1"}
    event = decode_server(frame(payload))
    assert type(event) is ResponseOutputAudioDelta
    assert (event.response_id, event.item_id, event.output_index, event.content_index) == ("resp_1", "item_1", 0, 0)
    assert np.array_equal(b64_to_pcm16(event.delta), pcm)
    assert encode(event) == frame(payload)  # written in the struct's field order: byte-for-byte


def test_error_event() -> None:
    payload = {"type": "error", "event_id": "event_3", "error": {
        "type": "invalid_request_error", "code": "invalid_value", "message": "Invalid value: 'pcm8'.",
        "param": "session.audio.input.format.type", "event_id": "client_evt_7"}}
    event = decode_server(frame(payload))
    assert type(event) is Error
    assert (event.error.type, event.error.code, event.error.param, event.error.event_id) == (
        "invalid_request_error", "invalid_value", "session.audio.input.format.type", "client_evt_7")
    assert round_trips(event, payload)


def test_null_stays_null_and_absent_stays_absent() -> None:
    base = {"type": "conversation.item.added", "event_id": "e",
            "item": {"type": "function_call", "name": "f", "arguments": "{}", "call_id": None}}
    with_null = decode_server(frame({**base, "previous_item_id": None}))
    absent = decode_server(frame(base))
    assert type(with_null) is ConversationItemAdded
    assert with_null.previous_item_id is None and absent.previous_item_id is UNSET
    assert with_null.item.call_id is None and with_null.item.id is UNSET
    assert b'"previous_item_id":null' in encode(with_null)
    assert b"previous_item_id" not in encode(absent)
    assert b'"call_id":null' in encode(absent) and b'"id"' not in encode(absent)


def test_a_stray_role_on_an_item_without_roles_is_kept_like_any_unknown_field() -> None:
    item = {"type": "function_call", "role": "assistant", "name": "f", "arguments": "{}", "call_id": "c"}
    data = frame({"type": "conversation.item.done", "event_id": "e", "item": item})
    event = decode_server(data)
    assert type(event.item) is FunctionCall and extra_fields(event.item) == {"role": "assistant"}
    assert orjson.loads(encode(event))["item"] == item
    assert leniencies(data, event) == [("$.item.role", "unknown field 'role'")]


def test_session_update_round_trips_through_the_client_decoder() -> None:
    payload = {"type": "session.update", "event_id": "client_1", "session": {
        "type": "realtime", "instructions": "", "tools": [], "tool_choice": {"type": "function", "name": "f"},
        "audio": {"input": {"turn_detection": None, "transcription": None}}}}
    event = decode_client(frame(payload))
    assert type(event) is SessionUpdate
    assert event.session.instructions == "" and event.session.tools == []
    assert event.session.audio.input.turn_detection is None
    assert round_trips(event, payload)


# ---------------------------------------------------------------------------
# Client events built in code encode only the fields that were set


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (ResponseCreate(), b'{"type":"response.create"}'),
        (InputAudioBufferCommit(), b'{"type":"input_audio_buffer.commit"}'),
        (ResponseCancel(response_id="resp_1"), b'{"type":"response.cancel","response_id":"resp_1"}'),
        (InputAudioBufferAppend(audio="AAAA", event_id="evt_1"),
         b'{"type":"input_audio_buffer.append","audio":"AAAA","event_id":"evt_1"}'),
        (ConversationItemTruncate(item_id="item_1", content_index=0, audio_end_ms=1530),
         b'{"type":"conversation.item.truncate","audio_end_ms":1530,"content_index":0,"item_id":"item_1"}'),
        (ConversationItemCreate(item=FunctionCallOutput(call_id="call_1", output='{"ok":true}')),
         b'{"type":"conversation.item.create","item":{"call_id":"call_1","output":"{\\"ok\\":true}",'
         b'"type":"function_call_output"}}'),
        (ConversationItemCreate(item=McpApprovalResponse(id="mcpa_2", approval_request_id="mcpr_1", approve=True),
                                previous_item_id=None),
         b'{"type":"conversation.item.create","item":{"id":"mcpa_2","approval_request_id":"mcpr_1","approve":true,'
         b'"type":"mcp_approval_response"},"previous_item_id":null}'),
        (ResponseCreate(response=ResponseCreateParams(conversation="none", output_modalities=["text"],
                                                      input=[ItemReference(id="item_1")])),
         b'{"type":"response.create","response":{"conversation":"none","input":[{"id":"item_1",'
         b'"type":"item_reference"}],"output_modalities":["text"]}}'),
    ],
    ids=["response.create-empty", "input_audio_buffer.commit", "response.cancel", "input_audio_buffer.append",
         "conversation.item.truncate", "function_call_output", "mcp_approval_response", "response.create-params"],
)
def test_events_built_in_code_encode_only_the_fields_set(event: Any, expected: bytes) -> None:
    assert encode(event) == expected
    assert decode_client(expected) == event


def test_a_session_update_built_in_code() -> None:
    session = RealtimeSession(
        instructions="Be brief.",
        audio=AudioConfig(
            input=AudioInput(format=AudioPCM(type="audio/pcm", rate=24000), turn_detection=ServerVad(),
                             transcription=AudioTranscription(model="gpt-4o-transcribe")),
            output=AudioOutput(voice="marin"),
        ),
        tools=[FunctionTool(type="function", name="get_weather", parameters={"type": "object"}),
               McpTool(server_label="wiki", server_url="https://wiki.example/mcp", require_approval="always")],
    )
    assert orjson.loads(encode(SessionUpdate(session=session))) == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": "Be brief.",
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": {"type": "server_vad"},
                          "transcription": {"model": "gpt-4o-transcribe"}},
                "output": {"voice": "marin"},
            },
            "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
                      {"type": "mcp", "server_label": "wiki", "server_url": "https://wiki.example/mcp",
                       "require_approval": "always"}],
        },
    }


# ---------------------------------------------------------------------------
# Bad input

AUDIO_DELTA = {"type": "response.output_audio.delta", "event_id": "e", "response_id": "r", "item_id": "i",
               "output_index": 0, "content_index": 0, "delta": "AAAA"}
ITEM_DONE = {"type": "conversation.item.done", "event_id": "e"}


@pytest.mark.parametrize(
    ("data", "message", "event_type", "path"),
    [
        (frame({**AUDIO_DELTA, "delta": 5}),
         "response.output_audio.delta: Expected str, got int at $.delta", "response.output_audio.delta", "$.delta"),
        (frame({k: v for k, v in AUDIO_DELTA.items() if k != "item_id"}),
         "response.output_audio.delta: Object missing required field item_id", "response.output_audio.delta", None),
        (frame({**ITEM_DONE, "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": 7}]}}),
         "conversation.item.done: Expected str | null, got int at $.item.content[0].text",
         "conversation.item.done", "$.item.content[0].text"),
        (frame({**ITEM_DONE, "item": {"type": "reasoning", "id": "x"}}),
         "conversation.item.done: Invalid ConversationItem type 'reasoning' at $.item", "conversation.item.done", "$.item"),
        (frame({**ITEM_DONE, "item": {"type": "message", "role": "robot", "content": []}}),
         "conversation.item.done: Invalid ConversationItem type 'message', role 'robot' at $.item",
         "conversation.item.done", "$.item"),
        (frame({**ITEM_DONE, "item": {"type": ["message"]}}),
         "conversation.item.done: Expected str, got array at $.item.type", "conversation.item.done", "$.item.type"),
        (frame({"type": "session.created", "event_id": "e", "session": {"type": "realtime", "tool_choice": "sometimes"}}),
         "session.created: Invalid value 'sometimes', expected one of ['auto', 'none', 'required'] or an object "
         "at $.session.tool_choice", "session.created", "$.session.tool_choice"),
        (frame({"type": "session.created", "event_id": "e", "session": {"type": "realtime", "tools": [{"type": "mcp"}]}}),
         "session.created: Object missing required field server_label at $.session.tools[0]",
         "session.created", "$.session.tools[0]"),
        (frame({"type": "conversation.item.truncated", "event_id": "e", "item_id": "i", "content_index": 0,
                "audio_end_ms": 1.5}),
         "conversation.item.truncated: Expected int, got float at $.audio_end_ms",
         "conversation.item.truncated", "$.audio_end_ms"),
        (b'{"type":"conversation.item.truncated","event_id":"e","item_id":"i","content_index":0,"audio_end_ms":1e400}',
         "conversation.item.truncated: Number out of range at $.audio_end_ms",
         "conversation.item.truncated", "$.audio_end_ms"),
        (b'{"event_id":"e"}',
         "not an event (needs a JSON object with a string `type`): Object missing required field type", None, None),
        (b'[{"type":"error"}]',
         "not an event (needs a JSON object with a string `type`): Expected object, got array", None, None),
        (b'{"type":42}', "not an event (needs a JSON object with a string `type`): Expected str, got int", None, None),
        (b"", "invalid JSON: Input data was truncated", None, None),
        (b'{"type":"error",', "invalid JSON: Input data was truncated", None, None),
        (b'{"type":"error" "event_id":"e"}', "invalid JSON: JSON is malformed: expected ',' or '}' (byte 16)", None, None),
        (b"[" * 10_000 + b"]" * 10_000,
         "not an event (needs a JSON object with a string `type`): Expected object, got array", None, None),
        (b'{"type":"response.done","event_id":"e","response":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
         "response.done: JSON nested too deeply to decode", "response.done", None),
        (b'{"type":"session.created","event_id":"e","session":{"type":"realtime","tools":[{"parameters":'
         + b"[" * 10_000 + b"]" * 10_000 + b"}]}}",
         "session.created: JSON nested too deeply to decode", "session.created", None),
    ],
    ids=["wrong-field-type", "missing-required-field", "bad-nested-item-text", "unknown-item-type",
         "unknown-message-role", "item-type-not-a-string", "bad-tool-choice", "mcp-tool-without-label",
         "float-for-int", "number-out-of-range", "missing-type", "not-an-object", "type-not-a-string",
         "empty", "truncated", "malformed", "10000-nested-arrays", "10000-nested-in-response",
         "10000-nested-in-tool-parameters"],
)
def test_bad_server_frames_name_the_event_type_and_path(data: bytes, message: str, event_type: str | None,
                                                       path: str | None) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_server(data, strict=True)
    assert str(caught.value) == message
    assert (caught.value.event_type, caught.value.path) == (event_type, path)


# What a strict read refuses and a lenient one (the default for server events) tolerates.
TOLERATED = [
    (frame({k: v for k, v in AUDIO_DELTA.items() if k != "item_id"}),
     [("$.item_id", "missing required field 'item_id'")], lambda e: e.item_id is UNSET),
    (frame({**ITEM_DONE, "item": {"type": "reasoning", "id": "x"}}),
     [("$.item", "unknown item type 'reasoning'")], lambda e: type(e.item) is UnknownConversationItem),
    (frame({**ITEM_DONE, "item": {"type": "message", "role": "robot", "content": []}}),
     [("$.item", "unknown item type 'message', role 'robot'")], lambda e: e.item.raw["role"] == "robot"),
    (frame({"type": "session.created", "event_id": "e", "session": {"type": "realtime", "tool_choice": "sometimes"}}),
     [("$.session.tool_choice", "unknown tool_choice value 'sometimes'")],
     lambda e: type(e.session.tool_choice) is UnknownToolChoice),
    (frame({"type": "session.created", "event_id": "e", "session": {"type": "realtime", "tools": [{"type": "mcp"}]}}),
     [("$.session.tools[0].server_label", "missing required field 'server_label'")],
     lambda e: type(e.session.tools[0]) is McpTool and e.session.tools[0].server_label is UNSET),
    (frame({"type": "error", "event_id": None, "error": {"type": "server_error", "message": "boom"}}),
     [("$.event_id", "null for non-nullable field 'event_id'")], lambda e: e.event_id is None),
]


@pytest.mark.parametrize(("data", "reported", "check"), TOLERATED,
                         ids=["missing-required-field", "unknown-item-type", "unknown-message-role",
                              "unknown-tool-choice", "mcp-tool-without-label", "null-event-id"])
def test_server_frames_a_strict_read_refuses_are_read_liberally(data: bytes, reported: list, check: Any) -> None:
    event = decode_server(data)
    assert check(event)
    assert orjson.loads(encode(event)) == orjson.loads(data) and to_dict(event) == orjson.loads(data)
    assert leniencies(data, event) == reported
    assert decode_server(encode(event)) == event
    with pytest.raises(ProtocolError):
        decode_server(data, strict=True)


def test_client_frames_are_read_strictly() -> None:
    with pytest.raises(ProtocolError, match="^conversation.item.truncate: Object missing required field item_id$"):
        decode_client(frame({"type": "conversation.item.truncate", "content_index": 0, "audio_end_ms": 5}))
    with pytest.raises(ProtocolError, match="Invalid ConversationItem type 'reasoning' at \\$.item$"):
        decode_client(frame({"type": "conversation.item.create", "item": {"type": "reasoning"}}))
    # Unknown fields are no violation: kept, as on the server side.
    payload = {"type": "response.create", "response": {"conversation": "none", "seed": 1}}
    event = decode_client(frame(payload))
    assert extra_fields(event.response) == {"seed": 1} and orjson.loads(encode(event)) == payload


def test_a_placeholder_is_an_instance_of_its_union_and_compares_by_json() -> None:
    item = UnknownConversationItem({"type": "reasoning", "id": "rs_1"})
    assert isinstance(item, ConversationItem) and isinstance(item, UnknownObject)
    assert item.type == "reasoning" and item == UnknownConversationItem({"type": "reasoning", "id": "rs_1"})
    assert item != UnknownConversationItem({"type": "reasoning", "id": "rs_2"})
    assert encode(ConversationItemCreate(item=item)) == b'{"type":"conversation.item.create","item":{"type":"reasoning","id":"rs_1"}}'


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"error","event_id":"\xff\xfe","error":{}}',  # not UTF-8
        b"\xef\xbb\xbf" + frame(AUDIO_DELTA),  # a byte-order mark
        frame(AUDIO_DELTA) + b"\x00",  # trailing bytes after a valid event
        b'{"type":"beta.thing","x":"\\ud800"}',  # a lone surrogate in an unknown event
        b'{"type":"beta.thing","x":"\x80"}',  # not UTF-8, in an unknown event
        '{"type":"error","event_id":"\ud800"}',  # a str that is not valid Unicode
        b"   ",
        b"null",
    ],
    ids=["not-utf8", "byte-order-mark", "trailing-nul", "escaped-lone-surrogate", "not-utf8-in-unknown-event",
         "str-with-lone-surrogate", "blank", "null"],
)
def test_undecodable_bytes_are_protocol_errors(data: bytes | str) -> None:
    with pytest.raises(ProtocolError, match="^(invalid JSON|not an event)"):
        decode_server(data)


def test_a_bad_client_event_names_its_type_and_path() -> None:
    data = frame({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "c", "output": 3}})
    with pytest.raises(ProtocolError) as caught:
        decode_client(data)
    assert str(caught.value) == "conversation.item.create: Expected str, got int at $.item.output"


def test_huge_integers_are_kept_exactly() -> None:
    # JSON has no integer limit and neither has the SDK's pydantic model: nothing is lost.
    data = (b'{"type":"conversation.item.truncated","audio_end_ms":' + str(10**30).encode()
            + b',"content_index":0,"event_id":"e","item_id":"i"}')
    event = decode_server(data)
    assert event.audio_end_ms == 10**30
    assert encode(event) == data


@pytest.mark.parametrize(
    ("decode", "payload"),
    [
        (decode_server, {"type": "response.reasoning.delta", "event_id": "e", "delta": "hm", "nested": {"a": [1, None]}}),
        (decode_server, {"type": "response.audio.delta", "event_id": "e", "delta": "AAAA"}),  # a beta name on GA
        (decode_client, {"type": "session.created", "event_id": "e", "session": {"type": "realtime"}}),  # wrong side
        (decode_client, {"type": "input_audio_buffer.prepend", "audio": 1}),
    ],
    ids=["new-server-type", "beta-name-on-ga", "server-type-on-client", "new-client-type"],
)
def test_unknown_types_decode_to_unknown_event_and_re_encode_unchanged(decode: Any, payload: dict) -> None:
    data = frame(payload)
    event = decode(data)
    assert type(event) is UnknownEvent
    assert (event.type, event.raw) == (payload["type"], payload)
    assert encode(event) == data
    assert to_dict(event) == payload


def test_an_unknown_type_that_is_also_malformed_elsewhere_is_still_unknown() -> None:
    # No struct applies, so nothing can be wrong with its fields.
    event = decode_server(b'{"type":"future.event","item":{"type":"message","role":"robot"},"event_id":5}')
    assert type(event) is UnknownEvent and event.raw["event_id"] == 5


# ---------------------------------------------------------------------------
# Fuzzing: nothing but ProtocolError ever comes out

_TYPES = sorted(GA_SERVER.classes) + sorted(GA_CLIENT.classes) + ["message", "function_call", "mcp", "realtime"]
_KEYS = ["type", "role", "event_id", "item", "session", "response", "output", "content", "tools", "error",
         "delta", "audio", "format", "input", "usage", "part", "rate_limits", "item_id", "arguments"]
_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=10) | st.sampled_from(_TYPES))
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=5), inner, max_size=5),
    max_leaves=25,
)
# Objects whose type is a real one, so that the typed decoders get past the tag.
typed_objects = st.builds(lambda fields, kind: {**fields, "type": kind},
                          st.dictionaries(st.sampled_from(_KEYS), json_values, max_size=6), st.sampled_from(_TYPES))
_REAL = [frame(SESSION_CREATED), frame(RESPONSE_DONE), frame(AUDIO_DELTA)]
# Real frames with bytes cut, replaced or inserted.
damaged_frames = st.builds(
    lambda data, at, cut, junk: data[: at % len(data)] + junk + data[at % len(data) + cut:],
    st.sampled_from(_REAL), st.integers(0, 10_000), st.integers(0, 8), st.binary(max_size=6),
)
SEARCH = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def decodes_or_protocol_error(data: bytes | str) -> None:
    for decode in (decode_server, decode_client):
        try:
            event = decode(data)
        except ProtocolError:
            continue
        encoded = encode(event)  # whatever decodes also encodes
        if type(event) is UnknownEvent:
            assert orjson.loads(encoded) == orjson.loads(data)
        else:
            assert decode(encoded) == event


@SEARCH
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    decodes_or_protocol_error(data)


@SEARCH
@given(json_values | typed_objects)
def test_fuzz_arbitrary_json_values(value: Any) -> None:
    data = orjson.dumps(value)
    decodes_or_protocol_error(data)
    decodes_or_protocol_error(data.decode())


@SEARCH
@given(damaged_frames)
def test_fuzz_damaged_real_frames(data: bytes) -> None:
    decodes_or_protocol_error(data)


def test_unknown_tool_turn_detection_and_format_kinds_become_placeholders() -> None:
    session = {"type": "realtime", "tools": [{"type": "web_search", "filters": {"domains": ["x"]}}],
               "audio": {"input": {"turn_detection": {"type": "push_to_talk", "hold_ms": 200},
                                   "format": {"type": "audio/opus", "rate": 48000}},
                         "output": {"format": "pcm16"}}}
    data = frame({"type": "session.updated", "event_id": "e", "session": session})
    event = decode_server(data)
    audio = event.session.audio
    assert [type(event.session.tools[0]), type(audio.input.turn_detection), type(audio.input.format),
            type(audio.output.format)] == [UnknownTool, UnknownTurnDetection, UnknownAudioFormat, UnknownAudioFormat]
    assert orjson.loads(encode(event)) == orjson.loads(data)
    assert leniencies(data, event) == [  # in the frame's order
        ("$.session.tools[0]", "unknown tool type 'web_search'"),
        ("$.session.audio.input.turn_detection", "unknown turn detection type 'push_to_talk'"),
        ("$.session.audio.input.format", "unknown audio format type 'audio/opus'"),
        ("$.session.audio.output.format", "unknown audio format value 'pcm16'"),
    ]
