"""Nested objects of the beta protocol (``OpenAI-Beta: realtime=v1``).

Beta shapes are flat where GA nests: one ``ConversationItem`` class for every
item kind, one content-part class, a session with string audio formats and
top-level ``turn_detection`` / ``voice``. Objects whose fields are the same as
in GA are the GA structs themselves (see the imports).
"""

from __future__ import annotations

from ._base import UNSET, Model, UnsetType
from .config import TracingConfig
from .response import OutputTokenDetails, ResponseStatus
from .tools import FunctionTool

__all__ = [
    "ClientSecret",
    "ClientSecretExpiresAfter",
    "ClientSecretExpiresAt",
    "ConversationItem",
    "ConversationItemContent",
    "FunctionTool",
    "InputAudioNoiseReduction",
    "InputAudioTranscription",
    "InputTokenDetails",
    "OutputTokenDetails",
    "Response",
    "ResponseCreateParams",
    "ResponseStatus",
    "Session",
    "TracingConfig",
    "TranscriptionSession",
    "TurnDetection",
    "Usage",
]


class ConversationItemContent(Model):
    """A content part: ``input_text``, ``input_audio``, ``text``, ``audio`` or ``item_reference`` (with ``id``)."""

    id: str | None | UnsetType = UNSET
    audio: str | None | UnsetType = UNSET
    text: str | None | UnsetType = UNSET
    transcript: str | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET


class ConversationItem(Model):
    """A beta conversation item: ``message``, ``function_call``, ``function_call_output``
    (or ``item_reference`` in ``response.create`` -> ``response.input``); every field is optional."""

    id: str | None | UnsetType = UNSET
    arguments: str | None | UnsetType = UNSET
    call_id: str | None | UnsetType = UNSET
    content: list[ConversationItemContent] | None | UnsetType = UNSET
    name: str | None | UnsetType = UNSET
    object: str | None | UnsetType = UNSET
    output: str | None | UnsetType = UNSET
    role: str | None | UnsetType = UNSET
    status: str | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET


class InputAudioNoiseReduction(Model):
    """``input_audio_noise_reduction``: ``near_field`` or ``far_field``."""

    type: str | None | UnsetType = UNSET


class InputAudioTranscription(Model):
    """``input_audio_transcription``: model, language and prompt."""

    language: str | None | UnsetType = UNSET
    model: str | None | UnsetType = UNSET
    prompt: str | None | UnsetType = UNSET


class TurnDetection(Model):
    """``turn_detection``: one flat object for ``server_vad`` and ``semantic_vad`` (``type`` optional)."""

    create_response: bool | None | UnsetType = UNSET
    eagerness: str | None | UnsetType = UNSET
    interrupt_response: bool | None | UnsetType = UNSET
    prefix_padding_ms: int | None | UnsetType = UNSET
    silence_duration_ms: int | None | UnsetType = UNSET
    threshold: float | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET


class ClientSecretExpiresAfter(Model):
    """When the ephemeral key expires, counted from ``anchor``."""

    anchor: str
    seconds: int | None | UnsetType = UNSET


class ClientSecretExpiresAt(Model):
    """When the ephemeral key expires (``transcription_session.update`` form)."""

    anchor: str | None | UnsetType = UNSET
    seconds: int | None | UnsetType = UNSET


class ClientSecret(Model):
    """``client_secret``: expiry settings in an update, ``{value, expires_at}`` in a server session."""

    expires_after: ClientSecretExpiresAfter | None | UnsetType = UNSET
    expires_at: int | ClientSecretExpiresAt | None | UnsetType = UNSET
    value: str | None | UnsetType = UNSET


