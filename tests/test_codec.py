"""Tests for rtproto.codec: base64/PCM16, float/int16, G.711, wire formats,
resampling, frames and WAV files."""

from __future__ import annotations

import base64
import dataclasses
import math
import os
import struct
import subprocess
import sys
import types
import warnings
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rtproto.codec import (
    Resampler,
    WireFormat,
    alaw_decode,
    alaw_encode,
    b64_to_pcm16,
    decode_audio,
    encode_audio,
    float_to_pcm16,
    ms_to_samples,
    mulaw_decode,
    mulaw_encode,
    pcm16_to_b64,
    pcm16_to_float,
    read_wav,
    resample,
    samples_to_ms,
    split_frames,
    write_wav,
)

REPO = Path(__file__).resolve().parents[1]
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
int16_arrays = hnp.arrays(np.int16, st.integers(0, 600))


# --- base64 <-> PCM16 ---------------------------------------------------------


def test_pcm16_to_b64_matches_struct_reference():
    samples = [0, 1, -2, 32767, -32768, 258]
    expected = base64.b64encode(struct.pack("<6h", *samples)).decode("ascii")
    assert pcm16_to_b64(np.array(samples, dtype=np.int16)) == expected


def test_b64_to_pcm16_reads_little_endian_from_str_and_bytes():
    text = base64.b64encode(struct.pack("<3h", 1, -1, 0x1234)).decode("ascii")
    for data in (text, text.encode("ascii")):
        pcm = b64_to_pcm16(data)
        assert pcm.dtype == np.dtype("<i2")
        assert pcm.tolist() == [1, -1, 0x1234]


def test_b64_to_pcm16_result_is_writable_and_empty_input_is_empty():
    pcm = b64_to_pcm16(pcm16_to_b64(np.array([5, 6], dtype=np.int16)))
    pcm[0] = 7
    assert pcm.tolist() == [7, 6]
    assert b64_to_pcm16("").shape == (0,)


@given(int16_arrays)
def test_b64_round_trip(pcm):
    assert np.array_equal(b64_to_pcm16(pcm16_to_b64(pcm)), pcm)


def test_pcm16_to_b64_handles_strided_and_big_endian_arrays():
    base = np.array([1, -2, 300, -400, 32767, -32768], dtype=np.int16)
    expected = base64.b64encode(base[::2].astype("<i2").tobytes()).decode()
    assert pcm16_to_b64(base[::2]) == expected
    big = base.astype(">i2")
    assert pcm16_to_b64(big) == pcm16_to_b64(base)
    assert b64_to_pcm16(pcm16_to_b64(big)).tolist() == base.tolist()


def test_b64_to_pcm16_rejects_odd_byte_count():
    with pytest.raises(ValueError, match=r"odd byte count \(3\)"):
        b64_to_pcm16(base64.b64encode(b"\x01\x02\x03"))


@pytest.mark.parametrize("bad", ["AAA", "AA=A", "AAAA\nAAAA", "not base64!", "AAé="])
def test_b64_to_pcm16_rejects_invalid_base64(bad):
    with pytest.raises(ValueError, match="b64_to_pcm16: invalid base64"):
        b64_to_pcm16(bad)


def test_b64_to_pcm16_rejects_non_text():
    with pytest.raises(ValueError, match="must be str or bytes, got int"):
        b64_to_pcm16(12)


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (np.zeros(4, np.float32), "dtype float32"),
        (np.zeros(4, np.int32), "dtype int32"),
        (np.zeros((2, 3), np.int16), r"shape \(2, 3\)"),
        ([1, 2, 3], "got list"),
    ],
)
def test_pcm16_to_b64_names_wrong_input(bad, named):
    with pytest.raises(ValueError, match=named):
        pcm16_to_b64(bad)


