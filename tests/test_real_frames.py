"""Frames shaped like the ones real Realtime servers sent, as reported in public issue threads and logs.

Each frame is written by hand from the shape a public report shows (the source is
named above it; ids and texts are shortened or made up). Every frame must decode,
re-encode to the same JSON, and have :func:`rtproto.events.leniencies` report
exactly what the model had to tolerate.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
import pytest

from rtproto import events
from rtproto.errors import ProtocolError
from rtproto.events import beta, decode_server, encode, leniencies, to_dict

AUDIO = "AAAAAP//AQA="  # a few PCM16 samples, base64
IDS = {"event_id": "event_CHTmmxdHhdm5uUqZifJY3", "response_id": "resp_CHTmn4qZ2D0gFj6fD2Fn1",
       "item_id": "item_CHTmnAaS6i2yYrb4Vb2bd", "output_index": 0, "content_index": 0}


class Real(NamedTuple):
    name: str
    api: str
    frame: dict[str, Any]
    cls: type
    tolerated: list[tuple[str, str]]  # what leniencies() must report, in order


REASONING_ITEM = {"id": "rs_68c9c3a5a0ec8191", "type": "reasoning",
                  "summary": [{"type": "summary_text", "text": "The user asks for the weather."}]}

# openai-agents-python issue #1748: an Azure deployment answered a GA client with a beta-shaped
# session (no `type`, flat audio settings); the agents SDK failed to validate it.
AZURE_SESSION_CREATED = {
    "type": "session.created", "event_id": "event_CHTmmxdHhdm5uUqZifJY3",
    "session": {"object": "realtime.session", "id": "sess_CHTmmc4pwK7Xy8j3EijDZ", "model": "gpt-realtime-2025-08-28",
                "modalities": ["audio", "text"], "instructions": "Be witty.", "voice": "alloy",
                "output_audio_format": "pcm16", "tools": [], "tool_choice": "auto", "temperature": 0.8,
                "max_response_output_tokens": "inf",
                "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                   "silence_duration_ms": 200, "create_response": True,
                                   "interrupt_response": True},
                "speed": 1.0, "tracing": None, "prompt": None, "expires_at": 1758283908,
                "input_audio_noise_reduction": None, "input_audio_format": "pcm16",
                "input_audio_transcription": None}}

FRAMES = [
    # openai-agents-python issue #1748: an Azure deployment answered a GA client with a beta-shaped
    # session (no `type`, flat audio settings); the agents SDK failed to validate it.
    Real("azure-beta-shaped-session-on-ga", "ga", AZURE_SESSION_CREATED,
        events.SessionCreated, [("$.session", "session without a type")]),
    # The same report's frame read as what it is, a beta session.created.
    Real("azure-session-read-as-beta", "beta", AZURE_SESSION_CREATED,
        beta.SessionCreated, [("$.session.prompt", "unknown field 'prompt'")]),
    # openai-realtime-api-beta issue #23: the default beta session, with `expires_at` and `object`.
    Real("beta-default-session", "beta", {
        "type": "session.created", "event_id": "event_AF1aBcDeFgHiJkLmNoPqR",
        "session": {"id": "sess_AF1aBcDeFgHiJkLmN", "object": "realtime.session",
                    "model": "gpt-4o-realtime-preview-2024-10-01", "expires_at": 1727740000,
                    "modalities": ["audio", "text"], "instructions": "Your knowledge cutoff is 2023-10.",
                    "voice": "alloy", "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                                         "prefix_padding_ms": 300, "silence_duration_ms": 200},
                    "input_audio_format": "pcm16", "output_audio_format": "pcm16", "input_audio_transcription": None,
                    "tool_choice": "auto", "temperature": 0.8, "max_response_output_tokens": "inf", "tools": []}},
        beta.SessionCreated, []),
    # OpenAI's GA reference example of session.created: `object`, `id`, `expires_at`, `include`,
    # `tracing`, `prompt` sit beside the request fields; all are modelled, so nothing is tolerated.
    Real("ga-session-with-server-fields", "ga", {
        "type": "session.created", "event_id": "event_C9G5RJeJ2gF77mV7f2B1j",
        "session": {"type": "realtime", "object": "realtime.session", "id": "sess_C9G5QPteg4UIbotdKLoYQ",
                    "model": "gpt-realtime-2025-08-28", "output_modalities": ["audio"], "instructions": "Be brief.",
                    "tools": [], "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None,
                    "truncation": "auto", "prompt": None, "expires_at": 1756324625, "include": None,
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": None,
                                        "noise_reduction": None,
                                        "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                                           "prefix_padding_ms": 300, "silence_duration_ms": 200,
                                                           "idle_timeout_ms": None, "create_response": True,
                                                           "interrupt_response": True}},
                              "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin",
                                         "speed": 1.0}}}},
        events.SessionCreated, []),
    # pipecat issue #3716: a realtime server answered with a voice name outside the documented list
    # ("human_Ara"); voices are plain strings here, so a new one needs no leniency.
    Real("session-updated-new-voice-name", "ga", {
        "type": "session.updated", "event_id": "event_D1vV0iceNam3xxxxxxxxx",
        "session": {"type": "realtime", "audio": {"output": {"voice": "human_Ara"}}}},
        events.SessionUpdated, []),
    # run-llama/openai_realtime_client issue #3: errors whose `code`, `param` and `event_id` are null.
    Real("error-active-response", "ga", {
        "type": "error", "event_id": "event_AJ3s8fWbY1n0Kq2lV4xZa",
        "error": {"type": "invalid_request_error", "code": None,
                  "message": "Conversation already has an active response", "param": None, "event_id": None}},
        events.Error, []),
    Real("error-empty-buffer", "ga", {
        "type": "error", "event_id": "event_AJ3s9gXcZ2o1Lr3mW5yAb",
        "error": {"type": "invalid_request_error", "code": None,
                  "message": "Error committing input audio buffer: the buffer is empty.", "param": None,
                  "event_id": None}},
        events.Error, []),
    # pipecat issue #2106: a truncate past the end of the audio, rejected with error.event_id null.
    Real("error-truncate-too-long", "ga", {
        "type": "error", "event_id": "event_BobedUl333Nb1OtoyABG1",
        "error": {"type": "invalid_request_error", "code": "invalid_value",
                  "message": "Audio content of 2450ms is already shorter than 2535ms", "param": None,
                  "event_id": None}},
        events.Error, []),
    # BerriAI/litellm issue #13471: an `error` frame full of nulls broke a pydantic union parse;
    # servers also send errors whose own `event_id` is null.
    Real("error-null-event-id", "ga", {
        "type": "error", "event_id": None,
        "error": {"type": "invalid_request_error", "code": None, "message": "Invalid modalities.", "param": None,
                  "event_id": None}},
        events.Error, [("$.event_id", "null for non-nullable field 'event_id'")]),
    # openai-realtime-console issue #46: a failed input transcription, every detail null.
    Real("input-transcription-failed", "ga", {
        "type": "conversation.item.input_audio_transcription.failed", "event_id": "event_AGEqwEZAW3j8ciNrZ4kyG",
        "item_id": "item_AGEqweASABEtfGc3R5McG", "content_index": 0,
        "error": {"type": "server_error", "code": None, "message": "Input transcription failed for item.",
                  "param": None}},
        events.ConversationItemInputAudioTranscriptionFailed, []),
    # openai-agents-js pull request #724: the completed transcription with token usage ...
    Real("input-transcription-completed-with-usage", "ga", {
        "type": "conversation.item.input_audio_transcription.completed", "event_id": "event_XX1",
        "item_id": "item_XX1", "content_index": 0, "transcript": "Hey, can you hear me?",
        "usage": {"type": "tokens", "total_tokens": 22, "input_tokens": 13,
                  "input_token_details": {"text_tokens": 0, "audio_tokens": 13}, "output_tokens": 9}},
        events.ConversationItemInputAudioTranscriptionCompleted, []),
    # ... and (same thread) the frames from before the field existed, without `usage`: the words still count.
    Real("input-transcription-completed-without-usage", "ga", {
        "type": "conversation.item.input_audio_transcription.completed", "event_id": "event_XX2",
        "item_id": "item_XX2", "content_index": 0, "transcript": "What's the weather in Paris?"},
        events.ConversationItemInputAudioTranscriptionCompleted, [("$.usage", "missing required field 'usage'")]),
    # openai-realtime-console issue #46 (comment): a response that failed with a server error.
    Real("response-done-failed", "ga", {
        "type": "response.done", "event_id": "event_AIK6Ias64e7ZvkyBJspvo",
        "response": {"object": "realtime.response", "id": "resp_AIK6IfHhVf4kpdejGeKwa", "status": "failed",
                     "status_details": {"type": "failed", "error": {"type": "server_error", "code": None,
                                                                    "message": "The server had an error."}},
                     "output": [], "usage": None}},
        events.ResponseDone, []),
    # twilio-samples/speech-assistant-openai-realtime-api-node issue #37: a beta response.done that
    # failed, with modalities, voice, g711 output and zero usage.
    Real("beta-response-done-failed-g711", "beta", {
        "type": "response.done", "event_id": "event_BOrBQgOrrytzLD1dMSDeI",
        "response": {"object": "realtime.response", "id": "resp_BOrBQn1Zb2VRv8n6x8tYM", "status": "failed",
                     "status_details": {"type": "failed", "error": {"type": "server_error", "code": None,
                                                                    "message": "The server had an error."}},
                     "output": [], "conversation_id": "conv_BOrBOQlwDLm5k0QHvLqgZ", "modalities": ["text", "audio"],
                     "voice": "alloy", "output_audio_format": "g711_ulaw", "temperature": 0.8,
                     "max_output_tokens": "inf",
                     "usage": {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0,
                               "input_token_details": {"cached_tokens": 0, "text_tokens": 0, "audio_tokens": 0},
                               "output_token_details": {"text_tokens": 0, "audio_tokens": 0}},
                     "metadata": None}},
        beta.ResponseDone, []),
    # The same report: VAD events and the commit, previous_item_id null.
    Real("speech-started", "ga", {"type": "input_audio_buffer.speech_started", "event_id": "event_BOrBP7h6pFMefC9KdOSZ1",
                                  "audio_start_ms": 1012, "item_id": "item_BOrBPrgrKh2WyKvZXU7f3"},
         events.InputAudioBufferSpeechStarted, []),
    Real("buffer-committed", "ga", {"type": "input_audio_buffer.committed", "event_id": "event_BOrBQT1zggF761WCbA4z3",
                                    "previous_item_id": None, "item_id": "item_BOrBPrgrKh2WyKvZXU7f3"},
         events.InputAudioBufferCommitted, []),
    # liusida/dictionary "OpenAI-Realtime-API-responses-example.md": a logged beta text response, whose
    # response.created carries `metadata` with a request id and `usage` null.
    Real("beta-response-created-metadata", "beta", {
        "type": "response.created", "event_id": "event_C1PSbxm5uMU7Jwc2alPcc",
        "response": {"object": "realtime.response", "id": "resp_C1PSbsyhar4EpjNZg9fkB", "status": "in_progress",
                     "status_details": None, "output": [], "conversation_id": "conv_C1PSNA8UPPAtBRO0xzWHR",
                     "modalities": ["text"], "voice": "alloy", "output_audio_format": "pcm16", "temperature": 0.8,
                     "max_output_tokens": "inf", "usage": None,
                     "metadata": {"request_id": "a68f767f-0d18-4494-9012-f113cf16d43a"}}},
        beta.ResponseCreated, []),
    Real("beta-content-part-added-text", "beta", {
        "type": "response.content_part.added", "event_id": "event_C1PSbprim8ZbN7BVmRjsw",
        "response_id": "resp_C1PSbsyhar4EpjNZg9fkB", "item_id": "item_C1PSbur7hgTONg4H8lKhl", "output_index": 0,
        "content_index": 0, "part": {"type": "text", "text": ""}},
        events.ResponseContentPartAdded, []),
    # Streamed deltas padded with `obfuscation` (the field the Responses API added to every streamed
    # delta, seen for instance in a public fixture of response.reasoning_summary_text.delta): GA servers
    # send it on text, transcript, audio and argument deltas. Modelled, so no leniency and fast decoding.
    Real("transcript-delta-obfuscation", "ga", {
        "type": "response.output_audio_transcript.delta", **IDS, "delta": " Paris", "obfuscation": "Xq3"},
        events.ResponseOutputAudioTranscriptDelta, []),
    Real("text-delta-obfuscation", "ga", {
        "type": "response.output_text.delta", **IDS, "delta": "Il fait", "obfuscation": "k9Lw2Tz1"},
        events.ResponseOutputTextDelta, []),
    Real("audio-delta-obfuscation", "ga", {
        "type": "response.output_audio.delta", **IDS, "delta": AUDIO, "obfuscation": "aB3dE"},
        events.ResponseOutputAudioDelta, []),
    Real("arguments-delta-obfuscation", "ga", {
        "type": "response.function_call_arguments.delta", "event_id": "event_Fa1", "response_id": "resp_Fa1",
        "item_id": "item_Fa1", "output_index": 0, "call_id": "call_Fa1", "delta": "{\"city\":", "obfuscation": "zz"},
        events.ResponseFunctionCallArgumentsDelta, []),
    # openai-agents-python issue #1164 shows the `reasoning` item (id, summary of summary_text parts);
    # reasoning realtime models (gpt-realtime-2, livekit/agents-js issue #1433) put such items in a
    # response. The item is unknown here: kept whole, and the response is still seen to end.
    Real("response-done-with-reasoning-item", "ga", {
        "type": "response.done", "event_id": "event_R1",
        "response": {"object": "realtime.response", "id": "resp_R1", "status": "completed", "status_details": None,
                     "output": [REASONING_ITEM,
                                {"id": "item_R1", "type": "message", "status": "completed", "role": "assistant",
                                 "content": [{"type": "output_audio", "transcript": "Sunny."}]}],
                     "usage": {"total_tokens": 50, "input_tokens": 20, "output_tokens": 30,
                               "output_token_details": {"text_tokens": 10, "audio_tokens": 15,
                                                        "reasoning_tokens": 5}}}},
        events.ResponseDone, [("$.response.output[0]", "unknown item type 'reasoning'"),
                              ("$.response.usage.output_token_details.reasoning_tokens",
                               "unknown field 'reasoning_tokens'")]),
    Real("output-item-added-reasoning", "ga", {
        "type": "response.output_item.added", "event_id": "event_R2", "response_id": "resp_R1", "output_index": 0,
        "item": REASONING_ITEM}, events.ResponseOutputItemAdded, [("$.item", "unknown item type 'reasoning'")]),
    Real("conversation-item-done-reasoning", "ga", {
        "type": "conversation.item.done", "event_id": "event_R3", "previous_item_id": None, "item": REASONING_ITEM},
        events.ConversationItemDone, [("$.item", "unknown item type 'reasoning'")]),
    # A retrieved user audio item whose content part names its `format` (not in the SDK's content part).
    Real("item-retrieved-audio-format", "ga", {
        "type": "conversation.item.retrieved", "event_id": "event_Rt1",
        "item": {"id": "item_Rt1", "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
                 "content": [{"type": "input_audio", "audio": AUDIO, "transcript": "hello", "format": "pcm16"}]}},
        events.ConversationItemRetrieved, [("$.item.content[0].format", "unknown field 'format'")]),
]


@pytest.mark.parametrize("real", FRAMES, ids=[f.name for f in FRAMES])
def test_real_frames_decode_losslessly_and_report_what_was_tolerated(real: Real) -> None:
    data = orjson.dumps(real.frame)
    event = decode_server(data, api=real.api)
    assert type(event) is real.cls
    assert orjson.loads(encode(event)) == real.frame
    assert to_dict(event) == real.frame
    assert leniencies(data, event) == real.tolerated
    assert leniencies(real.frame, event) == real.tolerated  # parsed JSON works as well as bytes
    assert decode_server(encode(event), api=real.api) == event


@pytest.mark.parametrize("real", [f for f in FRAMES if not f.tolerated], ids=lambda f: f.name)
def test_frames_without_leniency_take_the_fast_path_and_pass_a_strict_read(real: Real) -> None:
    data = orjson.dumps(real.frame)
    assert decode_server(data, api=real.api, strict=True) == decode_server(data, api=real.api)
    if real.api == "ga":  # the one-pass msgspec decoder accepts it as is: nothing is read twice
        assert type(events.GA_SERVER._decoder.decode(data)) is real.cls


@pytest.mark.parametrize("real", [f for f in FRAMES if any("unknown field" not in w for _, w in f.tolerated)],
                         ids=lambda f: f.name)
def test_a_strict_read_refuses_what_was_tolerated(real: Real) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_server(orjson.dumps(real.frame), api=real.api, strict=True)
    assert str(caught.value).startswith(f"{real.frame['type']}: ")


def test_what_the_placeholders_and_unset_fields_look_like_to_the_code() -> None:
    done = decode_server(orjson.dumps(next(f.frame for f in FRAMES if f.name == "response-done-with-reasoning-item")))
    reasoning, message = done.response.output
    assert type(reasoning) is events.UnknownConversationItem and reasoning.type == "reasoning"
    assert reasoning.raw == REASONING_ITEM and type(message) is events.AssistantMessage
    assert events.extra_fields(done.response.usage.output_token_details) == {"reasoning_tokens": 5}
    azure = decode_server(orjson.dumps(FRAMES[0].frame))
    assert type(azure.session) is events.UnknownSessionConfig and azure.session.raw["voice"] == "alloy"
    no_usage = decode_server(orjson.dumps(next(f.frame for f in FRAMES if f.name.endswith("without-usage"))))
    assert no_usage.usage is events.UNSET and no_usage.transcript == "What's the weather in Paris?"
    delta = decode_server(orjson.dumps(next(f.frame for f in FRAMES if f.name == "audio-delta-obfuscation")))
    assert (delta.delta, delta.obfuscation) == (AUDIO, "aB3dE")


def test_there_are_enough_real_shapes() -> None:
    assert len(FRAMES) >= 20 and len({f.name for f in FRAMES}) == len(FRAMES)