class Session(Model):
    """The beta ``session`` object (``session.update`` / ``session.created`` / ``session.updated``)."""

    id: str | None | UnsetType = UNSET
    # Not in the SDK's model, but sent by the server in session.created/updated.
    object: str | None | UnsetType = UNSET
    expires_at: int | None | UnsetType = UNSET
    include: list[str] | None | UnsetType = UNSET
    # Only in session.update (SDK); kept lenient so server frames carrying it decode too.
    client_secret: ClientSecret | None | UnsetType = UNSET
    input_audio_format: str | None | UnsetType = UNSET
    input_audio_noise_reduction: InputAudioNoiseReduction | None | UnsetType = UNSET
    input_audio_transcription: InputAudioTranscription | None | UnsetType = UNSET
    instructions: str | None | UnsetType = UNSET
    max_response_output_tokens: int | str | None | UnsetType = UNSET
    modalities: list[str] | None | UnsetType = UNSET
    model: str | None | UnsetType = UNSET
    output_audio_format: str | None | UnsetType = UNSET
    speed: float | None | UnsetType = UNSET
    temperature: float | None | UnsetType = UNSET
    tool_choice: str | None | UnsetType = UNSET
    tools: list[FunctionTool] | None | UnsetType = UNSET
    tracing: TracingConfig | str | None | UnsetType = UNSET
    turn_detection: TurnDetection | None | UnsetType = UNSET
    voice: str | None | UnsetType = UNSET


class TranscriptionSession(Model):
    """The beta transcription session (``transcription_session.update`` / ``.updated``).

    The SDK requires ``client_secret`` (``{value, expires_at}``) in ``.updated``;
    it is optional here so that both events share the struct.
    """

    client_secret: ClientSecret | None | UnsetType = UNSET
    include: list[str] | None | UnsetType = UNSET
    input_audio_format: str | None | UnsetType = UNSET
    input_audio_noise_reduction: InputAudioNoiseReduction | None | UnsetType = UNSET
    input_audio_transcription: InputAudioTranscription | None | UnsetType = UNSET
    modalities: list[str] | None | UnsetType = UNSET
    turn_detection: TurnDetection | None | UnsetType = UNSET


class InputTokenDetails(Model):
    """Details about the input tokens used in the Response."""

    audio_tokens: int | None | UnsetType = UNSET
    cached_tokens: int | None | UnsetType = UNSET
    text_tokens: int | None | UnsetType = UNSET


class Usage(Model):
    """Usage statistics for the Response."""

    input_token_details: InputTokenDetails | None | UnsetType = UNSET
    input_tokens: int | None | UnsetType = UNSET
    output_token_details: OutputTokenDetails | None | UnsetType = UNSET
    output_tokens: int | None | UnsetType = UNSET
    total_tokens: int | None | UnsetType = UNSET


class Response(Model):
    """The beta response resource (``response.created`` / ``response.done``)."""

    id: str | None | UnsetType = UNSET
    conversation_id: str | None | UnsetType = UNSET
    max_output_tokens: int | str | None | UnsetType = UNSET
    metadata: dict[str, str] | None | UnsetType = UNSET
    modalities: list[str] | None | UnsetType = UNSET
    object: str | None | UnsetType = UNSET
    output: list[ConversationItem] | None | UnsetType = UNSET
    output_audio_format: str | None | UnsetType = UNSET
    status: str | None | UnsetType = UNSET
    status_details: ResponseStatus | None | UnsetType = UNSET
    temperature: float | None | UnsetType = UNSET
    usage: Usage | None | UnsetType = UNSET
    voice: str | None | UnsetType = UNSET


class ResponseCreateParams(Model):
    """``response.create`` -> ``response``: per-response overrides of the session."""

    conversation: str | None | UnsetType = UNSET
    input: list[ConversationItem] | None | UnsetType = UNSET
    instructions: str | None | UnsetType = UNSET
    max_response_output_tokens: int | str | None | UnsetType = UNSET
    metadata: dict[str, str] | None | UnsetType = UNSET
    modalities: list[str] | None | UnsetType = UNSET
    output_audio_format: str | None | UnsetType = UNSET
    temperature: float | None | UnsetType = UNSET
    tool_choice: str | None | UnsetType = UNSET
    tools: list[FunctionTool] | None | UnsetType = UNSET
    voice: str | None | UnsetType = UNSET
