"""The audio I/O edge: microphone and speaker, and WAV files that behave like them.

Theory of operation
-------------------
Everything here moves int16 mono PCM at the *session rate* (24 kHz by default, the
rate of the Realtime API's ``audio/pcm`` format). Devices that cannot run at that
rate are resampled at this edge, so the rest of rtproto never sees another rate.

*Sources* (the microphone role) have one async interface::

    async for chunk in source.chunks():   # int16 chunks of block_ms (20 ms = 480 samples)
        ...
    source.muted = True                   # half-duplex echo guard, set by the driver
    source.close()

While ``muted`` a source yields silence (zeros) of the same length instead of what it
captured: the audio timeline keeps running, so the server's VAD hears a quiet room and
nothing spoken by the speaker leaks back as user speech. ``Microphone`` reads a
sounddevice input stream; ``WavSource`` paces a WAV file as if it were spoken.

*Sinks* (the speaker role) share one interface built on ``JitterBuffer``::

    sink.play(item_id, content_index, pcm)   # non-blocking, queues session-rate int16
    sink.clear() -> {(item_id, content_index): samples actually played}   # barge-in
    sink.played_samples(item_id, content_index); sink.is_playing
    await sink.drain(); sink.close()

Who pulls the buffer makes the sink: the PortAudio callback (``Speaker``), a thread on a clock
(``WavSink``), or nobody at all (``NullSink``).

One full-duplex stream playing both roles, for echo cancellation, is
:class:`rtproto.duplex.Duplex`. Playback positions are counted in session-rate samples;
turning them into ``conversation.item.truncate`` is the driver's job, not this module's.

``sounddevice`` is imported only when a device is opened, so ``import rtproto.audio``
(and replay, diff, WAV sources and sinks) works on machines without PortAudio.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from rtproto import codec
from rtproto.errors import AudioDeviceError

SESSION_RATE = 24000

PORTAUDIO_MISSING = (
    "PortAudio was not found: install it (Debian/Ubuntu: apt-get install libportaudio2; "
    "macOS: brew install portaudio) or use --input FILE.wav / --output FILE.wav"
)

Key = tuple[str, int]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]

_FILE_OPTION = {"input": "--input FILE.wav", "output": "--output FILE.wav"}
_ROLE = {"input": "microphone", "output": "speaker"}


# -- sounddevice access ---------------------------------------------------------------


def open_sounddevice() -> ModuleType:
    """Import and return ``sounddevice``, or raise AudioDeviceError naming the fix."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice's "PortAudio library not found"
        raise AudioDeviceError(PORTAUDIO_MISSING) from exc
    except ImportError as exc:
        raise AudioDeviceError(
            "the sounddevice package is not installed: pip install sounddevice, "
            "or use --input FILE.wav / --output FILE.wav"
        ) from exc
    except Exception as exc:  # Pa_Initialize failed while sounddevice was imported
        raise AudioDeviceError(
            f"PortAudio could not start ({exc}); use --input FILE.wav / --output FILE.wav"
        ) from exc
    return sounddevice


def list_devices() -> str:
    """PortAudio's device table, one device a line (``>`` default input, ``<`` default output)."""
    devices = open_sounddevice().query_devices()
    return str(devices) if len(devices) else "no audio devices found"


def _device_info(sd: ModuleType, device: int | str | None, kind: str) -> dict:
    """Resolve ``device`` (None: the default; an index; a name substring) for ``kind``."""
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    try:
        return sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError) as exc:
        if device is None:
            message = (f"no {kind} device: PortAudio has no default {_ROLE[kind]} ({exc}); "
                       f"connect one or use {_FILE_OPTION[kind]}")
        else:
            message = (f"{kind} device {device!r} is not usable: {exc}; "
                       f"pick another (see list_devices()) or use {_FILE_OPTION[kind]}")
        raise AudioDeviceError(message) from exc


def _device_rate(sd: ModuleType, info: dict, kind: str, rate: int, forced: int | None) -> int:
    """``rate`` when the device accepts it, else the device's default rate."""
    if forced:
        return int(forced)
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=info["index"], channels=1, dtype="int16", samplerate=rate)
        return rate
    except (ValueError, sd.PortAudioError):
        return int(info["default_samplerate"])