def test_stdlib_base64_fallback_without_pybase64():
    script = (
        "import sys; sys.modules['pybase64'] = None\n"
        "import numpy as np\n"
        "from rtproto import codec\n"
        "assert codec._pybase64 is None\n"
        "x = np.array([1, -2, 32767, -32768], np.int16)\n"
        "s = codec.pcm16_to_b64(x)\n"
        "assert s == 'AQD+//9/AIA=', s\n"
        "assert codec.b64_to_pcm16(s).tolist() == x.tolist()\n"
        "assert codec.decode_audio(codec.encode_audio(x, codec.WireFormat('pcmu', 8000)),\n"
        "                          codec.WireFormat('pcmu', 8000)).shape == (4,)\n"
        "try:\n"
        "    codec.b64_to_pcm16('A!==')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "b64_to_pcm16: invalid base64" in done.stdout


# --- float <-> int16 ------------------------------------------------------------


def test_float_to_pcm16_scaling_and_clipping():
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -3.0, 1e9, np.inf, -np.inf, np.nan])
    assert float_to_pcm16(x).tolist() == [
        0, 16384, -16384, 32767, -32768, 32767, -32768, 32767, 32767, -32768, 0,
    ]  # fmt: skip


def test_float_to_pcm16_rounds_to_nearest_and_keeps_shape():
    x = np.array([[1.2 / 32768, 1.7 / 32768], [-1.2 / 32768, -1.7 / 32768]], np.float32)
    y = float_to_pcm16(x)
    assert y.dtype == np.int16 and y.shape == (2, 2)
    assert y.tolist() == [[1, 2], [-1, -2]]


def test_float_to_pcm16_rejects_integers():
    with pytest.raises(ValueError, match="got dtype int16"):
        float_to_pcm16(np.zeros(3, np.int16))


def test_pcm16_to_float_range_and_exact_round_trip():
    f = pcm16_to_float(ALL_INT16)
    assert f.dtype == np.float32
    assert f.min() == -1.0 and f.max() == 32767 / 32768 < 1.0
    assert np.array_equal(float_to_pcm16(f), ALL_INT16)


def test_pcm16_to_float_rejects_floats():
    with pytest.raises(ValueError, match="got dtype float64"):
        pcm16_to_float(np.zeros(3))


@given(hnp.arrays(np.float32, st.integers(0, 50), elements=st.floats(-4, 4, width=32)))
def test_float_to_pcm16_is_within_half_a_step(x):
    y = float_to_pcm16(x).astype(np.float64)
    target = np.clip(x.astype(np.float64) * 32768, -32768, 32767)
    assert np.all(np.abs(y - target) <= 0.5)


# --- G.711 --------------------------------------------------------------------
# A scalar transcription of the Sun Microsystems g711.c reference code.

_SEG_AEND = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)
_SEG_UEND = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def _search(val, table):
    return next((i for i, end in enumerate(table) if val <= end), len(table))


def ref_linear2alaw(pcm):
    pcm >>= 3
    if pcm >= 0:
        mask = 0xD5
    else:
        mask, pcm = 0x55, -pcm - 1
    seg = _search(pcm, _SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (pcm >> 1) & 0xF if seg < 2 else (pcm >> seg) & 0xF
    return aval ^ mask


def ref_alaw2linear(a):
    a ^= 0x55
    t = (a & 0xF) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def ref_linear2ulaw(pcm):
    pcm >>= 2
    if pcm < 0:
        pcm, mask = -pcm, 0x7F
    else:
        mask = 0xFF
    pcm = min(pcm, 8159) + (0x84 >> 2)
    seg = _search(pcm, _SEG_UEND)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (seg + 1)) & 0xF)) ^ mask


