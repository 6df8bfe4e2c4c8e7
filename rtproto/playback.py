"""What a part of assistant audio is worth: its size in milliseconds, and whether it can be played.

Pure arithmetic on the wire's audio format objects (no decoding): the session core
counts received audio with it, so that barge-in truncation names what was heard.
"""

from __future__ import annotations

from typing import Any

from rtproto.codec import SAMPLE_RATES
from rtproto.events import UNSET, AudioPCMA, AudioPCMU, value_at

__all__ = ["audio_bytes", "bytes_per_ms", "describe_format", "playable"]


def audio_bytes(b64: str) -> int:
    """The decoded size of base64 text, from its length and padding (nothing is decoded)."""
    padding = 2 if b64.endswith("==") else 1 if b64.endswith("=") else 0
    return len(b64) * 3 // 4 - padding


def bytes_per_ms(audio_format: Any) -> float:
    """Bytes per millisecond of ``audio_format``: PCM16 at its rate (24 kHz if unset), G.711 at 8 kHz."""
    if isinstance(audio_format, (AudioPCMU, AudioPCMA)):
        return 8.0
    rate = getattr(audio_format, "rate", None)
    return (rate if isinstance(rate, int) and rate > 0 else 24000) * 2 / 1000


def playable(audio_format: Any) -> bool:
    """True for G.711, and for PCM16 at a rate the codec plays (:data:`rtproto.codec.SAMPLE_RATES`) or unset."""
    if isinstance(audio_format, (AudioPCMU, AudioPCMA)):
        return True
    rate = getattr(audio_format, "rate", UNSET)
    return getattr(audio_format, "type", None) == "audio/pcm" and (
        rate in (UNSET, None) or (type(rate) is int and rate in SAMPLE_RATES))


def describe_format(audio_format: Any) -> str:
    """``audio/pcm at 0 Hz``: a format as a message names it."""
    rate = value_at(audio_format, "rate")
    return f"{value_at(audio_format, 'type')}" + (f" at {rate!r} Hz" if rate is not None else "")