def _open_stream(sd: ModuleType, kind: str, info: dict, rate: int, block_ms: int,
                 callback: Callable) -> Any:
    stream_class = sd.InputStream if kind == "input" else sd.OutputStream
    try:
        return stream_class(device=info["index"], samplerate=rate, channels=1, dtype="int16",
                            blocksize=codec.ms_to_samples(block_ms, rate), callback=callback)
    except (ValueError, sd.PortAudioError) as exc:
        raise AudioDeviceError(
            f"cannot open {kind} device {info['name']!r} at {rate} Hz: {exc}; "
            f"use {_FILE_OPTION[kind]}"
        ) from exc


# -- sources --------------------------------------------------------------------------


class ChunkQueue:
    """A bounded queue from an audio thread to the event loop; when full it drops the OLDEST.

    ``put`` may be called from any thread: it holds a lock only for a deque append and
    schedules at most one wake-up per waiting ``get``, so even a producer far faster than
    real time (an unclocked device) neither blocks nor floods the event loop. Dropping the
    oldest keeps latency bounded: a conversation wants the newest audio. ``dropped``
    counts the discarded chunks.
    """

    def __init__(self, maxlen: int):
        if maxlen < 1:
            raise ValueError(f"ChunkQueue maxlen must be at least 1, got {maxlen}")
        self.maxlen = maxlen
        self.dropped = 0
        self._items: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any) -> None:
        """Append ``item`` (from any thread), dropping the oldest one when full."""
        with self._lock:
            if self._closed:
                return
            if len(self._items) >= self.maxlen:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            waiter, self._waiter = self._waiter, None
        _wake(waiter)

    def close(self) -> None:
        """Stop accepting items; ``get`` returns None once the queue is empty."""
        with self._lock:
            self._closed = True
            waiter, self._waiter = self._waiter, None
        _wake(waiter)

    async def get(self) -> Any:
        """The oldest item, waiting for one; None once closed and empty."""
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
                if self._closed:
                    return None
                self._waiter = waiter = asyncio.get_running_loop().create_future()
            await waiter


def _wake(waiter: asyncio.Future | None) -> None:
    if waiter is not None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody waits
            waiter.get_loop().call_soon_threadsafe(_resolve, waiter)