def ref_ulaw2linear(u):
    u = ~u & 0xFF
    t = (((u & 0xF) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def test_g711_silence_codes():
    zero = np.zeros(1, np.int16)
    assert mulaw_encode(zero) == b"\xff"
    assert alaw_encode(zero) == b"\xd5"


def test_mulaw_decode_spot_values_from_reference_table():
    spots = {0x00: -32124, 0x01: -31100, 0x0F: -16764, 0x10: -15996, 0x7E: -8, 0x7F: 0,
             0x80: 32124, 0x8F: 16764, 0xEF: 132, 0xFE: 8, 0xFF: 0}  # fmt: skip
    assert mulaw_decode(bytes(spots)).tolist() == list(spots.values())


def test_alaw_decode_spot_values_from_reference_table():
    first = [-5504, -5248, -6016, -5760, -4480, -4224, -4992, -4736,
             -7552, -7296, -8064, -7808, -6528, -6272, -7040, -6784]  # fmt: skip
    assert alaw_decode(bytes(range(16))).tolist() == first
    spots = {0x2A: -32256, 0xAA: 32256, 0x55: -8, 0xD5: 8, 0x80: 5504, 0x28: -30208}
    assert alaw_decode(bytes(spots)).tolist() == list(spots.values())


def test_g711_decoders_match_reference_for_all_codes():
    codes = bytes(range(256))
    assert mulaw_decode(codes).tolist() == [ref_ulaw2linear(c) for c in range(256)]
    assert alaw_decode(codes).tolist() == [ref_alaw2linear(c) for c in range(256)]


def test_g711_encoders_match_reference_for_every_int16():
    samples = ALL_INT16.tolist()
    assert mulaw_encode(ALL_INT16) == bytes(ref_linear2ulaw(s) for s in samples)
    assert alaw_encode(ALL_INT16) == bytes(ref_linear2alaw(s) for s in samples)


def test_g711_matches_cpython_audioop_when_available():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # audioop is gone in 3.13
        audioop = pytest.importorskip("audioop")
    raw = ALL_INT16.tobytes()
    assert mulaw_encode(ALL_INT16) == audioop.lin2ulaw(raw, 2)
    assert alaw_encode(ALL_INT16) == audioop.lin2alaw(raw, 2)
    codes = bytes(range(256))
    assert mulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)
    assert alaw_decode(codes).tobytes() == audioop.alaw2lin(codes, 2)


def test_every_g711_code_survives_decode_then_encode():
    codes = bytes(range(256))
    expected_mu = bytearray(codes)
    expected_mu[0x7F] = 0xFF  # mu-law has +0 and -0; both decode to 0, which encodes as 0xFF
    assert mulaw_encode(mulaw_decode(codes)) == bytes(expected_mu)
    assert alaw_encode(alaw_decode(codes)) == codes


@pytest.mark.parametrize(("encode", "decode"), [(mulaw_encode, mulaw_decode), (alaw_encode, alaw_decode)])
def test_g711_quantiser_is_monotonic_and_bounded(encode, decode):
    back = decode(encode(ALL_INT16)).astype(np.int32)
    assert np.all(np.diff(back) >= 0)
    error = np.abs(back - ALL_INT16)
    assert error.max() <= 1024  # the top segment's step
    small = np.abs(ALL_INT16.astype(np.int32)) < 256
    assert error[small].max() <= 16


def test_g711_accepts_bytes_like_and_uint8_arrays():
    data = bytes([0x00, 0x80, 0xFF])
    for form in (data, bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
        assert mulaw_decode(form).tolist() == [-32124, 32124, 0]


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: mulaw_decode("abc"), "mulaw_decode: expected bytes, got str"),
        (lambda: alaw_decode(np.zeros(3, np.int16)), "alaw_decode: .*dtype int16"),
        (lambda: alaw_decode(3.5), "alaw_decode: expected bytes, got float"),
        (lambda: mulaw_encode(np.zeros(3)), "mulaw_encode: .*dtype float64"),
        (lambda: alaw_encode(np.zeros((1, 2), np.int16)), r"alaw_encode: .*shape \(1, 2\)"),
    ],
)
def test_g711_errors_name_the_problem(call, named):
    with pytest.raises(ValueError, match=named):
        call()


# --- WireFormat -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (None, WireFormat("pcm16", 24000)),
        ({}, WireFormat("pcm16", 24000)),
        ({"type": "audio/pcm"}, WireFormat("pcm16", 24000)),
        ({"type": "audio/pcm", "rate": 24000}, WireFormat("pcm16", 24000)),
        ({"type": "audio/pcm", "rate": 16000}, WireFormat("pcm16", 16000)),
        ({"type": "audio/pcmu"}, WireFormat("pcmu", 8000)),
        ({"type": "audio/pcma", "rate": 8000}, WireFormat("pcma", 8000)),
        (types.SimpleNamespace(type="audio/pcmu", rate=None), WireFormat("pcmu", 8000)),
    ],
)
def test_wire_format_from_ga(obj, expected):
    assert WireFormat.from_ga(obj) == expected


