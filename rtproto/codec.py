"""The audio codec layer: bytes on the wire <-> numpy samples.

Everything here is a pure function (or a small stateful object fed by the
caller) over numpy arrays; nothing touches a sound device, a socket, a clock or
an event loop, so the session core, replay and tests can use it freely.

* **Base64 <-> PCM16.** Realtime audio travels as base64 strings of
  little-endian 16-bit mono samples (``input_audio_buffer.append``,
  ``response.output_audio.delta``). ``b64_to_pcm16`` and ``pcm16_to_b64`` are
  the hot paths: one C base64 call (pybase64, stdlib ``base64`` as a fallback)
  plus a zero-copy ``np.frombuffer``.
* **float <-> int16.** Sound devices like float32 in [-1, 1); the wire wants
  int16. The scale is 32768 both ways, so int16 -> float -> int16 is exact.
* **G.711** mu-law (``audio/pcmu``, beta ``g711_ulaw``) and A-law
  (``audio/pcma``, ``g711_alaw``), 8000 Hz, one byte per sample. Table-driven
  and bit-exact with the Sun Microsystems ``g711.c`` reference that CPython's
  ``audioop`` also uses.
* **WireFormat** names one of those wire encodings and its rate, read from a
  GA format object or a beta format string; ``decode_audio`` and
  ``encode_audio`` turn base64 into int16 samples at ``fmt.rate`` and back.
* **Resampling** between any two integer rates: a rational L/M polyphase
  filter (Kaiser-windowed sinc, 80 dB stopband, passband to 85 % of the lower
  Nyquist frequency, zero phase). ``resample`` is one-shot, ``Resampler``
  streams and gives the same samples as the one-shot call on the whole signal.
* **Frames and milliseconds**, and **WAV files** through the stdlib ``wave``.

Bad input (invalid base64, an odd byte count, a wrong dtype or shape, an
unknown format) raises ``ValueError`` whose message names the function or
field and what was wrong with it.
"""

from __future__ import annotations

import base64
import functools
import math
import os
import sys
import wave
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np

try:
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover - exercised in a subprocess test
    _pybase64 = None

__all__ = [
    "WireFormat",
    "Resampler",
    "alaw_decode",
    "alaw_encode",
    "b64_to_pcm16",
    "decode_audio",
    "encode_audio",
    "float_to_pcm16",
    "ms_to_samples",
    "mulaw_decode",
    "mulaw_encode",
    "pcm16_to_b64",
    "pcm16_to_float",
    "read_wav",
    "resample",
    "samples_to_ms",
    "split_frames",
    "write_wav",
]

_LE_I16 = np.dtype("<i2")
_LE_U16 = np.dtype("<u2")

# ---------------------------------------------------------------------------
# base64 <-> PCM16

if _pybase64 is not None:
    # bytearray output makes the decoded samples writable without a copy.
    def _raw_b64decode(data: str | bytes) -> bytes | bytearray:
        # validate=True passed positionally: pybase64 parses keywords slowly (~0.3 us a call).
        return _pybase64.b64decode_as_bytearray(data, None, True)

    _raw_b64encode = _pybase64.b64encode_as_string
else:  # pragma: no cover - exercised in a subprocess test

    def _raw_b64decode(data: str | bytes) -> bytes | bytearray:
        return base64.b64decode(data, validate=True)

    def _raw_b64encode(data: Any) -> str:
        return base64.b64encode(data).decode("ascii")


def _b64decode(data: str | bytes, where: str) -> bytes | bytearray:
    if not isinstance(data, (str, bytes, bytearray, memoryview)):
        raise ValueError(f"{where}: base64 audio must be str or bytes, got {type(data).__name__}")
    try:
        return _raw_b64decode(data)
    except ValueError as exc:  # binascii.Error, or non-ASCII characters in a str
        raise ValueError(f"{where}: invalid base64 audio ({exc})") from None


