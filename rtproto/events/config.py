"""Session configuration objects (GA): audio formats and settings, turn detection,
transcription, prompts, tracing, truncation, and the ``session`` object itself."""

from __future__ import annotations

from typing import Any, Literal

from ._base import Model, OneOf, UNSET, UnsetType
from .tools import Tool, ToolChoice


class AudioFormat(OneOf):
    """An audio format object; ``{}`` (no ``type``) reads as PCM."""

    __slots__ = ()
    label = "audio format"


class AudioPCM(Model, AudioFormat):
    """The PCM audio format."""

    rate: int | None | UnsetType = UNSET
    type: Literal['audio/pcm'] | None | UnsetType = UNSET


class AudioPCMU(Model, AudioFormat):
    """The G.711 μ-law format."""

    type: Literal['audio/pcmu'] | None | UnsetType = UNSET


class AudioPCMA(Model, AudioFormat):
    """The G.711 A-law format."""

    type: Literal['audio/pcma'] | None | UnsetType = UNSET


AudioFormat.variants = {
    'audio/pcm': AudioPCM,
    'audio/pcmu': AudioPCMU,
    'audio/pcma': AudioPCMA,
}
AudioFormat.default = AudioPCM


class NoiseReduction(Model):
    """Configuration for input audio noise reduction."""

    strength: float | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET


class AudioTranscription(Model):
    """Input audio transcription settings (``audio.input.transcription``)."""

    delay: str | None | UnsetType = UNSET
    keywords: list[str] | None | UnsetType = UNSET
    language: str | None | UnsetType = UNSET
    languages: list[str] | None | UnsetType = UNSET
    model: str | None | UnsetType = UNSET
    prompt: str | None | UnsetType = UNSET


class TurnDetection(OneOf):
    """``audio.input.turn_detection``: server VAD or semantic VAD."""

    __slots__ = ()
    label = "turn detection"


class ServerVad(Model, TurnDetection):
    """Server-side voice activity detection (VAD) which flips on when user speech is detected and off after a period of silence."""

    type: Literal['server_vad'] = 'server_vad'
    create_response: bool | None | UnsetType = UNSET
    idle_timeout_ms: int | None | UnsetType = UNSET
    interrupt_response: bool | None | UnsetType = UNSET
    prefix_padding_ms: int | None | UnsetType = UNSET
    silence_duration_ms: int | None | UnsetType = UNSET
    threshold: float | None | UnsetType = UNSET


class SemanticVad(Model, TurnDetection):
    """Server-side semantic turn detection which uses a model to determine when the user has finished speaking."""

    type: Literal['semantic_vad'] = 'semantic_vad'
    create_response: bool | None | UnsetType = UNSET
    eagerness: str | None | UnsetType = UNSET
    interrupt_response: bool | None | UnsetType = UNSET


TurnDetection.variants = {
    'server_vad': ServerVad,
    'semantic_vad': SemanticVad,
}


class AudioInput(Model):
    """``audio.input``: format, transcription, noise reduction and turn detection."""

    format: AudioFormat | None | UnsetType = UNSET
    noise_reduction: NoiseReduction | None | UnsetType = UNSET
    transcription: AudioTranscription | None | UnsetType = UNSET
    turn_detection: TurnDetection | None | None | UnsetType = UNSET


class VoiceId(Model):
    """Custom voice reference."""

    id: str


class AudioOutput(Model):
    """``audio.output``: format, voice and speed."""

    format: AudioFormat | None | UnsetType = UNSET
    speed: float | None | UnsetType = UNSET
    voice: VoiceId | str | None | UnsetType = UNSET


class AudioConfig(Model):
    """Configuration for input and output audio."""

    input: AudioInput | None | UnsetType = UNSET
    output: AudioOutput | None | UnsetType = UNSET


class TranscriptionAudioConfig(Model):
    """Configuration for input and output audio."""

    input: AudioInput | None | UnsetType = UNSET


class PromptCacheBreakpoint(Model):
    """Marks the exact end of a reusable prompt prefix."""

    mode: str
    ttl: str | None | UnsetType = UNSET


class PromptVariable(OneOf):
    """A prompt variable value: a plain string or an input text, image or file."""

    __slots__ = ()
    strings = str
    label = "prompt variable"