def _resolve(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Framer:
    """Turns device blocks into exact session-rate chunks, resampling when the rates differ."""

    def __init__(self, size: int, device_rate: int, rate: int):
        self._size = size
        self._resampler = codec.Resampler(device_rate, rate) if device_rate != rate else None
        self._pending = np.zeros(0, np.int16)

    def push(self, block: np.ndarray) -> list[np.ndarray]:
        if self._resampler is not None:
            block = self._resampler.process(block)
        if not len(self._pending) and len(block) == self._size:
            return [block]
        data = np.concatenate((self._pending, block))
        whole = len(data) - len(data) % self._size
        self._pending = data[whole:]
        return [data[i:i + self._size] for i in range(0, whole, self._size)]


class Microphone:
    """A sounddevice input stream as a source of ``block_ms`` int16 chunks at ``rate``.

    ``device`` is None (the default input), an index, or a substring of a device name.
    The device runs at ``rate`` when it can, else at its default rate (or ``device_rate``
    when given) and ``chunks()`` resamples on the event loop, never in the audio callback.
    The callback only copies each block into a ``ChunkQueue`` of ``queue_chunks`` blocks;
    when the consumer falls behind the OLDEST block is dropped and counted in ``dropped``.
    The stream starts with the first ``chunks()`` iteration and stops when it ends.
    """

    def __init__(self, device: int | str | None = None, rate: int = SESSION_RATE,
                 block_ms: int = 20, queue_chunks: int = 50, device_rate: int | None = None):
        sd = open_sounddevice()
        info = _device_info(sd, device, "input")
        self.rate = rate
        self.device_rate = _device_rate(sd, info, "input", rate, device_rate)
        self.block = codec.ms_to_samples(block_ms, rate)
        self.muted = False
        self._queue = ChunkQueue(queue_chunks)
        self._stream = _open_stream(sd, "input", info, self.device_rate, block_ms, self._callback)

    @property
    def dropped(self) -> int:
        """Device blocks dropped because the consumer fell behind."""
        return self._queue.dropped

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        self._queue.put(indata[:, 0].copy())

    async def chunks(self) -> AsyncIterator[np.ndarray]:
        """Yield captured chunks (silence while ``muted``) until ``close()``."""
        framer = _Framer(self.block, self.device_rate, self.rate)
        self._stream.start()
        try:
            while (block := await self._queue.get()) is not None:
                for chunk in framer.push(block):
                    yield np.zeros_like(chunk) if self.muted else chunk
        finally:
            self.close()

    def close(self) -> None:
        """Stop and release the device (idempotent)."""
        self._queue.close()
        if not self._stream.closed:
            self._stream.close()


class WavSource:
    """A WAV file spoken into the conversation as if by a microphone.

    The file is read (and resampled to ``rate``) up front, so a bad file fails here
    with a ``ValueError`` whose message starts with the path (see ``codec.read_wav``;
    a file with no audio in it is an error too).
    ``chunks()`` yields it in ``block_ms`` chunks, the last one zero-padded. With
    ``realtime`` chunk k is yielded at ``start + (k + 1) * block_ms`` on ``clock``: an
    absolute schedule, so late wake-ups do not accumulate drift, and a consumer that
    stalls gets the overdue chunks at once, as from a microphone's buffer. With
    ``realtime=False`` the file is yielded as fast as the consumer takes it. After the
    file the source yields silence, paced in real time in both modes, until ``close()``.
    ``done`` is set (and ``finished`` becomes True) as the file's last chunk is yielded.
    ``clock`` and ``sleep`` exist so tests can drive time.
    """

    def __init__(self, path: str | Path, rate: int = SESSION_RATE, block_ms: int = 20,
                 realtime: bool = True, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep):
        rate = codec.check_sample_rate(rate, "WavSource rate")
        pcm, file_rate = codec.read_wav(path)
        if not len(pcm):
            raise ValueError(f"{path}: the file holds no audio (0 frames)")
        if file_rate != rate:
            pcm = codec.resample(pcm, file_rate, rate)
        self.rate = rate
        self.block = codec.ms_to_samples(block_ms, rate)
        self._frames = codec.split_frames(pcm, rate, block_ms)
        if self._frames and len(self._frames[-1]) < self.block:
            self._frames[-1] = np.concatenate(
                (self._frames[-1], np.zeros(self.block - len(self._frames[-1]), np.int16)))
        self.muted = False
        self.done = asyncio.Event()
        self._realtime = realtime
        self._clock = clock
        self._sleep = sleep
        self._closed = False

    @property
    def finished(self) -> bool:
        """True once every sample of the file has been yielded."""
        return self.done.is_set()

    async def chunks(self) -> AsyncIterator[np.ndarray]:
        """Yield the file, then silence, in ``block`` chunks until ``close()``."""
        total = len(self._frames)
        origin, first = self._clock(), 0
        for index in itertools.count():
            if index < total and not self._realtime:
                await asyncio.sleep(0)  # unpaced, but let the rest of the loop run
            else:
                if index == total and not self._realtime:
                    origin, first = self._clock(), total
                await self._sleep_until(origin + (index - first + 1) * self.block / self.rate)
            if self._closed:
                return
            if index == total - 1:
                self.done.set()
            if self.muted or index >= total:
                yield np.zeros(self.block, np.int16)
            else:
                yield self._frames[index]

    async def _sleep_until(self, deadline: float) -> None:
        delay = deadline - self._clock()
        await (self._sleep(delay) if delay > 0 else asyncio.sleep(0))

    def close(self) -> None:
        """End ``chunks()`` at its next step."""
        self._closed = True


# -- sinks ----------------------------------------------------------------------------


class JitterBuffer:
    """Audio waiting to be played, with exact per-key accounting of what was played.

    Thread-safe: the event loop pushes and clears while a device thread pulls. Keys are
    ``(item_id, content_index)`` pairs; audio plays in the order it was pushed.

    Prebuffer: playback starts (and restarts after the buffer ran dry) only once
    ``prebuffer_ms`` of audio is buffered, or once buffered audio has waited through
    ``prebuffer_ms`` of pulls, so short answers and final tails are never held back.
    A network hiccup then costs one prebuffer of delay rather than a stutter of clicks.

    Bound: at most ``max_seconds`` of audio is held. Audio pushed beyond it is dropped
    (the newest goes) and counted in ``overflow_samples``; the server sends assistant
    audio only a little faster than real time, so this guards memory and should never
    happen in a conversation.
    """

    def __init__(self, rate: int = SESSION_RATE, prebuffer_ms: float = 60,
                 max_seconds: float = 120):
        self._prebuffer = codec.ms_to_samples(prebuffer_ms, rate)
        self._capacity = int(max_seconds * rate)
        self._segments: collections.deque[list] = collections.deque()  # [key, pcm, offset]
        self._played: dict[Hashable, int] = {}
        self._buffered = 0
        self._primed = False
        self._waited = 0
        self._lock = threading.Lock()
        self.overflow_samples = 0

    @property
    def buffered_samples(self) -> int:
        """Samples pushed and not yet played."""
        return self._buffered

    def push(self, key: Hashable, pcm: np.ndarray) -> None:
        """Queue int16 ``pcm`` for ``key`` behind everything already queued."""
        if not isinstance(pcm, np.ndarray):
            raise ValueError(f"JitterBuffer.push: expected a 1-D int16 numpy array, "
                             f"got {type(pcm).__name__}")
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"JitterBuffer.push: expected a 1-D int16 numpy array, "
                             f"got dtype {pcm.dtype} shape {pcm.shape}")
        with self._lock:
            self._played.setdefault(key, 0)
            room = self._capacity - self._buffered
            if len(pcm) > room:
                self.overflow_samples += len(pcm) - room
                pcm = pcm[:room]
            if len(pcm):
                self._segments.append([key, pcm, 0])
                self._buffered += len(pcm)

    def pull(self, n: int) -> np.ndarray:
        """Exactly ``n`` samples to play now, zero-padded when there is not enough audio."""
        out = np.empty(n, np.int16)
        self.pull_into(out)
        return out

    def pull_into(self, out: np.ndarray) -> int:
        """Fill ``out`` with the next samples; return how many are audio.

        The audio is a prefix of ``out``; the rest is zeroed (underrun or prebuffering).
        """
        with self._lock:
            filled = self._fill(out) if self._ready(len(out)) else 0
        out[filled:] = 0
        return filled

    def clear(self) -> dict[Hashable, int]:
        """Drop everything not yet played; return samples played so far for every key seen."""
        with self._lock:
            self._segments.clear()
            self._buffered = self._waited = 0
            self._primed = False
            return dict(self._played)

    def played(self, key: Hashable) -> int:
        """Samples of ``key`` played so far (0 for an unknown key)."""
        with self._lock:
            return self._played.get(key, 0)

    def _ready(self, n: int) -> bool:
        if self._primed:
            return True
        if not self._buffered:
            return False
        if self._buffered >= self._prebuffer or self._waited >= self._prebuffer:
            self._primed, self._waited = True, 0
            return True
        self._waited += n
        return False

    def _fill(self, out: np.ndarray) -> int:
        filled = 0
        while filled < len(out) and self._segments:
            segment = self._segments[0]
            key, pcm, offset = segment
            take = min(len(out) - filled, len(pcm) - offset)
            out[filled:filled + take] = pcm[offset:offset + take]
            self._played[key] += take
            filled += take
            if offset + take == len(pcm):
                self._segments.popleft()
            else:
                segment[2] = offset + take
        self._buffered -= filled
        self._primed = self._buffered > 0
        return filled


