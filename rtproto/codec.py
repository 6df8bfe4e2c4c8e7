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
* **Resampling** between any two rates in ``SAMPLE_RATES``: a rational L/M
  polyphase filter (Kaiser-windowed sinc, 80 dB stopband, passband to 85 % of
  the lower Nyquist frequency, zero phase); pairs with no small common factor
  (8001 -> 24000) interpolate the same filter's weights, so any pair needs a
  few MB at most. ``resample`` is one-shot, ``Resampler`` streams and gives the
  same samples as the one-shot call on the whole signal.
* **Frames and milliseconds**, and **WAV files**: a RIFF reader that bounds what
  a header can make it allocate, and a writer.

Bad input (invalid base64, an odd byte count, a wrong dtype or shape, an
unknown format, a sample rate outside ``SAMPLE_RATES``) raises ``ValueError``
whose message names the function, field or file and what was wrong with it.
"""

from __future__ import annotations

import base64
import functools
import math
import os
import struct
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np

try:
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover - exercised in a subprocess test
    _pybase64 = None

__all__ = [
    "SAMPLE_RATES",
    "WireFormat",
    "Resampler",
    "alaw_decode",
    "alaw_encode",
    "b64_to_pcm16",
    "check_sample_rate",
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
    "wav_header",
    "write_wav",
]

SAMPLE_RATES = range(8000, 192001)
"""The sample rates (Hz) rtproto accepts for audio: wire formats, resampling and WAV
files check every rate against it where it enters, so no rate can size an allocation."""

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


def check_sample_rate(rate: Any, where: str) -> int:
    """Return ``rate`` as an int if it is in ``SAMPLE_RATES``; else raise ``ValueError``
    ``"{where}: sample rate 1 Hz is outside 8000-192000 Hz"`` (or, for a value that is
    not a positive integer, ``"{where}: expected a positive integer sample rate, got ..."``)."""
    rate = _check_rate(rate, where)
    if rate not in SAMPLE_RATES:
        raise ValueError(f"{where}: sample rate {rate} Hz is outside "
                         f"{SAMPLE_RATES.start}-{SAMPLE_RATES.stop - 1} Hz")
    return rate


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
        check_sample_rate(self.rate, "WireFormat.rate")
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
        rate = default if rate is None else check_sample_rate(rate, f"{path}.rate")
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
#
# Two ways to get the weights, one filter design:
# * _Polyphase, when the L phases fit in _MAX_MATRIX coefficients (every pair
#   of common rates): G = t*L consecutive outputs form one row of a matrix
#   product. Every row starts t*M input samples after the previous one and
#   uses the same (W x G) coefficient matrix, so a whole block is one BLAS call.
# * _Interpolated, for awkward pairs (8001 -> 24000 has L = 8000): the weights
#   of each output are read from one table of h, _TABLE_STEPS points per period
#   of the lower rate, by linear interpolation at the exact phase. Memory is
#   bounded whatever the rates; the interpolation error (about -110 dB) stays
#   far below the 80 dB stopband.

_STOPBAND_DB = 80.0
_PASSBAND = 0.85  # passband edge as a fraction of the lower Nyquist frequency
# Each matrix product stays at or below 2**18 multiply-adds: OpenBLAS then runs
# it on the calling thread, so many sessions do not fight over BLAS threads.
_BLOCK_MACS = 2**18
_MAX_MATRIX = 2**18  # coefficients of a polyphase matrix (1 MB as float32)
_TABLE_STEPS = 512  # points of the interpolation table per period of the lower rate
_GATHER = 2**15  # taps gathered per step of the interpolating filter


def _half_length(nyquist: float, fs: float) -> float:
    """Half-length of the Kaiser prototype, in samples at ``fs``, for a given lower Nyquist."""
    width = (1 - _PASSBAND) * nyquist / fs  # transition, cycles per sample
    return (_STOPBAND_DB - 8) / (2.285 * 2 * math.pi * width) / 2


def _kaiser(t: np.ndarray) -> np.ndarray:
    """The Kaiser window at ``t`` in [-1, 1] (its ends at -1 and 1)."""
    beta = 0.1102 * (_STOPBAND_DB - 8.7)
    return np.i0(beta * np.sqrt(np.clip(1 - t * t, 0, None))) / np.i0(beta)


def _prototype(d: np.ndarray, half: float, cutoff: float) -> np.ndarray:
    """The windowed sinc at ``d`` samples from its centre (zero beyond ``half``)."""
    return 2 * cutoff * np.sinc(2 * cutoff * d) * _kaiser(d / half) * (np.abs(d) <= half)


def _polyphase_taps(src: int, dst: int, up: int) -> tuple[int, int]:
    """(half-length in upsampled samples, J) of the exact polyphase filter."""
    half = math.ceil(_half_length(min(src, dst) / 2, up * src)) + 1
    return half, -(-(half + up - 1) // up)


def _kaiser_bank(src: int, dst: int, up: int) -> np.ndarray:
    """Polyphase bank (L, K): bank[p, m] = h(p + (J - m) * L)."""
    half, pad = _polyphase_taps(src, dst, up)
    cutoff = (1 + _PASSBAND) / 2 * min(src, dst) / 2 / (up * src)
    offsets = np.arange(up)[:, None] + (pad - np.arange(2 * pad + 1))[None, :] * up
    return up * _prototype(offsets.astype(np.float64), half, cutoff)


class _Polyphase:
    """Exact polyphase weights, G outputs per matrix row (see the comment above)."""

    def __init__(self, src: int, dst: int, up: int, down: int, t: int) -> None:
        self._bank = _kaiser_bank(src, dst, up)
        taps = self._bank.shape[1]
        self.up, self.down, self.pad = up, down, taps // 2
        self.row_outputs, self.row_step = t * up, t * down
        self.width = (self.row_outputs - 1) * down // up + taps
        self.block_rows = max(1, _BLOCK_MACS // (self.width * self.row_outputs))
        self._matrices: dict[np.dtype, np.ndarray] = {}
        self._matrix(np.dtype(np.float32))

    @staticmethod
    def size(src: int, dst: int, up: int, down: int) -> tuple[int, int]:
        """(coefficients in the matrix, t) for this pair, without building anything."""
        taps = 2 * _polyphase_taps(src, dst, up)[1] + 1
        t = max(1, round(taps / (2 * down)))  # rows overlap by about half: less waste
        return ((t * up - 1) * down // up + taps) * t * up, t

    def _matrix(self, dtype: np.dtype) -> np.ndarray:
        """Build the (W, G) matrix for ``dtype``: once per dtype (float64 only for float64 input)."""
        taps = self._bank.shape[1]
        matrix = np.zeros((self.width, self.row_outputs), dtype)
        for j in range(self.row_outputs):  # once per (src, dst), not per sample
            start = j * self.down // self.up
            matrix[start : start + taps, j] = self._bank[(j * self.down) % self.up]
        self._matrices[dtype] = matrix
        return matrix

    def first_input(self, k: int) -> int:
        """The first padded input sample that output ``k`` or a later one reads."""
        return (k // self.row_outputs) * self.row_step

    def filter(self, xp: np.ndarray, k0: int, k1: int, origin: int) -> np.ndarray:
        """Outputs k0..k1-1, where xp[i] is padded input sample origin + i."""
        g, step = self.row_outputs, self.row_step
        matrix = self._matrices.get(xp.dtype)
        if matrix is None:
            matrix = self._matrix(xp.dtype)
        parts = []
        for r0 in range(k0 // g, -(-k1 // g), self.block_rows):
            n_rows = min(self.block_rows, -(-k1 // g) - r0)
            y = _rows(xp[r0 * step - origin :], n_rows, step, self.width) @ matrix
            parts.append(y.ravel()[max(k0 - r0 * g, 0) : k1 - r0 * g])
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, xp.dtype)


@functools.cache
def _prototype_table() -> tuple[np.ndarray, float]:
    """h(tau) for tau in periods of the lower rate, every 1/_TABLE_STEPS, and its half-length."""
    half = _half_length(0.5, 1.0)
    tau = np.arange(math.ceil(half * _TABLE_STEPS) + 2) / _TABLE_STEPS
    return _prototype(tau, half, (1 + _PASSBAND) / 4), half


class _Interpolated:
    """The same filter with weights interpolated from ``_prototype_table`` at each output."""

    def __init__(self, src: int, dst: int, up: int, down: int) -> None:
        self.up, self.down = up, down
        self._scale = min(1.0, dst / src)  # h is stretched by 1/scale on the input grid
        self.pad = math.ceil(_prototype_table()[1] / self._scale)
        self._taps = np.arange(2 * self.pad + 1)

    def first_input(self, k: int) -> int:
        """The first padded input sample that output ``k`` or a later one reads."""
        return k * self.down // self.up

    def filter(self, xp: np.ndarray, k0: int, k1: int, origin: int) -> np.ndarray:
        """Outputs k0..k1-1, where xp[i] is padded input sample origin + i."""
        step = max(1, _GATHER // len(self._taps))
        parts = [self._outputs(xp, k, min(k + step, k1), origin) for k in range(k0, k1, step)]
        return np.concatenate(parts) if parts else np.zeros(0, xp.dtype)

    def _outputs(self, xp: np.ndarray, k0: int, k1: int, origin: int) -> np.ndarray:
        table, _ = _prototype_table()
        position = np.arange(k0, k1, dtype=np.int64) * self.down
        first = position // self.up  # padded index of each output's first tap
        phase = (position - first * self.up) / self.up
        where = np.abs((self._taps - self.pad)[None, :] - phase[:, None])
        where *= self._scale * _TABLE_STEPS
        index = np.minimum(where.astype(np.intp), len(table) - 2)  # the table ends in zeros
        where -= index
        weights = table[index] * (1 - where) + table[index + 1] * where
        windows = xp[(first - origin)[:, None] + self._taps]
        return np.einsum("ij,ij->i", weights, windows).astype(xp.dtype) * xp.dtype.type(self._scale)


@functools.lru_cache(maxsize=16)
def _plan(src: int, dst: int) -> _Polyphase | _Interpolated:
    g = math.gcd(src, dst)
    up, down = dst // g, src // g
    size, t = _Polyphase.size(src, dst, up, down)
    if size <= _MAX_MATRIX:
        return _Polyphase(src, dst, up, down, t)
    return _Interpolated(src, dst, up, down)


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
    Rates outside ``SAMPLE_RATES`` raise ``ValueError``.
    """
    x = _check_signal(x, "resample")
    src = check_sample_rate(src_rate, "resample src_rate")
    dst = check_sample_rate(dst_rate, "resample dst_rate")
    if src == dst:
        return x.copy()
    plan = _plan(src, dst)
    ct = _compute_dtype(x.dtype)
    xp = np.concatenate([np.zeros(plan.pad, ct), x.astype(ct), np.zeros(plan.pad, ct)])
    n_out = -(-len(x) * plan.up // plan.down)
    return _cast_out(plan.filter(xp, 0, n_out, 0), x.dtype)


class Resampler:
    """Streaming resampler: feed chunks to ``process``, end with ``flush``.

    The concatenated outputs equal ``resample`` on the concatenated input
    (within float rounding: at most 1 LSB for int16). ``process`` emits every
    sample whose filter window is complete, so the latency is the filter's
    half-length (1.4 ms for 48k->24k, 4.3 ms for 24k->8k). ``flush`` emits
    the tail and resets the object for a new stream. All chunks of one
    stream must share a dtype. Rates outside ``SAMPLE_RATES`` raise
    ``ValueError``; any pair inside it needs at most a few MB.
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = check_sample_rate(src_rate, "Resampler src_rate")
        self.dst_rate = check_sample_rate(dst_rate, "Resampler dst_rate")
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
        y = self._plan.filter(self._buf, self._emitted, end, self._origin)
        self._emitted = end
        keep = self._plan.first_input(end)
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
#
# RIFF is parsed here rather than by ``wave`` so that a header cannot size an
# allocation (a declared length is read only as far as the file goes), every
# unsupported header gets its own message, WAVE_FORMAT_EXTENSIBLE and G.711
# files are read, and the audio of a file whose writer died before updating
# the sizes is recovered.

_PCM, _ALAW, _MULAW, _EXTENSIBLE = 1, 6, 7, 0xFFFE
_FORMAT_NAMES = {_PCM: "integer PCM", 3: "IEEE float", _ALAW: "A-law", _MULAW: "mu-law"}
_RIFF_MAX = 0xFFFFFFFF


@dataclass(frozen=True)
class _WavFormat:
    code: int
    channels: int
    rate: int
    width: int  # bytes per sample


def wav_header(rate: int, data_bytes: int) -> bytes:
    """The 44-byte header of a mono 16-bit PCM WAV file holding ``data_bytes`` of samples.

    Sizes beyond what RIFF can state are clamped to its maximum; ``read_wav``
    then reads the data chunk to the end of the file.
    """
    rate = check_sample_rate(rate, "wav_header rate")
    data = min(data_bytes, _RIFF_MAX - 36)
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data, b"WAVE", b"fmt ", 16, _PCM, 1,
                       rate, rate * 2, 2, 16, b"data", data)


def _not_wav(name: str, why: str) -> ValueError:
    return ValueError(f"{name}: not a readable PCM WAV file ({why})")


def _parse_fmt(body: bytes, name: str) -> _WavFormat:
    if len(body) < 16:
        raise _not_wav(name, f"fmt chunk of {len(body)} bytes, expected at least 16")
    code, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
    if code == _EXTENSIBLE and len(body) >= 26:
        code = int.from_bytes(body[24:26], "little")  # the sub-format GUID starts with the code
    if code not in (_PCM, _ALAW, _MULAW):
        kind = _FORMAT_NAMES.get(code, "unsupported")
        raise _not_wav(name, f"format code {code} ({kind}); integer PCM, A-law or mu-law expected")
    if not channels:
        raise _not_wav(name, "0 channels")
    width = (bits + 7) // 8
    if not 1 <= width <= 4 or (code != _PCM and width != 1):
        raise _not_wav(name, f"{bits}-bit {_FORMAT_NAMES[code]} samples")
    return _WavFormat(code, channels, check_sample_rate(rate, name), width)


def _read_riff(f: Any, name: str) -> tuple[_WavFormat, bytes]:
    """The format and the data bytes (whole frames) of an open WAV file."""
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
        raise _not_wav(name, "no RIFF WAVE header")
    riff_end, file_size = 8 + int.from_bytes(head[4:8], "little"), os.fstat(f.fileno()).st_size
    fmt = None
    while len(chunk := f.read(8)) == 8:
        kind, size, start = chunk[:4], int.from_bytes(chunk[4:], "little"), f.tell()
        if kind == b"fmt ":
            fmt = _parse_fmt(f.read(min(size, 40)), name)
        elif kind == b"data" and fmt is not None:
            # Nothing declared after the data, yet the file is longer: sizes a dead writer left stale.
            stale = start + size + size % 2 >= riff_end and file_size > riff_end
            raw = f.read(file_size - start if stale else min(size, file_size - start))
            return fmt, raw[: len(raw) - len(raw) % (fmt.width * fmt.channels)]
        f.seek(start + size + size % 2)
    raise _not_wav(name, "no data chunk" if fmt else "no fmt chunk before the data")


def _wav_to_pcm16(raw: bytes, fmt: _WavFormat) -> np.ndarray:
    """Interleaved WAV samples to int16 (deeper samples keep their top 16 bits)."""
    if fmt.code != _PCM:
        return (alaw_decode if fmt.code == _ALAW else mulaw_decode)(raw)
    if fmt.width == 1:  # 8-bit WAV is unsigned
        return ((np.frombuffer(raw, np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    samples = np.frombuffer(raw, np.uint8).reshape(-1, fmt.width)
    top = np.ascontiguousarray(samples[:, fmt.width - 2 :])  # little-endian: the top two bytes
    return top.view(_LE_I16).ravel().astype(np.int16)


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a WAV file as (int16 mono samples, sample rate).

    8-, 16-, 24- and 32-bit integer PCM (plain or WAVE_FORMAT_EXTENSIBLE) and
    G.711 A-law and mu-law are converted to 16 bits (deeper samples are
    truncated to their top 16 bits); several channels are averaged and rounded
    to nearest. A declared length beyond the end of the file reads what the
    file holds, and so does a last data chunk whose sizes were not updated as
    the file grew (its writer died); a truncated last frame is dropped. Any
    other file, and a sample rate outside ``SAMPLE_RATES``, raises
    ``ValueError`` whose message starts with the path (a missing file raises
    ``FileNotFoundError``).
    """
    name = os.fspath(path)
    with open(name, "rb") as f:
        fmt, raw = _read_riff(f, name)
    pcm = _wav_to_pcm16(raw, fmt)
    if fmt.channels > 1:
        pcm = np.rint(pcm.reshape(-1, fmt.channels).mean(axis=1)).astype(np.int16)
    return pcm, fmt.rate


def write_wav(path: str | os.PathLike[str], pcm16: np.ndarray, rate: int) -> None:
    """Write 1-D int16 samples as a mono 16-bit PCM WAV file."""
    pcm = _as_pcm16(pcm16, "write_wav")
    header = wav_header(check_sample_rate(rate, "write_wav rate"), pcm.nbytes)
    with open(path, "wb") as f:
        f.write(header)
        f.write(pcm.data)