class PromptInputText(Model, PromptVariable):
    """A text input to the model."""

    text: str
    type: Literal['input_text'] = 'input_text'
    prompt_cache_breakpoint: PromptCacheBreakpoint | None | UnsetType = UNSET


class PromptInputImage(Model, PromptVariable):
    """An image input to the model."""

    detail: str
    type: Literal['input_image'] = 'input_image'
    file_id: str | None | UnsetType = UNSET
    image_url: str | None | UnsetType = UNSET
    prompt_cache_breakpoint: PromptCacheBreakpoint | None | UnsetType = UNSET


class PromptInputFile(Model, PromptVariable):
    """A file input to the model."""

    type: Literal['input_file'] = 'input_file'
    detail: str | None | UnsetType = UNSET
    file_data: str | None | UnsetType = UNSET
    file_id: str | None | UnsetType = UNSET
    file_url: str | None | UnsetType = UNSET
    filename: str | None | UnsetType = UNSET
    prompt_cache_breakpoint: PromptCacheBreakpoint | None | UnsetType = UNSET


PromptVariable.variants = {
    'input_text': PromptInputText,
    'input_image': PromptInputImage,
    'input_file': PromptInputFile,
}


class Prompt(Model):
    """Reference to a prompt template and its variables."""

    id: str
    variables: dict[str, PromptVariable] | None | UnsetType = UNSET
    version: str | None | UnsetType = UNSET


class Reasoning(Model):
    """Configuration for reasoning-capable Realtime models such as `gpt-realtime-2`."""

    effort: str | None | UnsetType = UNSET


class TracingConfig(Model):
    """Granular configuration for tracing."""

    group_id: str | None | UnsetType = UNSET
    metadata: Any | None | UnsetType = UNSET
    workflow_name: str | None | UnsetType = UNSET


class TokenLimits(Model):
    """Optional custom token limits for this truncation strategy."""

    post_instructions: int | None | UnsetType = UNSET


class RetentionRatioTruncation(Model):
    """Retain a fraction of the conversation tokens when the conversation exceeds the input token limit."""

    retention_ratio: float
    type: str
    token_limits: TokenLimits | None | UnsetType = UNSET


class SessionConfig(OneOf):
    """The ``session`` object: a realtime or a transcription session."""

    __slots__ = ()
    label = "session"


class RealtimeSession(Model, SessionConfig):
    """Realtime session object configuration."""

    type: Literal['realtime'] = 'realtime'
    # Not in the SDK's request model, but sent by the server in session.created/updated.
    id: str | UnsetType = UNSET
    object: str | UnsetType = UNSET
    expires_at: int | UnsetType = UNSET
    audio: AudioConfig | None | UnsetType = UNSET
    include: list[str] | None | UnsetType = UNSET
    instructions: str | None | UnsetType = UNSET
    max_output_tokens: str | int | None | UnsetType = UNSET
    model: str | None | UnsetType = UNSET
    output_modalities: list[str] | None | UnsetType = UNSET
    parallel_tool_calls: bool | None | UnsetType = UNSET
    prompt: Prompt | None | UnsetType = UNSET
    reasoning: Reasoning | None | UnsetType = UNSET
    tool_choice: ToolChoice | None | UnsetType = UNSET
    tools: list[Tool] | None | UnsetType = UNSET
    tracing: TracingConfig | str | None | UnsetType = UNSET
    truncation: RetentionRatioTruncation | str | None | UnsetType = UNSET


class TranscriptionSession(Model, SessionConfig):
    """Realtime transcription session object configuration."""

    type: Literal['transcription'] = 'transcription'
    # Not in the SDK's request model, but sent by the server in session.created/updated.
    id: str | UnsetType = UNSET
    object: str | UnsetType = UNSET
    expires_at: int | UnsetType = UNSET
    audio: TranscriptionAudioConfig | None | UnsetType = UNSET
    include: list[str] | None | UnsetType = UNSET


SessionConfig.variants = {
    'realtime': RealtimeSession,
    'transcription': TranscriptionSession,
}

UnknownAudioFormat = AudioFormat.unknown
UnknownTurnDetection = TurnDetection.unknown
UnknownPromptVariable = PromptVariable.unknown
UnknownSessionConfig = SessionConfig.unknown  # say a beta-shaped session without `type`