def _as_pcm16(pcm: Any, where: str) -> np.ndarray:
    """Check for a 1-D int16 array; return it C-contiguous and little-endian."""
    if type(pcm) is np.ndarray and pcm.dtype is _LE_I16 and pcm.ndim == 1 and pcm.flags.c_contiguous:
        return pcm  # the common case, recognised cheaply
    if not isinstance(pcm, np.ndarray):
        raise ValueError(f"{where}: expected a 1-D int16 numpy array, got {type(pcm).__name__}")
    if pcm.dtype.kind != "i" or pcm.dtype.itemsize != 2 or pcm.ndim != 1:
        raise ValueError(
            f"{where}: expected a 1-D int16 numpy array, got dtype {pcm.dtype} shape {pcm.shape}"
        )
    if pcm.dtype != _LE_I16:
        pcm = pcm.astype(_LE_I16)
    return pcm if pcm.flags.c_contiguous else np.ascontiguousarray(pcm)


def b64_to_pcm16(data: str | bytes) -> np.ndarray:
    """Decode base64 PCM16 (little-endian, mono) into an int16 array.

    The array is a writable, zero-copy view of the decoded bytes. Whitespace
    is not allowed in ``data``. Raises ``ValueError`` for invalid base64 or
    an odd number of decoded bytes.
    """
    raw = _b64decode(data, "b64_to_pcm16")
    if len(raw) % 2:
        raise ValueError(
            f"b64_to_pcm16: decoded audio has an odd byte count ({len(raw)}); "
            "PCM16 needs 2 bytes per sample"
        )
    return np.frombuffer(raw, _LE_I16)  # dtype positional: numpy parses keywords slowly


def pcm16_to_b64(pcm: np.ndarray) -> str:
    """Encode a 1-D int16 array as base64 little-endian PCM16.

    Non-contiguous and big-endian arrays are converted first; any other dtype
    or shape raises ``ValueError``.
    """
    return _raw_b64encode(_as_pcm16(pcm, "pcm16_to_b64"))


# ---------------------------------------------------------------------------
# float <-> int16


def float_to_pcm16(x: Any) -> np.ndarray:
    """Convert float samples in [-1, 1] to int16 (same shape).

    Scales by 32768 and rounds to nearest, then clips: 1.0 -> 32767 (clipped),
    -1.0 -> -32768, 0.5 -> 16384. Values beyond [-1, 1] clip, NaN -> 0.
    """
    a = np.asarray(x)
    if a.dtype.kind != "f":
        raise ValueError(f"float_to_pcm16: expected floating-point samples, got dtype {a.dtype}")
    y = a.astype(np.float32 if a.dtype.itemsize <= 4 else np.float64)
    y *= 32768.0
    np.nan_to_num(y, copy=False, nan=0.0, posinf=32767.0, neginf=-32768.0)
    np.rint(y, out=y)
    np.clip(y, -32768.0, 32767.0, out=y)
    return y.astype(np.int16)


def pcm16_to_float(x: np.ndarray) -> np.ndarray:
    """Convert int16 samples to float32 in [-1, 1) (sample / 32768; same shape)."""
    a = np.asarray(x)
    if a.dtype.kind != "i" or a.dtype.itemsize != 2:
        raise ValueError(f"pcm16_to_float: expected int16 samples, got dtype {a.dtype}")
    return np.multiply(a, np.float32(1.0 / 32768.0), dtype=np.float32)


# ---------------------------------------------------------------------------
# G.711 (tables built once from the Sun g711.c algorithms, vectorised)