@pytest.mark.parametrize(
    ("obj", "named"),
    [
        (
            {"type": "audio/opus"},
            r"\$\.session\.audio\.output\.format\.type: unknown audio format 'audio/opus'",
        ),
        ({"type": 5}, r"format\.type: unknown audio format 5"),
        ({"type": "audio/pcm", "rate": "24000"}, r"format\.rate: .*got '24000'"),
        ({"type": "audio/pcm", "rate": 0}, r"format\.rate: .*got 0"),
        ({"type": "audio/pcm", "rate": True}, r"format\.rate: .*got True"),
        ({"type": "audio/pcmu", "rate": 16000}, r"format\.rate: audio/pcmu is 8000 Hz"),
        ("pcm16", r"format: expected a format object"),
    ],
)
def test_wire_format_from_ga_errors_name_path_and_value(obj, named):
    with pytest.raises(ValueError, match=named):
        WireFormat.from_ga(obj, path="$.session.audio.output.format")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, WireFormat("pcm16", 24000)),
        ("pcm16", WireFormat("pcm16", 24000)),
        ("g711_ulaw", WireFormat("pcmu", 8000)),
        ("g711_alaw", WireFormat("pcma", 8000)),
    ],
)
def test_wire_format_from_beta(name, expected):
    assert WireFormat.from_beta(name) == expected
    assert expected.to_beta() == (name or "pcm16")


def test_wire_format_from_beta_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"output_audio_format: unknown audio format 'g722'"):
        WireFormat.from_beta("g722", path="output_audio_format")


def test_wire_format_ga_round_trip_and_validation():
    for fmt in (WireFormat(), WireFormat("pcmu", 8000), WireFormat("pcma", 8000)):
        assert WireFormat.from_ga(fmt.to_ga()) == fmt
    assert WireFormat().to_ga() == {"type": "audio/pcm", "rate": 24000}
    assert (WireFormat().sample_width, WireFormat("pcma", 8000).sample_width) == (2, 1)
    with pytest.raises(ValueError, match="pcmu is 8000 Hz, got rate 16000"):
        WireFormat("pcmu", 16000)
    with pytest.raises(ValueError, match="unknown encoding 'opus'"):
        WireFormat("opus", 48000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="beta pcm16 is 24000 Hz"):
        WireFormat("pcm16", 16000).to_beta()
    with pytest.raises(dataclasses.FrozenInstanceError):
        WireFormat().rate = 8000  # type: ignore[misc]


def test_encode_and_decode_audio_per_format():
    pcm = np.array([0, 1000, -1000, 32767, -32768], np.int16)
    pcm16 = WireFormat()
    assert encode_audio(pcm, pcm16) == pcm16_to_b64(pcm)
    assert decode_audio(encode_audio(pcm, pcm16), pcm16).tolist() == pcm.tolist()
    for fmt, encode, decode in [
        (WireFormat("pcmu", 8000), mulaw_encode, mulaw_decode),
        (WireFormat("pcma", 8000), alaw_encode, alaw_decode),
    ]:
        wire = encode_audio(pcm, fmt)
        assert base64.b64decode(wire) == encode(pcm)
        assert len(base64.b64decode(wire)) == len(pcm)  # one byte per sample
        assert decode_audio(wire, fmt).tolist() == decode(encode(pcm)).tolist()


def test_decode_audio_names_the_format_on_bad_base64():
    with pytest.raises(ValueError, match=r"decode_audio\(pcma\): invalid base64"):
        decode_audio("@@@@", WireFormat("pcma", 8000))


# --- resampling -----------------------------------------------------------------

RATE_PAIRS = [(48000, 24000), (24000, 48000), (44100, 24000), (24000, 44100),
              (16000, 24000), (24000, 16000), (8000, 24000), (24000, 8000)]  # fmt: skip


def _tone(freq, rate, n, amplitude=0.5):
    return amplitude * np.sin(2 * np.pi * freq * np.arange(n) / rate)