class _BufferedSink:
    """The sink interface over a JitterBuffer; subclasses decide who pulls it, and when."""

    def __init__(self, rate: int, block_ms: int, prebuffer_ms: float,
                 sleep: Sleep = asyncio.sleep):
        self.rate = rate
        self.block = codec.ms_to_samples(block_ms, rate)
        self._buffer = JitterBuffer(rate, prebuffer_ms)
        self._sleep = sleep

    def _advance(self) -> None:
        """Play whatever is due by now (device sinks are pulled by their own thread)."""

    def _check_alive(self) -> None:
        """Raise if playback can no longer progress."""

    def play(self, item_id: str, content_index: int, pcm: np.ndarray) -> None:
        """Queue int16 ``pcm`` (session rate) of one content part; returns at once."""
        self._advance()
        self._buffer.push((item_id, content_index), pcm)
        self._advance()

    def clear(self) -> dict[Key, int]:
        """Barge-in: drop all unplayed audio; return samples played per (item_id, content_index)."""
        self._advance()
        return self._buffer.clear()

    def played_samples(self, item_id: str, content_index: int) -> int:
        """Session-rate samples of this content part played so far."""
        self._advance()
        return self._buffer.played((item_id, content_index))

    @property
    def is_playing(self) -> bool:
        """True while queued audio is still waiting to be played."""
        self._advance()
        return self._buffer.buffered_samples > 0

    async def drain(self) -> None:
        """Wait until everything queued has been played."""
        while self.is_playing:
            self._check_alive()
            await self._sleep(self.block / self.rate)