_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _all_int16() -> np.ndarray:
    # Entry u of an encode table is the code of the int16 whose bits are u.
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _ulaw_encode_table() -> np.ndarray:
    v = _all_int16() >> 2  # 14-bit sample
    mask = np.where(v < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(v), 8159) + 33  # clip, then add the bias 0x84 >> 2
    seg = np.searchsorted(_SEG_UEND, mag)
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> (seg + 1)) & 0xF))
    return (code ^ mask).astype(np.uint8)


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256) & 0xFF
    t = (((u & 0xF) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _alaw_encode_table() -> np.ndarray:
    v = _all_int16() >> 3  # 13-bit sample
    mask = np.where(v >= 0, 0xD5, 0x55)
    mag = np.where(v >= 0, v, -v - 1)  # at most 0xFFF: never beyond segment 7
    seg = np.searchsorted(_SEG_AEND, mag)
    quant = (mag >> np.maximum(seg, 1)) & 0xF
    return (((seg << 4) | quant) ^ mask).astype(np.uint8)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256) ^ 0x55
    seg = (a & 0x70) >> 4
    t = ((a & 0xF) << 4) + np.where(seg == 0, 8, 0x108)
    t = t << np.maximum(seg - 1, 0)
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ULAW_ENC, _ULAW_DEC = _ulaw_encode_table(), _ulaw_decode_table()
_ALAW_ENC, _ALAW_DEC = _alaw_encode_table(), _alaw_decode_table()


def _codes(data: Any, where: str) -> np.ndarray:
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ValueError(f"{where}: expected bytes or a uint8 array, got dtype {data.dtype}")
        return data.reshape(-1)
    if isinstance(data, str):
        raise ValueError(f"{where}: expected bytes, got str (base64-decode it first)")
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected bytes, got {type(data).__name__}") from None


def mulaw_encode(pcm16: np.ndarray) -> bytes:
    """Encode 1-D int16 samples as G.711 mu-law bytes (0 -> 0xFF)."""
    return _ULAW_ENC[_as_pcm16(pcm16, "mulaw_encode").view(_LE_U16)].tobytes()


def mulaw_decode(data: bytes) -> np.ndarray:
    """Decode G.711 mu-law bytes to int16 (0x00 -> -32124, 0x7F and 0xFF -> 0)."""
    return _ULAW_DEC[_codes(data, "mulaw_decode")]


def alaw_encode(pcm16: np.ndarray) -> bytes:
    """Encode 1-D int16 samples as G.711 A-law bytes (0 -> 0xD5)."""
    return _ALAW_ENC[_as_pcm16(pcm16, "alaw_encode").view(_LE_U16)].tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """Decode G.711 A-law bytes to int16 (0xD5 -> 8, 0x55 -> -8, 0xAA -> 32256)."""
    return _ALAW_DEC[_codes(data, "alaw_decode")]


# ---------------------------------------------------------------------------
# Wire formats

Encoding = Literal["pcm16", "pcmu", "pcma"]

_GA_TYPES: dict[str, Encoding] = {"audio/pcm": "pcm16", "audio/pcmu": "pcmu", "audio/pcma": "pcma"}
_BETA_NAMES: dict[str, Encoding] = {"pcm16": "pcm16", "g711_ulaw": "pcmu", "g711_alaw": "pcma"}


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _check_rate(rate: Any, where: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"{where}: expected a positive integer sample rate, got {rate!r}")
    return int(rate)


@dataclass(frozen=True, slots=True)
class WireFormat:
    """An audio encoding on the wire and its sample rate.

    ``pcm16`` is little-endian 16-bit mono (24000 Hz in the API); ``pcmu`` and
    ``pcma`` are G.711 mu-law and A-law, always 8000 Hz.
    """

    encoding: Encoding = "pcm16"
    rate: int = 24000

    def __post_init__(self) -> None:
        if self.encoding not in ("pcm16", "pcmu", "pcma"):
            raise ValueError(f"WireFormat: unknown encoding {self.encoding!r} (pcm16, pcmu or pcma)")
        _check_rate(self.rate, "WireFormat.rate")
        if self.encoding != "pcm16" and self.rate != 8000:
            raise ValueError(f"WireFormat: {self.encoding} is 8000 Hz, got rate {self.rate}")

    @classmethod
    def from_ga(cls, obj: Mapping[str, Any] | None, *, path: str = "format") -> WireFormat:
        """Read a GA format object: ``{"type": "audio/pcm", "rate": 24000}``,
        ``{"type": "audio/pcmu"}`` or ``{"type": "audio/pcma"}``.

        ``None`` (or no ``type``) means pcm16 at 24000 Hz. An object with
        ``type``/``rate`` attributes (a msgspec struct) works too. ``path``
        names the field in error messages, e.g. ``$.session.audio.output.format``.
        """
        if obj is None:
            return cls()
        if isinstance(obj, (str, bytes)) or not (isinstance(obj, Mapping) or hasattr(obj, "type")):
            raise ValueError(
                f"{path}: expected a format object like {{'type': 'audio/pcm'}}, got {obj!r}"
            )
        kind, rate = _get(obj, "type"), _get(obj, "rate")
        encoding = _GA_TYPES.get(kind) if isinstance(kind, str) else None
        encoding = "pcm16" if kind is None else encoding
        if encoding is None:
            expected = ", ".join(_GA_TYPES)
            raise ValueError(f"{path}.type: unknown audio format {kind!r} (expected {expected})")
        default = 24000 if encoding == "pcm16" else 8000
        rate = default if rate is None else _check_rate(rate, f"{path}.rate")
        if rate != default and encoding != "pcm16":
            raise ValueError(f"{path}.rate: {kind} is 8000 Hz, got {rate}")
        return cls(encoding, rate)

    @classmethod
    def from_beta(cls, name: str | None, *, path: str = "audio_format") -> WireFormat:
        """Read a beta format string ``pcm16``, ``g711_ulaw`` or ``g711_alaw``
        (``None`` means pcm16). pcm16 is 24000 Hz, G.711 8000 Hz."""
        if name is None:
            return cls()
        encoding = _BETA_NAMES.get(name) if isinstance(name, str) else None
        if encoding is None:
            expected = ", ".join(_BETA_NAMES)
            raise ValueError(f"{path}: unknown audio format {name!r} (expected {expected})")
        return cls(encoding, 24000 if encoding == "pcm16" else 8000)

    def to_ga(self) -> dict[str, Any]:
        """The GA format object for this format."""
        if self.encoding == "pcm16":
            return {"type": "audio/pcm", "rate": self.rate}
        return {"type": f"audio/{self.encoding}"}

    def to_beta(self) -> str:
        """The beta format string; beta pcm16 has no rate field and is 24000 Hz."""
        if self.encoding == "pcm16" and self.rate != 24000:
            raise ValueError(f"WireFormat.to_beta: beta pcm16 is 24000 Hz, got rate {self.rate}")
        return {"pcm16": "pcm16", "pcmu": "g711_ulaw", "pcma": "g711_alaw"}[self.encoding]

    @property
    def sample_width(self) -> int:
        """Bytes per sample on the wire: 2 for pcm16, 1 for G.711."""
        return 2 if self.encoding == "pcm16" else 1


def decode_audio(b64: str | bytes, fmt: WireFormat) -> np.ndarray:
    """Decode base64 wire audio into int16 samples at ``fmt.rate``."""
    if fmt.encoding == "pcm16":
        return b64_to_pcm16(b64)
    decode = mulaw_decode if fmt.encoding == "pcmu" else alaw_decode
    return decode(_b64decode(b64, f"decode_audio({fmt.encoding})"))


def encode_audio(pcm16: np.ndarray, fmt: WireFormat) -> str:
    """Encode int16 samples (already at ``fmt.rate``) as base64 wire audio."""
    if fmt.encoding == "pcm16":
        return pcm16_to_b64(pcm16)
    encode = mulaw_encode if fmt.encoding == "pcmu" else alaw_encode
    return _raw_b64encode(encode(pcm16))


# ---------------------------------------------------------------------------
# Resampling
#
# Output sample k sits at input time k*M/L (L/M = dst/src in lowest terms), so
# the filter is zero-phase and nothing is delayed. It is
#     y[k] = sum_i x[i] * h(k*M - i*L)
# with h a Kaiser-windowed sinc on the grid of the L-times upsampled signal.
# Input is padded with J zeros on each side; output k then reads K = 2J+1
# padded samples starting at floor(k*M/L), weighted by phase (k*M) mod L.
# For speed, G = t*L consecutive outputs form one row of a matrix product:
# every row starts t*M input samples after the previous one and uses the
# same (W x G) coefficient matrix, so a whole block is one BLAS call.

_STOPBAND_DB = 80.0
_PASSBAND = 0.85  # passband edge as a fraction of the lower Nyquist frequency
# Each matrix product stays at or below 2**18 multiply-adds: OpenBLAS then runs
# it on the calling thread, so many sessions do not fight over BLAS threads.
_BLOCK_MACS = 2**18


@dataclass(frozen=True)
class _Plan:
    up: int  # L
    down: int  # M
    pad: int  # J
    row_outputs: int  # G
    row_step: int  # t*M input samples between rows
    block_rows: int  # rows per matrix product
    matrices: dict[np.dtype, np.ndarray]  # (W, G) per compute dtype

    @property
    def width(self) -> int:
        return self.matrices[np.dtype(np.float64)].shape[0]


def _kaiser_bank(src: int, dst: int, up: int) -> np.ndarray:
    """Polyphase bank (L, K): bank[p, m] = h(p + (J - m) * L)."""
    nyquist = min(src, dst) / 2
    fs_up = up * src
    width = (1 - _PASSBAND) * nyquist / fs_up  # transition, cycles per upsampled sample
    cutoff = (1 + _PASSBAND) / 2 * nyquist / fs_up
    half = math.ceil((_STOPBAND_DB - 8) / (2.285 * 2 * math.pi * width) / 2) + 1
    d = np.arange(-half, half + 1)
    beta = 0.1102 * (_STOPBAND_DB - 8.7)
    h = up * 2 * cutoff * np.sinc(2 * cutoff * d) * np.kaiser(2 * half + 1, beta)
    pad = -(-(half + up - 1) // up)
    offsets = np.arange(up)[:, None] + (pad - np.arange(2 * pad + 1))[None, :] * up
    inside = np.abs(offsets) <= half
    return np.where(inside, h[np.clip(offsets + half, 0, 2 * half)], 0.0)


@functools.lru_cache(maxsize=64)
def _plan(src: int, dst: int) -> _Plan:
    g = math.gcd(src, dst)
    up, down = dst // g, src // g
    bank = _kaiser_bank(src, dst, up)
    taps = bank.shape[1]
    t = max(1, round(taps / (2 * down)))  # rows overlap by about half: less waste
    outputs = t * up
    starts = np.arange(outputs) * down // up
    matrix = np.zeros((starts[-1] + taps, outputs))
    for j, start in enumerate(starts):  # once per (src, dst), not per sample
        matrix[start : start + taps, j] = bank[(j * down) % up]
    matrices = {np.dtype(dt): matrix.astype(dt) for dt in (np.float32, np.float64)}
    block_rows = max(1, _BLOCK_MACS // matrix.size)
    return _Plan(up, down, taps // 2, outputs, t * down, block_rows, matrices)


def _filter(plan: _Plan, xp: np.ndarray, k0: int, k1: int, origin: int) -> np.ndarray:
    """Outputs k0..k1-1, where xp[i] is padded input sample origin + i."""
    g, step, width = plan.row_outputs, plan.row_step, plan.width
    parts = []
    for r0 in range(k0 // g, -(-k1 // g), plan.block_rows):
        n_rows = min(plan.block_rows, -(-k1 // g) - r0)
        y = _rows(xp[r0 * step - origin :], n_rows, step, width) @ plan.matrices[xp.dtype]
        parts.append(y.ravel()[max(k0 - r0 * g, 0) : k1 - r0 * g])
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, xp.dtype)


def _rows(seg: np.ndarray, n_rows: int, step: int, width: int) -> np.ndarray:
    """Copy of the (n_rows, width) windows of seg starting every step samples."""
    need = (n_rows - 1) * step + width
    if len(seg) < need:  # zeros only meet coefficients of outputs we drop
        seg = np.concatenate([seg, np.zeros(need - len(seg), seg.dtype)])
    seg = np.ascontiguousarray(seg)
    size = seg.dtype.itemsize
    # ndarray() over the buffer: same view as sliding_window_view, far cheaper.
    return np.ndarray((n_rows, width), seg.dtype, seg, 0, (step * size, size)).copy()


def _check_signal(x: Any, where: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.ndim != 1:
        shape = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"{where}: expected a 1-D numpy array, got {shape}")
    if not ((x.dtype.kind == "i" and x.dtype.itemsize == 2) or x.dtype.kind == "f"):
        raise ValueError(f"{where}: expected int16, float32 or float64 samples, got dtype {x.dtype}")
    return x


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64 if dtype.kind == "f" and dtype.itemsize > 4 else np.float32)


def _cast_out(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "i":
        y = np.rint(y)
        return np.minimum(np.maximum(y, -32768, out=y), 32767, out=y).astype(np.int16)
    return y.astype(dtype.newbyteorder("="), copy=False)


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample a 1-D signal from ``src_rate`` to ``dst_rate`` (one shot).

    int16 in gives int16 out (rounded and clipped); float32 in gives float32
    out (float64 stays float64). The output has ceil(len(x) * dst / src)
    samples, aligned with the input (no delay). Equal rates return a copy.
    """
    x = _check_signal(x, "resample")
    src, dst = _check_rate(src_rate, "resample src_rate"), _check_rate(dst_rate, "resample dst_rate")
    if src == dst:
        return x.copy()
    plan = _plan(src, dst)
    ct = _compute_dtype(x.dtype)
    xp = np.concatenate([np.zeros(plan.pad, ct), x.astype(ct), np.zeros(plan.pad, ct)])
    n_out = -(-len(x) * plan.up // plan.down)
    return _cast_out(_filter(plan, xp, 0, n_out, 0), x.dtype)


class Resampler:
    """Streaming resampler: feed chunks to ``process``, end with ``flush``.

    The concatenated outputs equal ``resample`` on the concatenated input
    (within float rounding: at most 1 LSB for int16). ``process`` emits every
    sample whose filter window is complete, so the latency is the filter's
    half-length (1.4 ms for 48k->24k, 4.3 ms for 24k->8k). ``flush`` emits
    the tail and resets the object for a new stream. All chunks of one
    stream must share a dtype.
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = _check_rate(src_rate, "Resampler src_rate")
        self.dst_rate = _check_rate(dst_rate, "Resampler dst_rate")
        self._plan = _plan(self.src_rate, self.dst_rate) if self.src_rate != self.dst_rate else None
        self._reset()

    def _reset(self) -> None:
        self._dtype: np.dtype | None = None
        self._buf = np.zeros(0)  # padded input from index self._origin on
        self._origin = 0
        self._received = 0  # input samples so far
        self._emitted = 0  # output samples so far

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Add input samples; return the output samples now complete."""
        x = _check_signal(chunk, "Resampler.process")
        if self._plan is None:
            return x.copy()
        self._accept(x)
        ready = max(0, -(-(self._received - self._plan.pad) * self._plan.up // self._plan.down))
        return self._emit(ready)

    def flush(self) -> np.ndarray:
        """Return the remaining output (the stream is over) and reset."""
        if self._plan is None or self._dtype is None:
            self._reset()
            return np.zeros(0, np.int16)
        self._buf = np.concatenate([self._buf, np.zeros(self._plan.pad, self._buf.dtype)])
        out = self._emit(-(-self._received * self._plan.up // self._plan.down))
        self._reset()
        return out

    def _accept(self, x: np.ndarray) -> None:
        if not len(x):  # an empty chunk neither fixes nor checks the dtype
            return
        if self._dtype is None:
            self._dtype = x.dtype
            self._buf = np.zeros(self._plan.pad, _compute_dtype(x.dtype))
        elif x.dtype != self._dtype:
            raise ValueError(f"Resampler.process: got {x.dtype} samples after {self._dtype} ones")
        self._buf = np.concatenate([self._buf, x.astype(self._buf.dtype)])
        self._received += len(x)

    def _emit(self, end: int) -> np.ndarray:
        if end <= self._emitted:
            return np.zeros(0, np.int16 if self._dtype is None else self._dtype)
        y = _filter(self._plan, self._buf, self._emitted, end, self._origin)
        self._emitted = end
        keep = (end // self._plan.row_outputs) * self._plan.row_step  # next row's first input
        self._buf, self._origin = self._buf[keep - self._origin :], keep
        return _cast_out(y, self._dtype)


# ---------------------------------------------------------------------------
# Frames and milliseconds


def ms_to_samples(ms: float, rate: int) -> int:
    """Samples in ``ms`` milliseconds at ``rate``, rounded to nearest (halves up).

    20 ms at 24000 Hz is exactly 480.
    """
    rate = _check_rate(rate, "ms_to_samples rate")
    if not math.isfinite(ms) or ms < 0:
        raise ValueError(f"ms_to_samples: expected a finite duration >= 0 ms, got {ms!r}")
    return math.floor(ms * rate / 1000 + 0.5)


def samples_to_ms(n: int, rate: int) -> float:
    """Duration of ``n`` samples at ``rate`` in milliseconds (not rounded)."""
    return n * 1000 / _check_rate(rate, "samples_to_ms rate")


def split_frames(pcm: np.ndarray, rate: int, ms: float) -> list[np.ndarray]:
    """Split ``pcm`` into frames of ``ms`` milliseconds (views, not copies).

    The frame length is ``ms_to_samples(ms, rate)``; the last frame may be
    shorter. ``ms <= 0`` raises ``ValueError``.
    """
    if not ms > 0:
        raise ValueError(f"split_frames: frame length must be > 0 ms, got {ms!r}")
    n = ms_to_samples(ms, rate)
    if n == 0:
        raise ValueError(f"split_frames: {ms} ms at {rate} Hz is shorter than one sample")
    return [pcm[i : i + n] for i in range(0, len(pcm), n)]


# ---------------------------------------------------------------------------
# WAV files


def _wav_to_pcm16(raw: bytes, width: int) -> np.ndarray:
    """Interleaved WAV samples of ``width`` bytes to int16 (keep the top 16 bits)."""
    if width == 1:  # 8-bit WAV is unsigned
        return ((np.frombuffer(raw, np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    samples = np.frombuffer(raw, np.uint8).reshape(-1, width)
    # wave hands out native byte order; the top two bytes are the int16 value.
    top = samples[:, width - 2 :] if sys.byteorder == "little" else samples[:, :2]
    return np.ascontiguousarray(top).view(np.int16).ravel()


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file as (int16 mono samples, sample rate).

    8-, 16-, 24- and 32-bit integer PCM are converted to 16 bits (deeper
    samples are truncated to their top 16 bits); several channels are
    averaged and rounded to nearest. Python 3.11's ``wave`` reads only plain
    PCM, not WAVE_FORMAT_EXTENSIBLE headers. A file that is not integer PCM
    WAV raises ``ValueError`` naming the file (a missing file raises
    ``FileNotFoundError``).
    """
    try:
        with wave.open(os.fspath(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{os.fspath(path)}: not a readable PCM WAV file ({exc})") from None
    raw = raw[: len(raw) - len(raw) % (width * channels)]  # drop a truncated last frame
    pcm = _wav_to_pcm16(raw, width)
    if channels > 1:
        pcm = np.rint(pcm.reshape(-1, channels).mean(axis=1)).astype(np.int16)
    return pcm, rate


def write_wav(path: str | os.PathLike[str], pcm16: np.ndarray, rate: int) -> None:
    """Write 1-D int16 samples as a mono 16-bit PCM WAV file."""
    pcm = _as_pcm16(pcm16, "write_wav").astype(np.int16, copy=False)  # wave wants native order
    rate = _check_rate(rate, "write_wav rate")
    # The file is opened first: wave.open(path) on a bad path leaves a half-built object behind.
    with open(path, "wb") as f, wave.open(f, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