def _rms(x):
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def _middle(x):
    return x[len(x) // 10 : -len(x) // 10]


def test_aliasing_48k_to_24k_tone_sweep():
    src, dst, n = 48000, 24000, 24000
    stop = []
    for freq in np.arange(12250, 24000, 500):
        out = resample(_tone(freq, src, n).astype(np.float32), src, dst)
        stop.append(20 * math.log10(_rms(_middle(out)) / _rms(_tone(freq, src, n))))
    passband = []
    for freq in np.arange(100, 9001, 250):
        out = resample(_tone(freq, src, n).astype(np.float32), src, dst)
        passband.append(20 * math.log10(_rms(_middle(out)) / _rms(_tone(freq, src, n))))
    assert max(stop) <= -60.0
    assert max(abs(g) for g in passband) <= 1.0


@pytest.mark.parametrize(("src", "dst"), RATE_PAIRS)
def test_passband_gain_and_stopband_rejection(src, dst):
    nyquist, n = min(src, dst) / 2, src // 2
    for freq in np.linspace(100, 0.75 * nyquist, 7):
        out = resample(_tone(freq, src, n), src, dst)
        assert abs(20 * math.log10(_rms(_middle(out)) / _rms(_tone(freq, src, n)))) <= 1.0
    if dst < src:  # tones above the new Nyquist frequency must not alias back
        for freq in np.linspace(nyquist + 50, src / 2 - 50, 9):
            out = resample(_tone(freq, src, n), src, dst)
            assert 20 * math.log10(_rms(_middle(out)) / _rms(_tone(freq, src, n))) <= -60.0
    else:  # upsampling must not leave images above the old Nyquist frequency
        for freq in np.linspace(100, 0.75 * nyquist, 5):
            out = _middle(resample(_tone(freq, src, n), src, dst))
            power = np.abs(np.fft.rfft(out * np.hanning(len(out)))) ** 2
            above = np.fft.rfftfreq(len(out), 1 / dst) > nyquist
            assert 10 * math.log10(power[above].sum() / power.sum()) <= -60.0


@pytest.mark.parametrize(("src", "dst"), RATE_PAIRS)
def test_resample_matches_exact_band_limited_signal(src, dst):
    n = src // 2  # a periodic signal whose resampled length is exact
    rng = np.random.default_rng(src + dst)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[np.fft.rfftfreq(n, 1 / src) > 0.6 * min(src, dst) / 2] = 0
    scale = 0.5 / np.abs(np.fft.irfft(spectrum, n)).max()
    x = np.fft.irfft(spectrum, n) * scale
    exact = np.fft.irfft(spectrum, n * dst // src) * (dst / src) * scale
    out = resample(x, src, dst)
    assert len(out) == len(exact)
    assert np.abs(_middle(out - exact)).max() < 1e-4  # right gain, zero delay
    reference = pytest.importorskip("scipy.signal").resample_poly(x, dst, src)
    assert np.abs(_middle(out - reference)).max() < 2e-3


@given(st.integers(0, 3000), st.sampled_from(RATE_PAIRS + [(48000, 8000), (11025, 24000)]))
@settings(max_examples=40, deadline=None)
def test_resample_length(n, pair):
    src, dst = pair
    assert len(resample(np.zeros(n, np.int16), src, dst)) == -(-n * dst // src)


def test_resample_keeps_dtype_and_dc_level():
    for dtype in (np.int16, np.float32, np.float64):
        x = np.full(4800, 1000, dtype) if dtype == np.int16 else np.full(4800, 0.25, dtype)
        out = resample(x, 48000, 16000)
        assert out.dtype == dtype
        assert np.allclose(_middle(out), x[0], atol=1 if dtype == np.int16 else 1e-4)


def test_resample_int16_clips_instead_of_wrapping():
    square = np.where(np.arange(4800) // 40 % 2, 32767, -32768).astype(np.int16)
    out = resample(square, 24000, 48000)
    assert out.max() == 32767 and out.min() == -32768  # overshoot clipped
    positive = np.repeat(square > 0, 2)
    assert np.all(out[positive & (np.roll(positive, 8) & np.roll(positive, -8))] > 0)


def test_identity_rate_returns_a_copy():
    x = np.arange(10, dtype=np.int16)
    out = resample(x, 24000, 24000)
    assert np.array_equal(out, x) and out is not x
    out[0] = 99
    assert x[0] == 0
    stream = Resampler(16000, 16000)
    assert stream.process(x).tolist() == x.tolist()
    assert len(stream.flush()) == 0


def _stream(resampler, x, rng):
    outs, i = [], 0
    while i < len(x):
        n = int(rng.choice([0, 1, 1, 2, 7, 160, 480, int(rng.integers(0, 2000))]))
        outs.append(resampler.process(x[i : i + n]))
        i += n
    outs.append(resampler.flush())
    return np.concatenate(outs)


@pytest.mark.parametrize(("src", "dst"), RATE_PAIRS + [(48000, 8000), (8000, 48000), (11025, 22050),
                                         (8001, 24000), (24000, 8001)])  # interpolated weights
def test_streaming_equals_one_shot(src, dst):
    rng = np.random.default_rng(src * 7 + dst)
    noise = rng.standard_normal(src // 3)
    for x, tolerance in [(noise.astype(np.float32) * 0.3, 1e-5), ((noise * 8000).astype(np.int16), 1)]:
        resampler = Resampler(src, dst)
        streamed, one_shot = _stream(resampler, x, rng), resample(x, src, dst)
        assert streamed.dtype == one_shot.dtype and len(streamed) == len(one_shot)
        assert np.abs(streamed.astype(np.float64) - one_shot).max() <= tolerance
        again = _stream(resampler, x, rng)  # flush reset the stream
        assert np.abs(again.astype(np.float64) - one_shot).max() <= tolerance


def test_streaming_long_input_spanning_many_blocks():
    x = np.random.default_rng(3).standard_normal(200_000).astype(np.float32)
    resampler = Resampler(48000, 24000)
    parts = [resampler.process(x[:150_001]), resampler.process(x[150_001:]), resampler.flush()]
    streamed = np.concatenate(parts)
    assert np.abs(streamed - resample(x, 48000, 24000)).max() <= 1e-5


def test_streaming_latency_is_a_few_milliseconds():
    resampler = Resampler(48000, 24000)
    out = resampler.process(np.zeros(960, np.int16))  # 20 ms in
    assert 480 - ms_to_samples(5, 24000) <= len(out) < 480


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: resample(np.zeros((2, 2), np.int16), 48000, 24000), r"resample: .*\(2, 2\)"),
        (lambda: resample(np.zeros(4, np.int32), 48000, 24000), "resample: .*dtype int32"),
        (lambda: resample([0, 1], 48000, 24000), "resample: .*got list"),
        (lambda: resample(np.zeros(4, np.int16), 0, 24000), "src_rate: .*got 0"),
        (lambda: resample(np.zeros(4, np.int16), 48000, 24000.0), "dst_rate: .*got 24000.0"),
        (lambda: Resampler(48000, -1), "Resampler dst_rate: .*got -1"),
        (lambda: Resampler(48000, 24000).process(np.zeros(3, np.uint8)), "Resampler.process: .*dtype uint8"),
    ],
)
def test_resample_errors_name_the_problem(call, named):
    with pytest.raises(ValueError, match=named):
        call()


def test_resampler_rejects_a_dtype_change_mid_stream():
    resampler = Resampler(48000, 24000)
    resampler.process(np.zeros(0, np.float64))  # empty chunks do not fix the dtype
    resampler.process(np.zeros(10, np.int16))
    with pytest.raises(ValueError, match="got float32 samples after int16 ones"):
        resampler.process(np.zeros(10, np.float32))


# --- frames and milliseconds ------------------------------------------------------


def test_ms_to_samples_rounds_to_nearest_with_halves_up():
    assert ms_to_samples(20, 24000) == 480
    assert ms_to_samples(10, 44100) == 441
    assert ms_to_samples(0.0625, 8000) == 1  # 0.5 samples
    assert ms_to_samples(0.05, 8000) == 0  # 0.4 samples
    assert ms_to_samples(0.075, 8000) == 1  # 0.6 samples
    assert ms_to_samples(0, 8000) == 0
    assert samples_to_ms(480, 24000) == 20.0
    assert samples_to_ms(1, 3) == pytest.approx(333.3333333)


@given(st.integers(0, 10**7), st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000]))
def test_samples_ms_round_trip(n, rate):
    assert ms_to_samples(samples_to_ms(n, rate), rate) == n


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: ms_to_samples(-1, 24000), "got -1"),
        (lambda: ms_to_samples(float("nan"), 24000), "got nan"),
        (lambda: ms_to_samples(20, 0), "rate: .*got 0"),
        (lambda: samples_to_ms(10, -5), "rate: .*got -5"),
        (lambda: split_frames(np.zeros(10, np.int16), 24000, 0), "must be > 0 ms, got 0"),
        (lambda: split_frames(np.zeros(10, np.int16), 24000, -20), "got -20"),
        (lambda: split_frames(np.zeros(10, np.int16), 8000, 0.01), "shorter than one sample"),
    ],
)
def test_time_errors_name_the_problem(call, named):
    with pytest.raises(ValueError, match=named):
        call()


