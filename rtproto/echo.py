"""Acoustic echo cancellation: full duplex on laptop speakers.

Theory of operation
-------------------
A microphone next to a loudspeaker hears the assistant's own voice. Three answers:

* ``half-duplex``: the driver mutes the microphone while the assistant speaks (the user
  cannot interrupt on speakers);
* ``off``: no guard at all (headphones: nothing leaks back);
* ``aec``: an echo canceller removes what the speaker played from what the microphone
  captured, so the microphone stays open and the server's VAD hears the user over the
  assistant (barge-in works on speakers).

:class:`EchoCanceller` is the ``aec`` component, with a small API anyone can test with
their own recordings: ``process(mic, speaker) -> cleaned``, called frame by frame in
lockstep, ``mic`` being what the microphone captured during a frame and ``speaker`` what
the loudspeaker played during that same frame. It wraps WebRTC's audio processing module
(AEC3, high-pass filter, noise suppression) as the optional ``livekit`` package ships it
(``pip install 'rtproto[aec]'``). The echo path's delay (up to about half a second) and
its shape are found by AEC3 itself; :class:`rtproto.duplex.Duplex` removes the device
latencies PortAudio reports before the frames get here, so that what is left is the
acoustic path.

:func:`choose_mode` is the ``--echo auto|aec|half-duplex|off`` decision, a pure function.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

MODES = ("auto", "aec", "half-duplex", "off")
RATES = (16000, 24000, 48000)
FRAME_MS = 10  # the processor's frame: every call handles whole 10 ms frames

AEC_MISSING = "echo cancellation needs the aec extra: pip install 'rtproto[aec]'"


class Canceller(Protocol):
    """What the audio edge feeds: equal-length int16 frames in lockstep, cleaned mic out."""

    rate: int

    def process(self, mic: np.ndarray, speaker: np.ndarray) -> np.ndarray: ...


def aec_available() -> bool:
    """True when the ``aec`` extra (livekit's WebRTC audio processing) can be imported."""
    try:
        _apm_module()
    except ImportError:
        return False
    return True


def choose_mode(requested: str, *, headphones: bool, devices: bool, available: bool) -> tuple[str, str]:
    """The echo mode in use, and why: ``(mode, reason)``.

    ``devices`` says whether a microphone and a speaker are both in play (a WAV file never
    hears the speaker); ``available`` whether the aec extra can be imported. ``auto`` is
    ``aec`` when it is available and no ``--headphones`` was given, else ``half-duplex``
    (``off`` with ``--headphones``, whose microphone has always stayed open).
    Raises ValueError for an unknown mode, an explicit ``aec`` that is not installed, or
    ``--headphones`` with an explicit guard.
    """
    if requested not in MODES:
        raise ValueError(f"--echo must be one of {', '.join(MODES)}, got {requested!r}")
    if headphones and requested in ("aec", "half-duplex"):
        raise ValueError(f"--headphones keeps the microphone open: it cannot go with --echo {requested}")
    if not devices:
        return "off", "no microphone next to a speaker"
    if requested == "aec" and not available:
        raise ValueError(AEC_MISSING)
    if requested != "auto":
        return requested, f"--echo {requested}"
    if headphones:
        return "off", "auto: --headphones"
    if available:
        return "aec", "auto: the aec extra is installed"
    return "half-duplex", f"auto: {AEC_MISSING}"


def describe(mode: str, reason: str) -> str:
    """The one line the screen shows about the echo mode."""
    what = {"aec": "echo cancellation (WebRTC AEC3), the microphone stays open",
            "half-duplex": "the microphone is muted while the assistant speaks",
            "off": "no echo guard, the microphone stays open"}[mode]
    return f"echo: {mode}: {what} ({reason})"


class EchoCanceller:
    """WebRTC's echo canceller (AEC3) for mono int16 audio at ``rate`` (16000, 24000 or 48000).

    ``process(mic, speaker)`` takes equal-length frames of 10 ms or any multiple of it and
    returns the cleaned microphone audio (same length; the processor adds about 10 ms of
    latency, so the first samples are its start-up silence). Call it in lockstep: frame k of
    ``speaker`` is what was played while frame k of ``mic`` was captured. ``noise_suppression``
    and ``high_pass_filter`` are WebRTC's; ``auto_gain_control`` is off by default, as
    the server's VAD is set for speech at its natural level. Raises ImportError naming the
    fix when the aec extra is not installed.
    """

    def __init__(self, rate: int = 24000, *, noise_suppression: bool = True,
                 high_pass_filter: bool = True, auto_gain_control: bool = False):
        if rate not in RATES:
            raise ValueError(f"EchoCanceller rate must be one of {RATES}, got {rate!r}")
        rtc = _apm_module()
        self.rate = rate
        self.frame = rate * FRAME_MS // 1000
        self._rtc = rtc
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=True, noise_suppression=noise_suppression,
            high_pass_filter=high_pass_filter, auto_gain_control=auto_gain_control)

    def process(self, mic: np.ndarray, speaker: np.ndarray) -> np.ndarray:
        """The microphone audio with the speaker's echo removed (int16, ``len(mic)`` samples)."""
        self._check(mic, speaker)
        out = np.empty(len(mic), np.int16)
        for start in range(0, len(mic), self.frame):
            end = start + self.frame
            self._apm.process_reverse_stream(self._frame(speaker[start:end]))
            # The edge hands over the speaker frame of the same instant: what is left is
            # the acoustic path, which AEC3's own estimator finds.
            self._apm.set_stream_delay_ms(0)
            captured = self._frame(mic[start:end])
            self._apm.process_stream(captured)
            out[start:end] = np.frombuffer(captured.data, np.int16)
        return out

    def _frame(self, pcm: np.ndarray) -> Any:
        return self._rtc.AudioFrame(bytearray(pcm), self.rate, 1, self.frame)  # one copy: the frame is written in place

    def _check(self, mic: np.ndarray, speaker: np.ndarray) -> None:
        for name, pcm in (("mic", mic), ("speaker", speaker)):
            if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16 or pcm.ndim != 1:
                raise ValueError(f"EchoCanceller.process: {name} must be a 1-D int16 numpy array")
        if len(mic) != len(speaker) or len(mic) % self.frame:
            raise ValueError(f"EchoCanceller.process: mic and speaker must be equal whole 10 ms frames "
                             f"({self.frame} samples at {self.rate} Hz), got {len(mic)} and {len(speaker)}")


def _apm_module() -> Any:
    # Imported on first use: livekit loads a native library, and it is an optional extra.
    try:
        from livekit import rtc
    except ImportError as exc:
        raise ImportError(AEC_MISSING) from exc
    return rtc
