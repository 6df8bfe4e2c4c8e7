"""The 46 GA server events (``openai.types.realtime.RealtimeServerEvent``).

Real servers add ``obfuscation`` (random padding against length side channels)
to the streamed text, transcript, audio and argument deltas; the SDK lists it
on ``response.mcp_call_arguments.delta`` only. It is modelled on all of them,
so that real deltas stay on the fast path.
"""

from __future__ import annotations

from typing import Literal

from ._base import Model, OneOf, UNSET, UnsetType
from ._event import ServerEvent
from .config import SessionConfig
from .items import ConversationItem
from .response import Response, ResponseContentPart


class Conversation(Model):
    """The conversation resource."""

    id: str | None | UnsetType = UNSET
    object: str | None | UnsetType = UNSET


class ErrorInfo(Model):
    """Details of the error."""

    message: str
    type: str
    code: str | None | UnsetType = UNSET
    event_id: str | None | UnsetType = UNSET
    param: str | None | UnsetType = UNSET


class RateLimit(Model):
    """One rate limit (``requests`` or ``tokens``)."""

    limit: int | None | UnsetType = UNSET
    name: str | None | UnsetType = UNSET
    remaining: int | None | UnsetType = UNSET
    reset_seconds: float | None | UnsetType = UNSET


class LogProb(Model):
    """A log probability object."""

    token: str
    bytes: list[int]
    logprob: float


class TranscriptionLanguage(Model):
    """A language detected in transcribed audio."""

    code: str


class TranscriptionInputTokenDetails(Model):
    """Details about the input tokens billed for this request."""

    audio_tokens: int | None | UnsetType = UNSET
    text_tokens: int | None | UnsetType = UNSET


class TranscriptionUsage(OneOf):
    """Usage of an input transcription: tokens or duration."""

    __slots__ = ()
    label = "usage"


