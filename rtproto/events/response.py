"""The response object, its status and usage, content parts, and ``response.create`` parameters (GA)."""

from __future__ import annotations


from ._base import Model, UNSET, UnsetType
from .config import AudioFormat, Prompt, Reasoning, VoiceId
from .tools import Tool, ToolChoice
from .items import ConversationItem, ResponseInputItem


class ResponseStatusError(Model):
    """A description of the error that caused the response to fail, populated when the `status` is `failed`."""

    code: str | None | UnsetType = UNSET
    message: str | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET


class ResponseStatus(Model):
    """Additional details about the status."""

    error: ResponseStatusError | None | UnsetType = UNSET
    reason: str | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET


class CachedTokensDetails(Model):
    """Details about the cached tokens used as input for the Response."""

    audio_tokens: int | None | UnsetType = UNSET
    image_tokens: int | None | UnsetType = UNSET
    text_tokens: int | None | UnsetType = UNSET


class InputTokenDetails(Model):
    """Details about the input tokens used in the Response."""

    audio_tokens: int | None | UnsetType = UNSET
    cached_tokens: int | None | UnsetType = UNSET
    cached_tokens_details: CachedTokensDetails | None | UnsetType = UNSET
    image_tokens: int | None | UnsetType = UNSET
    text_tokens: int | None | UnsetType = UNSET


class OutputTokenDetails(Model):
    """Details about the output tokens used in the Response."""

    audio_tokens: int | None | UnsetType = UNSET
    text_tokens: int | None | UnsetType = UNSET


class Usage(Model):
    """Usage statistics for the Response, this will correspond to billing."""

    input_token_details: InputTokenDetails | None | UnsetType = UNSET
    input_tokens: int | None | UnsetType = UNSET
    output_token_details: OutputTokenDetails | None | UnsetType = UNSET
    output_tokens: int | None | UnsetType = UNSET
    total_tokens: int | None | UnsetType = UNSET


class ResponseAudioOutput(Model):
    """The output audio settings of a response: format and voice."""

    format: AudioFormat | None | UnsetType = UNSET
    voice: VoiceId | str | None | UnsetType = UNSET


class ResponseAudio(Model):
    """Configuration for audio output."""

    output: ResponseAudioOutput | None | UnsetType = UNSET


class Response(Model):
    """The response resource."""

    id: str | None | UnsetType = UNSET
    audio: ResponseAudio | None | UnsetType = UNSET
    conversation_id: str | None | UnsetType = UNSET
    max_output_tokens: str | int | None | UnsetType = UNSET
    metadata: dict[str, str] | None | UnsetType = UNSET
    object: str | None | UnsetType = UNSET
    output: list[ConversationItem] | None | UnsetType = UNSET
    output_modalities: list[str] | None | UnsetType = UNSET
    status: str | None | UnsetType = UNSET
    status_details: ResponseStatus | None | UnsetType = UNSET
    usage: Usage | None | UnsetType = UNSET


class ResponseContentPart(Model):
    """The content part that was added."""

    audio: str | None | UnsetType = UNSET
    text: str | None | UnsetType = UNSET
    transcript: str | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET


class ResponseCreateParams(Model):
    """Create a new Realtime response with these parameters"""

    audio: ResponseAudio | None | UnsetType = UNSET
    conversation: str | None | UnsetType = UNSET
    input: list[ResponseInputItem] | None | UnsetType = UNSET
    instructions: str | None | UnsetType = UNSET
    max_output_tokens: str | int | None | UnsetType = UNSET
    metadata: dict[str, str] | None | UnsetType = UNSET
    output_modalities: list[str] | None | UnsetType = UNSET
    parallel_tool_calls: bool | None | UnsetType = UNSET
    prompt: Prompt | None | UnsetType = UNSET
    reasoning: Reasoning | None | UnsetType = UNSET
    tool_choice: ToolChoice | None | UnsetType = UNSET
    tools: list[Tool] | None | UnsetType = UNSET
