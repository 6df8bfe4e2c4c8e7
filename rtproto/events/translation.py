"""Translation sessions (``/v1/realtime/translations``): 7 server and 3 client events.

Decode them with ``decode_server(data, api="translation")`` /
``decode_client(data, api="translation")``. The client streams audio in; the
server streams the translated audio and transcripts back. ``error`` is the GA
:class:`~rtproto.events.Error` struct.
"""

from __future__ import annotations

from typing import Literal

from ._base import UNSET, Model, UnsetType
from ._event import ClientEvent, ServerEvent
from .server import Error

__all__ = [
    "CLIENT_EVENTS",
    "SERVER_EVENTS",
    "Error",
    "InputTranscription",
    "NoiseReduction",
    "Session",
    "SessionAudio",
    "SessionAudioInput",
    "SessionAudioOutput",
    "SessionClose",
    "SessionClosed",
    "SessionCreated",
    "SessionInputAudioBufferAppend",
    "SessionInputTranscriptDelta",
    "SessionOutputAudioDelta",
    "SessionOutputTranscriptDelta",
    "SessionUpdate",
    "SessionUpdateRequest",
    "SessionUpdated",
]


class NoiseReduction(Model):
    """``audio.input.noise_reduction``: ``near_field`` or ``far_field``, with an optional strength."""

    type: str
    strength: float | None | UnsetType = UNSET


class InputTranscription(Model):
    """``audio.input.transcription``: transcribe the source speech with ``model``."""

    model: str


class SessionAudioInput(Model):
    """``audio.input``: noise reduction and source transcription."""

    noise_reduction: NoiseReduction | None | UnsetType = UNSET
    transcription: InputTranscription | None | UnsetType = UNSET


class SessionAudioOutput(Model):
    """``audio.output``: the target ``language``."""

    language: str | None | UnsetType = UNSET


class SessionAudio(Model):
    """``audio``: input and output settings."""

    input: SessionAudioInput | None | UnsetType = UNSET
    output: SessionAudioOutput | None | UnsetType = UNSET


class Session(Model):
    """The translation session the server reports."""

    id: str
    audio: SessionAudio
    expires_at: int
    model: str
    type: Literal["translation"]


class SessionUpdateRequest(Model):
    """``session.update`` -> ``session``: the settings to change."""

    audio: SessionAudio | None | UnsetType = UNSET


# ---------------------------------------------------------------------------
# Server events


class SessionCreated(ServerEvent, tag="session.created"):
    """``session.created``: the first event of a translation connection."""

    event_id: str
    session: Session


class SessionUpdated(ServerEvent, tag="session.updated"):
    """``session.updated``: the reply to ``session.update``."""

    event_id: str
    session: Session


class SessionClosed(ServerEvent, tag="session.closed"):
    """``session.closed``: the server flushed its output after ``session.close``."""

    event_id: str


class SessionInputTranscriptDelta(ServerEvent, tag="session.input_transcript.delta"):
    """``session.input_transcript.delta``: source-language transcript text (append as is)."""

    delta: str
    event_id: str
    elapsed_ms: int | None | UnsetType = UNSET


class SessionOutputTranscriptDelta(ServerEvent, tag="session.output_transcript.delta"):
    """``session.output_transcript.delta``: translated transcript text (append as is)."""

    delta: str
    event_id: str
    elapsed_ms: int | None | UnsetType = UNSET


class SessionOutputAudioDelta(ServerEvent, tag="session.output_audio.delta"):
    """``session.output_audio.delta``: a chunk of base64 translated audio."""

    delta: str
    event_id: str
    channels: int | None | UnsetType = UNSET
    elapsed_ms: int | None | UnsetType = UNSET
    format: str | None | UnsetType = UNSET
    sample_rate: int | None | UnsetType = UNSET


# ---------------------------------------------------------------------------
# Client events


class SessionUpdate(ClientEvent, tag="session.update"):
    """``session.update``: change the translation settings."""

    session: SessionUpdateRequest
    event_id: str | None | UnsetType = UNSET


class SessionInputAudioBufferAppend(ClientEvent, tag="session.input_audio_buffer.append"):
    """``session.input_audio_buffer.append``: send base64 source audio."""

    audio: str
    event_id: str | None | UnsetType = UNSET


class SessionClose(ClientEvent, tag="session.close"):
    """``session.close``: finish; the server flushes what remains and closes."""

    event_id: str | None | UnsetType = UNSET


SERVER_EVENTS: list[type[ServerEvent]] = [
    Error,
    SessionClosed,
    SessionCreated,
    SessionInputTranscriptDelta,
    SessionOutputAudioDelta,
    SessionOutputTranscriptDelta,
    SessionUpdated,
]
"""Every translation server event class (7)."""

CLIENT_EVENTS: list[type[ClientEvent]] = [SessionClose, SessionInputAudioBufferAppend, SessionUpdate]
"""Every translation client event class (3)."""