class TranscriptionUsageTokens(Model, TranscriptionUsage):
    """Usage statistics for models billed by token usage."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    type: Literal['tokens'] = 'tokens'
    input_token_details: TranscriptionInputTokenDetails | None | UnsetType = UNSET


class TranscriptionUsageDuration(Model, TranscriptionUsage):
    """Usage statistics for models billed by audio input duration."""

    seconds: float
    type: Literal['duration'] = 'duration'


TranscriptionUsage.variants = {
    'tokens': TranscriptionUsageTokens,
    'duration': TranscriptionUsageDuration,
}
UnknownTranscriptionUsage = TranscriptionUsage.unknown


class TranscriptionError(Model):
    """Details of the transcription error."""

    code: str | None | UnsetType = UNSET
    message: str | None | UnsetType = UNSET
    param: str | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET


class ConversationCreated(ServerEvent, tag='conversation.created'):
    """``conversation.created``: Returned when a conversation is created."""

    conversation: Conversation
    event_id: str


class ConversationItemAdded(ServerEvent, tag='conversation.item.added'):
    """``conversation.item.added``: Sent by the server when an Item is added to the default Conversation."""

    event_id: str
    item: ConversationItem
    previous_item_id: str | None | UnsetType = UNSET


class ConversationItemCreated(ServerEvent, tag='conversation.item.created'):
    """``conversation.item.created``: Returned when a conversation item is created."""

    event_id: str
    item: ConversationItem
    previous_item_id: str | None | UnsetType = UNSET


class ConversationItemDeleted(ServerEvent, tag='conversation.item.deleted'):
    """``conversation.item.deleted``: Returned when an item in the conversation is deleted by the client with a `conversation.item.delete` event."""

    event_id: str
    item_id: str


class ConversationItemDone(ServerEvent, tag='conversation.item.done'):
    """``conversation.item.done``: Returned when a conversation item is finalized."""

    event_id: str
    item: ConversationItem
    previous_item_id: str | None | UnsetType = UNSET


class ConversationItemInputAudioTranscriptionCompleted(ServerEvent, tag='conversation.item.input_audio_transcription.completed'):
    """``conversation.item.input_audio_transcription.completed``: This event is the output of audio transcription for user audio written to the user audio buffer."""

    content_index: int
    event_id: str
    item_id: str
    transcript: str
    usage: TranscriptionUsage
    languages: list[TranscriptionLanguage] | None | UnsetType = UNSET
    logprobs: list[LogProb] | None | UnsetType = UNSET


class ConversationItemInputAudioTranscriptionDelta(ServerEvent, tag='conversation.item.input_audio_transcription.delta'):
    """``conversation.item.input_audio_transcription.delta``: Returned when the text value of an input audio transcription content part is updated with incremental transcription results."""

    event_id: str
    item_id: str
    content_index: int | None | UnsetType = UNSET
    delta: str | None | UnsetType = UNSET
    logprobs: list[LogProb] | None | UnsetType = UNSET
    obfuscation: str | None | UnsetType = UNSET


class ConversationItemInputAudioTranscriptionFailed(ServerEvent, tag='conversation.item.input_audio_transcription.failed'):
    """``conversation.item.input_audio_transcription.failed``: Returned when input audio transcription is configured, and a transcription request for a user message failed."""

    content_index: int
    error: TranscriptionError
    event_id: str
    item_id: str


class ConversationItemInputAudioTranscriptionSegment(ServerEvent, tag='conversation.item.input_audio_transcription.segment'):
    """``conversation.item.input_audio_transcription.segment``: Returned when an input audio transcription segment is identified for an item."""

    id: str
    content_index: int
    end: float
    event_id: str
    item_id: str
    speaker: str
    start: float
    text: str


class ConversationItemRetrieved(ServerEvent, tag='conversation.item.retrieved'):
    """``conversation.item.retrieved``: Returned when a conversation item is retrieved with `conversation.item.retrieve`."""

    event_id: str
    item: ConversationItem


class ConversationItemTruncated(ServerEvent, tag='conversation.item.truncated'):
    """``conversation.item.truncated``: Returned when an earlier assistant audio message item is truncated by the client with a `conversation.item.truncate` event."""

    audio_end_ms: int
    content_index: int
    event_id: str
    item_id: str


class Error(ServerEvent, tag='error'):
    """``error``: Returned when an error occurs, which could be a client problem or a server problem."""

    error: ErrorInfo
    event_id: str


class InputAudioBufferCleared(ServerEvent, tag='input_audio_buffer.cleared'):
    """``input_audio_buffer.cleared``: Returned when the input audio buffer is cleared by the client with a `input_audio_buffer.clear` event."""

    event_id: str


class InputAudioBufferCommitted(ServerEvent, tag='input_audio_buffer.committed'):
    """``input_audio_buffer.committed``: Returned when an input audio buffer is committed, either by the client or automatically in server VAD mode."""

    event_id: str
    item_id: str
    previous_item_id: str | None | UnsetType = UNSET


class InputAudioBufferDtmfEventReceived(ServerEvent, tag='input_audio_buffer.dtmf_event_received'):
    """``input_audio_buffer.dtmf_event_received``: **SIP Only:** Returned when an DTMF event is received."""

    event: str
    received_at: int


class InputAudioBufferSpeechStarted(ServerEvent, tag='input_audio_buffer.speech_started'):
    """``input_audio_buffer.speech_started``: Sent by the server when in `server_vad` mode to indicate that speech has been detected in the audio buffer."""

    audio_start_ms: int
    event_id: str
    item_id: str


class InputAudioBufferSpeechStopped(ServerEvent, tag='input_audio_buffer.speech_stopped'):
    """``input_audio_buffer.speech_stopped``: Returned in `server_vad` mode when the server detects the end of speech in the audio buffer."""

    audio_end_ms: int
    event_id: str
    item_id: str


class InputAudioBufferTimeoutTriggered(ServerEvent, tag='input_audio_buffer.timeout_triggered'):
    """``input_audio_buffer.timeout_triggered``: Returned when the Server VAD timeout is triggered for the input audio buffer."""

    audio_end_ms: int
    audio_start_ms: int
    event_id: str
    item_id: str


class McpListToolsCompleted(ServerEvent, tag='mcp_list_tools.completed'):
    """``mcp_list_tools.completed``: Returned when listing MCP tools has completed for an item."""

    event_id: str
    item_id: str


class McpListToolsFailed(ServerEvent, tag='mcp_list_tools.failed'):
    """``mcp_list_tools.failed``: Returned when listing MCP tools has failed for an item."""

    event_id: str
    item_id: str


class McpListToolsInProgress(ServerEvent, tag='mcp_list_tools.in_progress'):
    """``mcp_list_tools.in_progress``: Returned when listing MCP tools is in progress for an item."""

    event_id: str
    item_id: str


class OutputAudioBufferCleared(ServerEvent, tag='output_audio_buffer.cleared'):
    """``output_audio_buffer.cleared``: **WebRTC/SIP Only:** Emitted when the output audio buffer is cleared."""

    event_id: str
    response_id: str


class OutputAudioBufferStarted(ServerEvent, tag='output_audio_buffer.started'):
    """``output_audio_buffer.started``: **WebRTC/SIP Only:** Emitted when the server begins streaming audio to the client."""

    event_id: str
    response_id: str


class OutputAudioBufferStopped(ServerEvent, tag='output_audio_buffer.stopped'):
    """``output_audio_buffer.stopped``: **WebRTC/SIP Only:** Emitted when the output audio buffer has been completely drained on the server, and no more audio is forthcoming."""

    event_id: str
    response_id: str


class RateLimitsUpdated(ServerEvent, tag='rate_limits.updated'):
    """``rate_limits.updated``: Emitted at the beginning of a Response to indicate the updated rate limits."""

    event_id: str
    rate_limits: list[RateLimit]


class ResponseContentPartAdded(ServerEvent, tag='response.content_part.added'):
    """``response.content_part.added``: Returned when a new content part is added to an assistant message item during response generation."""

    content_index: int
    event_id: str
    item_id: str
    output_index: int
    part: ResponseContentPart
    response_id: str


class ResponseContentPartDone(ServerEvent, tag='response.content_part.done'):
    """``response.content_part.done``: Returned when a content part is done streaming in an assistant message item."""

    content_index: int
    event_id: str
    item_id: str
    output_index: int
    part: ResponseContentPart
    response_id: str


class ResponseCreated(ServerEvent, tag='response.created'):
    """``response.created``: Returned when a new Response is created."""

    event_id: str
    response: Response


class ResponseDone(ServerEvent, tag='response.done'):
    """``response.done``: Returned when a Response is done streaming."""

    event_id: str
    response: Response


class ResponseFunctionCallArgumentsDelta(ServerEvent, tag='response.function_call_arguments.delta'):
    """``response.function_call_arguments.delta``: Returned when the model-generated function call arguments are updated."""

    call_id: str
    delta: str
    event_id: str
    item_id: str
    output_index: int
    response_id: str
    obfuscation: str | None | UnsetType = UNSET


class ResponseFunctionCallArgumentsDone(ServerEvent, tag='response.function_call_arguments.done'):
    """``response.function_call_arguments.done``: Returned when the model-generated function call arguments are done streaming."""

    arguments: str
    call_id: str
    event_id: str
    item_id: str
    name: str
    output_index: int
    response_id: str


class ResponseMcpCallCompleted(ServerEvent, tag='response.mcp_call.completed'):
    """``response.mcp_call.completed``: Returned when an MCP tool call has completed successfully."""

    event_id: str
    item_id: str
    output_index: int


class ResponseMcpCallFailed(ServerEvent, tag='response.mcp_call.failed'):
    """``response.mcp_call.failed``: Returned when an MCP tool call has failed."""

    event_id: str
    item_id: str
    output_index: int


class ResponseMcpCallInProgress(ServerEvent, tag='response.mcp_call.in_progress'):
    """``response.mcp_call.in_progress``: Returned when an MCP tool call has started and is in progress."""

    event_id: str
    item_id: str
    output_index: int


class ResponseMcpCallArgumentsDelta(ServerEvent, tag='response.mcp_call_arguments.delta'):
    """``response.mcp_call_arguments.delta``: Returned when MCP tool call arguments are updated during response generation."""

    delta: str
    event_id: str
    item_id: str
    output_index: int
    response_id: str
    obfuscation: str | None | UnsetType = UNSET


class ResponseMcpCallArgumentsDone(ServerEvent, tag='response.mcp_call_arguments.done'):
    """``response.mcp_call_arguments.done``: Returned when MCP tool call arguments are finalized during response generation."""

    arguments: str
    event_id: str
    item_id: str
    output_index: int
    response_id: str


class ResponseOutputAudioDelta(ServerEvent, tag='response.output_audio.delta'):
    """``response.output_audio.delta``: Returned when the model-generated audio is updated."""

    content_index: int
    delta: str
    event_id: str
    item_id: str
    output_index: int
    response_id: str
    obfuscation: str | None | UnsetType = UNSET


class ResponseOutputAudioDone(ServerEvent, tag='response.output_audio.done'):
    """``response.output_audio.done``: Returned when the model-generated audio is done."""

    content_index: int
    event_id: str
    item_id: str
    output_index: int
    response_id: str


class ResponseOutputAudioTranscriptDelta(ServerEvent, tag='response.output_audio_transcript.delta'):
    """``response.output_audio_transcript.delta``: Returned when the model-generated transcription of audio output is updated."""

    content_index: int
    delta: str
    event_id: str
    item_id: str
    output_index: int
    response_id: str
    obfuscation: str | None | UnsetType = UNSET


class ResponseOutputAudioTranscriptDone(ServerEvent, tag='response.output_audio_transcript.done'):
    """``response.output_audio_transcript.done``: Returned when the model-generated transcription of audio output is done streaming."""

    content_index: int
    event_id: str
    item_id: str
    output_index: int
    response_id: str
    transcript: str


class ResponseOutputItemAdded(ServerEvent, tag='response.output_item.added'):
    """``response.output_item.added``: Returned when a new Item is created during Response generation."""

    event_id: str
    item: ConversationItem
    output_index: int
    response_id: str


class ResponseOutputItemDone(ServerEvent, tag='response.output_item.done'):
    """``response.output_item.done``: Returned when an Item is done streaming."""

    event_id: str
    item: ConversationItem
    output_index: int
    response_id: str


class ResponseOutputTextDelta(ServerEvent, tag='response.output_text.delta'):
    """``response.output_text.delta``: Returned when the text value of an "output_text" content part is updated."""

    content_index: int
    delta: str
    event_id: str
    item_id: str
    output_index: int
    response_id: str
    obfuscation: str | None | UnsetType = UNSET


class ResponseOutputTextDone(ServerEvent, tag='response.output_text.done'):
    """``response.output_text.done``: Returned when the text value of an "output_text" content part is done streaming."""

    content_index: int
    event_id: str
    item_id: str
    output_index: int
    response_id: str
    text: str


class SessionCreated(ServerEvent, tag='session.created'):
    """``session.created``: Returned when a Session is created."""

    event_id: str
    session: SessionConfig


class SessionUpdated(ServerEvent, tag='session.updated'):
    """``session.updated``: Returned when a session is updated with a `session.update` event, unless there is an error."""

    event_id: str
    session: SessionConfig
