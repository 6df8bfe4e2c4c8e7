"""The full-duplex device edge: one stream playing both roles, each capture paired with what was played.

:class:`Duplex` is a sink (the Speaker's interface) and a source (the Microphone's) on one
full-duplex stream, for :class:`rtproto.echo.EchoCanceller`: its callback plays a block,
captures a block, and pairs the capture with what the speaker played at the same instants
(the device latencies PortAudio reports are taken out by a delay line, :class:`_DelayLine`);
``chunks()`` runs the pairs through the echo canceller on the event loop. Rates, device
lookup and the jitter buffer are :mod:`rtproto.audio`'s; ``sounddevice`` is imported only
by :meth:`Duplex.open`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import numpy as np

from rtproto import codec
from rtproto.audio import (
    SESSION_RATE,
    ChunkQueue,
    _BufferedSink,
    _device_info,
    _device_rate,
    _Framer,
    _ResampledPull,
    open_sounddevice,
)
from rtproto.errors import AudioDeviceError


class _DelayLine:
    """Holds the speaker's samples back by ``lag``: what the microphone hears at each instant.

    In a duplex callback the block just written plays ``lag`` samples after the block just
    captured was heard (the output plus the input latency), so output sample n pairs with
    input sample n + lag. Every sample goes in once and comes out once, ``lag`` later;
    nothing played before the stream started is silence.
    """

    def __init__(self, lag: int):
        if lag < 0:
            raise ValueError(f"_DelayLine lag must be >= 0 samples, got {lag}")
        self.lag = lag
        self._held = np.zeros(lag, np.int16)

    def push(self, played: np.ndarray) -> np.ndarray:
        """Take the block just played; return as many samples, from ``lag`` samples earlier."""
        data = np.concatenate((self._held, played))
        self._held = data[len(played):]
        return data[:len(played)]


class _EchoFramer:
    """Device-rate (mic, reference) blocks in lockstep -> cleaned session-rate chunks.

    Both streams go through their own resampler of the same ratio (equal lengths in, equal
    lengths out, the same filter delay), then through the canceller in whole 10 ms frames;
    the remainder waits for the next block, so no sample is lost or repeated.
    """

    def __init__(self, canceller: Any, block: int, device_rate: int, rate: int):
        if canceller.rate != rate:
            raise ValueError(f"the echo canceller runs at {canceller.rate} Hz, the session at {rate} Hz")
        self._canceller = canceller
        self._frame = codec.ms_to_samples(10, rate)
        resampled = device_rate != rate
        self._mic = codec.Resampler(device_rate, rate) if resampled else None
        self._ref = codec.Resampler(device_rate, rate) if resampled else None
        self._pending = (np.zeros(0, np.int16), np.zeros(0, np.int16))
        self._chunks = _Framer(block, rate, rate)

    def push(self, mic: np.ndarray, reference: np.ndarray) -> list[np.ndarray]:
        if self._mic is not None:
            mic, reference = self._mic.process(mic), self._ref.process(reference)
        mic = np.concatenate((self._pending[0], mic))
        reference = np.concatenate((self._pending[1], reference))
        whole = len(mic) - len(mic) % self._frame
        self._pending = (mic[whole:], reference[whole:])
        if not whole:
            return []
        return self._chunks.push(self._canceller.process(mic[:whole], reference[:whole]))


class Duplex(_BufferedSink):
    """Speaker and microphone on one full-duplex stream, with echo cancellation between them.

    The sink interface is the Speaker's; the source interface (``chunks()``, ``muted``,
    ``dropped``) the Microphone's, yielding what the canceller (``rtproto.echo.Canceller``,
    e.g. ``EchoCanceller(rate)``) made of each captured block and of what the speaker played
    at the same instants. The callback only plays, pairs and queues; resampling and
    cancelling run on the event loop. When the consumer falls behind the OLDEST pair is
    dropped (mic and reference together, so they stay in step) and counted in ``dropped``.

    ``Duplex(canceller)`` has no device: whatever calls ``callback`` is the device (tests,
    benchmarks). ``Duplex.open(canceller, ...)`` opens the sounddevice stream and starts it.
    """

    def __init__(self, canceller: Any, rate: int = SESSION_RATE, block_ms: int = 20,
                 prebuffer_ms: float = 60, queue_chunks: int = 50, device_rate: int | None = None,
                 lag: int = 0):
        super().__init__(rate, block_ms, prebuffer_ms)
        self.device_rate = device_rate or rate
        self.muted = False
        self._canceller = canceller
        self._queue = ChunkQueue(queue_chunks)
        self._delay = _DelayLine(lag)
        self._stream: Any = None
        self._pull_into = self._buffer.pull_into
        if self.device_rate != rate:
            self._pull_into = _ResampledPull(self._buffer, self.block, rate, self.device_rate).pull_into

    @classmethod
    def open(cls, canceller: Any, input_device: int | str | None = None,
             output_device: int | str | None = None, rate: int = SESSION_RATE, block_ms: int = 20,
             prebuffer_ms: float = 60, queue_chunks: int = 50, device_rate: int | None = None) -> Duplex:
        """Open the devices as one duplex stream (at ``rate`` when the speaker takes it) and start it."""
        sd = open_sounddevice()
        devices = (_device_info(sd, input_device, "input"), _device_info(sd, output_device, "output"))
        device_rate = _device_rate(sd, devices[1], "output", rate, device_rate)
        duplex = cls(canceller, rate, block_ms, prebuffer_ms, queue_chunks, device_rate)
        duplex._stream = _open_duplex(sd, devices, device_rate, block_ms, duplex.callback)
        # PortAudio's input and output latencies: the whole delay between a sample written
        # by the callback and its echo arriving in a later callback's capture.
        duplex._delay = _DelayLine(round(sum(duplex._stream.latency) * device_rate))
        try:
            duplex._stream.start()
        except sd.PortAudioError as exc:
            duplex._stream.close()
            raise AudioDeviceError(f"cannot start the duplex stream: {exc}; use --echo half-duplex") from exc
        return duplex

    @property
    def lag(self) -> int:
        """Device-rate samples between a block played and the capture its echo lands in."""
        return self._delay.lag

    @property
    def lag_ms(self) -> float:
        """``lag`` in milliseconds."""
        return codec.samples_to_ms(self._delay.lag, self.device_rate)

    @property
    def latency(self) -> float:
        """The device's output latency in seconds (0 without a device)."""
        return float(self._stream.latency[1]) if self._stream is not None else 0.0

    @property
    def dropped(self) -> int:
        """Captured blocks dropped (with their reference) because the consumer fell behind."""
        return self._queue.dropped

    def callback(self, indata: np.ndarray, outdata: np.ndarray, frames: int, time_info: Any,
                 status: Any) -> None:
        """The device's duplex callback: play a block, pair the captured block, queue the pair."""
        self._pull_into(outdata[:, 0])
        self._queue.put((indata[:, 0].copy(), self._delay.push(outdata[:, 0])))

    async def chunks(self) -> AsyncIterator[np.ndarray]:
        """Yield echo-cancelled chunks (silence while ``muted``) until ``close()``."""
        framer = _EchoFramer(self._canceller, self.block, self.device_rate, self.rate)
        try:
            while (pair := await self._queue.get()) is not None:
                for chunk in framer.push(*pair):
                    yield np.zeros_like(chunk) if self.muted else chunk
        finally:
            self.close()

    def _check_alive(self) -> None:
        if self._stream is not None and not self._stream.active:
            raise AudioDeviceError("the duplex stream stopped before the queued audio was played")

    def close(self) -> None:
        """Drop unplayed audio, end ``chunks()``, release the devices (idempotent)."""
        self._buffer.clear()
        self._queue.close()
        if self._stream is not None and not self._stream.closed:
            self._stream.stop()
            self._stream.close()


def _open_duplex(sd: ModuleType, devices: tuple[dict, dict], rate: int, block_ms: int,
                 callback: Callable) -> Any:
    try:
        return sd.Stream(device=(devices[0]["index"], devices[1]["index"]), samplerate=rate, channels=1,
                         dtype="int16", blocksize=codec.ms_to_samples(block_ms, rate), callback=callback)
    except (ValueError, sd.PortAudioError) as exc:
        raise AudioDeviceError(
            f"cannot open {devices[0]['name']!r} and {devices[1]['name']!r} as one duplex stream at "
            f"{rate} Hz: {exc}; use --echo half-duplex"
        ) from exc