def test_split_frames_keeps_the_partial_tail_as_views():
    pcm = np.arange(1000, dtype=np.int16)
    frames = split_frames(pcm, 24000, 20)
    assert [len(f) for f in frames] == [480, 480, 40]
    assert np.array_equal(np.concatenate(frames), pcm)
    assert all(np.shares_memory(f, pcm) for f in frames)
    assert split_frames(pcm[:0], 24000, 20) == []
    assert [len(f) for f in split_frames(pcm[:960], 24000, 20)] == [480, 480]


# --- WAV files ------------------------------------------------------------------


def _write_raw_wav(path, raw, channels, width, rate):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


def test_wav_write_read_round_trip(tmp_path):
    pcm = (np.random.default_rng(5).standard_normal(16000) * 6000).astype(np.int16)
    path = tmp_path / "voice.wav"
    write_wav(path, pcm, 16000)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 16000, 16000)
    back, rate = read_wav(path)
    assert rate == 16000 and back.dtype == np.int16
    assert np.array_equal(back, pcm)
    write_wav(str(path), pcm[::3].astype(">i2"), 8000)  # str path, strided big-endian input
    back, rate = read_wav(str(path))
    assert rate == 8000 and np.array_equal(back, pcm[::3])


def test_read_wav_downmixes_stereo_by_averaging(tmp_path):
    left = np.array([100, -100, 30000, -32768, 7], np.int16)
    right = np.array([300, 102, 32000, -32768, -3], np.int16)
    path = tmp_path / "stereo.wav"
    _write_raw_wav(path, np.column_stack([left, right]).astype("<i2").tobytes(), 2, 2, 44100)
    mono, rate = read_wav(path)
    assert rate == 44100
    assert mono.tolist() == [200, 1, 31000, -32768, 2]


