"""The beta protocol's events (``OpenAI-Beta: realtime=v1``): 34 server and 12 client events.

Decode them with ``decode_server(data, api="beta")`` / ``decode_client(data, api="beta")``.
Struct names follow the beta wire names (``response.audio.delta`` is
:class:`ResponseAudioDelta`); the module keeps them apart from GA names.

An event whose fields and nested objects are exactly the GA ones (``error``,
``input_audio_buffer.speech_started``, ``response.cancel``...) *is* the GA
struct: the same class sits in both decoders under the same ``type``, so code
that handles it works for either API. :data:`SERVER_EVENTS` and
:data:`CLIENT_EVENTS` list every class of the beta event sets.
"""

from __future__ import annotations

from ._base import UNSET, UnsetType
from ._beta_objects import *  # noqa: F403
from ._beta_objects import ConversationItem, Response, ResponseCreateParams, Session, TranscriptionSession
from ._event import ClientEvent, ServerEvent
from .client import (
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    ResponseCancel,
)
from .server import (
    ConversationCreated,
    ConversationItemDeleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemTruncated,
    Error,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    LogProb,
    OutputAudioBufferCleared,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    RateLimitsUpdated,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseFunctionCallArgumentsDelta,
    TranscriptionUsage,
)

# ---------------------------------------------------------------------------
# Server events that differ from GA


class ConversationItemCreated(ServerEvent, tag="conversation.item.created"):
    """``conversation.item.created``: an item was added to the conversation."""

    event_id: str
    item: ConversationItem
    previous_item_id: str | None | UnsetType = UNSET


class ConversationItemRetrieved(ServerEvent, tag="conversation.item.retrieved"):
    """``conversation.item.retrieved``: the reply to ``conversation.item.retrieve``."""

    event_id: str
    item: ConversationItem


class ConversationItemInputAudioTranscriptionCompleted(
    ServerEvent, tag="conversation.item.input_audio_transcription.completed"
):
    """``conversation.item.input_audio_transcription.completed``: the transcript of user audio."""

    content_index: int
    event_id: str
    item_id: str
    transcript: str
    usage: TranscriptionUsage
    logprobs: list[LogProb] | None | UnsetType = UNSET


class _ContentEvent(ServerEvent):
    # The ids every streamed-content event carries.
    content_index: int
    event_id: str
    item_id: str
    output_index: int
    response_id: str


class ResponseAudioDelta(_ContentEvent, tag="response.audio.delta"):
    """``response.audio.delta``: a chunk of base64 model audio."""

    delta: str
    obfuscation: str | None | UnsetType = UNSET  # as on the GA deltas: sent by real servers, not in the SDK


class ResponseAudioDone(_ContentEvent, tag="response.audio.done"):
    """``response.audio.done``: the model audio of a content part is complete."""


class ResponseAudioTranscriptDelta(_ContentEvent, tag="response.audio_transcript.delta"):
    """``response.audio_transcript.delta``: a chunk of the transcript of model audio."""

    delta: str
    obfuscation: str | None | UnsetType = UNSET


class ResponseAudioTranscriptDone(_ContentEvent, tag="response.audio_transcript.done"):
    """``response.audio_transcript.done``: the whole transcript of model audio."""

    transcript: str


class ResponseTextDelta(_ContentEvent, tag="response.text.delta"):
    """``response.text.delta``: a chunk of model text."""

    delta: str
    obfuscation: str | None | UnsetType = UNSET


class ResponseTextDone(_ContentEvent, tag="response.text.done"):
    """``response.text.done``: the whole model text of a content part."""

    text: str


class ResponseCreated(ServerEvent, tag="response.created"):
    """``response.created``: a response started (status ``in_progress``)."""

    event_id: str
    response: Response


class ResponseDone(ServerEvent, tag="response.done"):
    """``response.done``: a response finished, with its final status and usage."""

    event_id: str
    response: Response


class ResponseFunctionCallArgumentsDone(ServerEvent, tag="response.function_call_arguments.done"):
    """``response.function_call_arguments.done``: the complete arguments (no ``name`` in beta)."""

    arguments: str
    call_id: str
    event_id: str
    item_id: str
    output_index: int
    response_id: str


class ResponseOutputItemAdded(ServerEvent, tag="response.output_item.added"):
    """``response.output_item.added``: the response started an output item."""

    event_id: str
    item: ConversationItem
    output_index: int
    response_id: str


class ResponseOutputItemDone(ServerEvent, tag="response.output_item.done"):
    """``response.output_item.done``: an output item is complete."""

    event_id: str
    item: ConversationItem
    output_index: int
    response_id: str


class SessionCreated(ServerEvent, tag="session.created"):
    """``session.created``: the first event of a connection, with the effective session."""

    event_id: str
    session: Session


class SessionUpdated(ServerEvent, tag="session.updated"):
    """``session.updated``: the reply to ``session.update``, with the effective session."""

    event_id: str
    session: Session


class TranscriptionSessionUpdated(ServerEvent, tag="transcription_session.updated"):
    """``transcription_session.updated``: the reply to ``transcription_session.update``."""

    event_id: str
    session: TranscriptionSession


# ---------------------------------------------------------------------------
# Client events that differ from GA


class ConversationItemCreate(ClientEvent, tag="conversation.item.create"):
    """``conversation.item.create``: add an item to the conversation."""

    item: ConversationItem
    event_id: str | None | UnsetType = UNSET
    previous_item_id: str | None | UnsetType = UNSET


class ResponseCreate(ClientEvent, tag="response.create"):
    """``response.create``: start inference, optionally overriding session settings."""

    event_id: str | None | UnsetType = UNSET
    response: ResponseCreateParams | None | UnsetType = UNSET


class SessionUpdate(ClientEvent, tag="session.update"):
    """``session.update``: change the session's configuration."""

    session: Session
    event_id: str | None | UnsetType = UNSET


class TranscriptionSessionUpdate(ClientEvent, tag="transcription_session.update"):
    """``transcription_session.update``: change a transcription session's configuration."""

    session: TranscriptionSession
    event_id: str | None | UnsetType = UNSET


SERVER_EVENTS: list[type[ServerEvent]] = [
    ConversationCreated,
    ConversationItemCreated,
    ConversationItemDeleted,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    Error,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    OutputAudioBufferCleared,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    RateLimitsUpdated,
    ResponseAudioDelta,
    ResponseAudioDone,
    ResponseAudioTranscriptDelta,
    ResponseAudioTranscriptDone,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseTextDelta,
    ResponseTextDone,
    SessionCreated,
    SessionUpdated,
    TranscriptionSessionUpdated,
]
"""Every beta server event class (34)."""

CLIENT_EVENTS: list[type[ClientEvent]] = [
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
    TranscriptionSessionUpdate,
]
"""Every beta client event class (12)."""