class Speaker(_BufferedSink):
    """A sounddevice output stream that plays a JitterBuffer.

    The PortAudio callback pulls ``block_ms`` blocks from the buffer. When the device
    cannot run at ``rate`` it runs at its default rate (or ``device_rate``) and the
    callback resamples; playback is still counted in session-rate samples, then ahead of
    the loudspeaker by at most one block. Counts are of samples handed to the device,
    which sounds them after its output latency (``latency`` seconds). The stream runs
    from construction to ``close()``, which drops unplayed audio: ``await drain()`` first
    to hear it all.
    """

    def __init__(self, device: int | str | None = None, rate: int = SESSION_RATE,
                 block_ms: int = 20, prebuffer_ms: float = 60, device_rate: int | None = None):
        super().__init__(rate, block_ms, prebuffer_ms)
        sd = open_sounddevice()
        info = _device_info(sd, device, "output")
        self.device_rate = _device_rate(sd, info, "output", rate, device_rate)
        self._pull_into = self._buffer.pull_into
        if self.device_rate != rate:
            resampled = _ResampledPull(self._buffer, self.block, rate, self.device_rate)
            self._pull_into = resampled.pull_into
        self._stream = _open_stream(sd, "output", info, self.device_rate, block_ms, self._callback)
        self._stream.start()

    @property
    def latency(self) -> float:
        """The device's output latency in seconds."""
        return float(self._stream.latency)

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        self._pull_into(outdata[:, 0])

    def _check_alive(self) -> None:
        if not self._stream.active:
            raise AudioDeviceError("the output stream stopped before the queued audio was played")

    def close(self) -> None:
        """Drop unplayed audio, let the device finish its blocks, release it (idempotent)."""
        self._buffer.clear()
        if not self._stream.closed:
            self._stream.stop()  # unlike close() alone, plays what the device already holds
            self._stream.close()


class _ResampledPull:
    """Fills device-rate blocks from a session-rate JitterBuffer."""

    def __init__(self, buffer: JitterBuffer, block: int, rate: int, device_rate: int):
        self._buffer = buffer
        self._block = block
        self._resampler = codec.Resampler(rate, device_rate)
        self._pending = np.zeros(0, np.int16)

    def pull_into(self, out: np.ndarray) -> None:
        while len(self._pending) < len(out):
            more = self._resampler.process(self._buffer.pull(self._block))
            self._pending = np.concatenate((self._pending, more))
        out[:] = self._pending[:len(out)]
        self._pending = self._pending[len(out):]