def test_read_wav_converts_8_bit_unsigned(tmp_path):
    path = tmp_path / "u8.wav"
    _write_raw_wav(path, bytes([0, 64, 128, 192, 255]), 1, 1, 8000)
    assert read_wav(path)[0].tolist() == [-32768, -16384, 0, 16384, 32512]


def test_read_wav_converts_8_bit_stereo(tmp_path):
    path = tmp_path / "u8s.wav"
    _write_raw_wav(path, bytes([0, 128, 255, 255]), 2, 1, 8000)
    assert read_wav(path)[0].tolist() == [-16384, 32512]


@pytest.mark.parametrize(
    ("width", "values", "expected"),
    [
        (3, [0x7FFFFF, -0x800000, 0x123456, -1, 0], [32767, -32768, 0x1234, -1, 0]),
        (4, [0x7FFFFFFF, -0x80000000, 0x12345678, -1, 0x10000], [32767, -32768, 0x1234, -1, 1]),
    ],
)
def test_read_wav_converts_24_and_32_bit(tmp_path, width, values, expected):
    raw = b"".join(v.to_bytes(width, "little", signed=True) for v in values)
    path = tmp_path / f"deep{width}.wav"
    _write_raw_wav(path, raw, 1, width, 48000)
    pcm, rate = read_wav(path)
    assert rate == 48000 and pcm.tolist() == expected


def test_read_wav_drops_a_truncated_last_frame(tmp_path):
    path = tmp_path / "cut.wav"
    _write_raw_wav(path, struct.pack("<4h", 1, 2, 3, 4), 1, 2, 8000)
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # header still promises 4 frames
    assert read_wav(path)[0].tolist() == [1, 2]


def _float_wav_bytes():
    data = struct.pack("<2f", 0.5, -0.5)
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)  # WAVE_FORMAT_IEEE_FLOAT
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (_float_wav_bytes(), "format code 3 (IEEE float)"),
        (b"this is not a wav file at all", "RIFF"),
        (b"", ""),
    ],
)
def test_read_wav_rejects_non_pcm_and_garbage_naming_the_file(tmp_path, content, named):
    path = tmp_path / "bad input.wav"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="bad input.wav: not a readable PCM WAV file") as info:
        read_wav(path)
    assert named in str(info.value)


def test_read_wav_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.wav"):
        read_wav(tmp_path / "nothing.wav")


def test_write_wav_rejects_bad_samples_and_rate(tmp_path):
    with pytest.raises(ValueError, match="write_wav: .*dtype float32"):
        write_wav(tmp_path / "a.wav", np.zeros(3, np.float32), 8000)
    with pytest.raises(ValueError, match="write_wav rate: .*got 0"):
        write_wav(tmp_path / "a.wav", np.zeros(3, np.int16), 0)
    assert not (tmp_path / "a.wav").exists()