class WavSink(_BufferedSink):
    """A speaker that plays into a WAV file (mono int16 at ``rate``).

    With ``realtime`` the buffer is pulled in ``block_ms`` blocks at the pace of ``clock``
    (time starts at construction), as a device would pull it. A writer thread, started by
    the first ``play()``, catches up with the blocks due every ``block_ms``, so the file
    follows the clock whether or not more calls come; every call catches up first too.
    The file holds exactly the audio that was played, back to back: the underrun silence
    between and before answers is not written, so the samples in the file for a content
    part always equal its ``played_samples``. With ``realtime=False`` audio counts as
    played the moment it is queued. Each write goes straight to the operating system and
    is followed by a fresh header, so whenever the process dies (even by SIGKILL) the
    file is a valid WAV holding what was played up to the last block or two.
    ``close()`` plays out what is still queued (``clear()`` first to discard it) and
    finalises the file. A rate outside ``codec.SAMPLE_RATES`` raises ``ValueError``
    starting with the path.
    """

    def __init__(self, path: str | Path, rate: int = SESSION_RATE, block_ms: int = 20,
                 prebuffer_ms: float = 60, realtime: bool = True,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep):
        codec.check_sample_rate(rate, str(path))
        super().__init__(rate, block_ms, prebuffer_ms if realtime else 0, sleep)
        self.path = Path(path)
        self._realtime = realtime
        self._clock = clock
        self._origin = clock()
        self._blocks = 0
        self._bytes = 0
        self._scratch = np.zeros(self.block, np.int16)
        self._lock = threading.Lock()  # the writer thread and the caller both advance
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        self._writer_error: OSError | None = None
        self._stopping = False
        self._file: Any = open(self.path, "wb", buffering=0)  # unbuffered: a kill loses nothing
        self._write(b"")

    def play(self, item_id: str, content_index: int, pcm: np.ndarray) -> None:
        """Queue int16 ``pcm`` (session rate) of one content part; returns at once."""
        super().play(item_id, content_index, pcm)
        if self._realtime and self._writer is None and not self._stopping:
            self._writer = threading.Thread(target=self._write_on_clock, daemon=True,
                                            name=f"rtproto-wav-sink {self.path.name}")
            self._writer.start()
        self._wake.set()

    def _write_on_clock(self) -> None:
        period = self.block / self.rate
        try:
            while True:
                self._wake.clear()  # before looking: a play() or close() from now on wakes us
                if self._stopping:
                    return
                self._advance()
                self._wake.wait(period if self._buffer.buffered_samples else None)
        except OSError as exc:  # disk full, ...: reported by drain()
            self._writer_error = exc

    def _advance(self) -> None:
        with self._lock:
            if self._file is None:
                return
            if not self._realtime:
                self._play_blocks(None)
                return
            due = round((self._clock() - self._origin) * self.rate) // self.block
            self._play_blocks(due - self._blocks)
            self._blocks = due

    def _play_blocks(self, count: int | None) -> None:
        """Pull ``count`` blocks (None: until empty); pulls of an empty buffer change nothing."""
        pieces = []
        for _ in itertools.repeat(None) if count is None else range(count):
            if not self._buffer.buffered_samples:
                break
            played = self._buffer.pull_into(self._scratch)
            pieces.append(self._scratch[:played].astype("<i2").tobytes())
        if pieces:
            self._write(b"".join(pieces))

    def _write(self, data: bytes) -> None:
        """Append ``data`` to the samples, then rewrite the header to count them."""
        _write_at(self._file, 44 + self._bytes, data)
        self._bytes += len(data)
        _write_at(self._file, 0, codec.wav_header(self.rate, self._bytes))

    def _check_alive(self) -> None:
        if self._writer_error is not None:
            raise AudioDeviceError(f"{self.path}: writing failed: {self._writer_error}")

    async def drain(self) -> None:
        """Wait until everything queued has been played (raise if the file cannot be written)."""
        await super().drain()
        self._check_alive()

    def close(self) -> None:
        """Play out what is queued, then finalise the WAV file (idempotent)."""
        if self._file is None:
            return
        self._stopping = True
        self._wake.set()
        if self._writer is not None:
            self._writer.join()
        try:
            self._advance()
            self._play_blocks(None)
        finally:
            self._file.close()
            self._file = None


def _write_at(file: Any, offset: int, data: bytes) -> None:
    file.seek(offset)
    view = memoryview(data)
    while view:
        view = view[file.write(view):]


class NullSink(_BufferedSink):
    """A sink for text-only sessions: audio counts as played as it arrives, and goes nowhere."""

    def __init__(self, rate: int = SESSION_RATE):
        super().__init__(rate, 20, 0)

    def _advance(self) -> None:
        self._buffer.pull(self._buffer.buffered_samples)

    def close(self) -> None:
        """Nothing to release."""
