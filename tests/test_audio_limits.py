"""Values that size audio are checked where they enter: rates from a server or a WAV
file, WAV headers, base64 deltas. Each bad value is a clear ValueError, and no value
can make rtproto allocate memory in proportion to it."""

from __future__ import annotations

import asyncio
import math
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rtproto import codec
from rtproto.audio import WavSource
from rtproto.codec import SAMPLE_RATES, Resampler, WireFormat, read_wav, resample

LOW, HIGH = SAMPLE_RATES.start, SAMPLE_RATES.stop - 1
OUTSIDE = [0, 1, LOW - 1, HIGH + 1, 10**9]


def outside_message(rate: int) -> str:
    return f"sample rate {rate} Hz is outside {LOW}-{HIGH} Hz"


# -- rates ----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1, LOW - 1, HIGH + 1, 10**9])
def test_a_server_format_rate_outside_the_range_names_the_path(rate):
    path = "$.session.audio.output.format"
    with pytest.raises(ValueError) as info:
        WireFormat.from_ga({"type": "audio/pcm", "rate": rate}, path=path)
    assert str(info.value) == f"{path}.rate: {outside_message(rate)}"
    with pytest.raises(ValueError, match=f"WireFormat.rate: {outside_message(rate)}"):
        WireFormat("pcm16", rate)


def test_the_range_ends_are_accepted_everywhere():
    for rate in (LOW, HIGH):
        assert WireFormat.from_ga({"type": "audio/pcm", "rate": rate}).rate == rate
        assert len(resample(np.zeros(LOW, np.int16), LOW, rate)) == rate


@pytest.mark.parametrize("rate", OUTSIDE)
def test_resamplers_refuse_rates_outside_the_range(rate):
    with pytest.raises(ValueError, match="Resampler src_rate"):
        Resampler(rate, 24000)
    with pytest.raises(ValueError, match="resample dst_rate"):
        resample(np.zeros(10, np.int16), 24000, rate)


rates = st.integers(LOW, HIGH)


@given(rates, rates)
@example(8001, 24000)  # no common factor: a polyphase table would have 8000 phases
@example(191999, 8000)  # the longest filter
@example(8000, 191999)  # the most outputs
@example(48000, 24000)
@settings(max_examples=12, deadline=None)
def test_any_pair_of_rates_resamples_a_second_in_bounded_memory(src, dst):
    x = (np.random.default_rng(src ^ dst).standard_normal(src) * 3000).astype(np.int16)
    tracemalloc.start()
    try:
        resampler = Resampler(src, dst)
        chunk = src // 50
        out = [resampler.process(x[i : i + chunk]) for i in range(0, src, chunk)]
        out.append(resampler.flush())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(map(len, out)) == dst
    assert peak < 6 * 2**20  # the input itself is up to 0.4 MB


def _gain_db(out: np.ndarray, reference: np.ndarray) -> float:
    middle = out[len(out) // 10 : -len(out) // 10].astype(np.float64)
    return 20 * math.log10(np.sqrt(np.mean(middle**2)) / np.sqrt(np.mean(reference**2)))


@pytest.mark.parametrize(("src", "dst"), [(8001, 24000), (24000, 8001), (191999, 8000)])
def test_awkward_rate_pairs_keep_the_passband_and_an_80_db_stopband(src, dst):
    nyquist, n = min(src, dst) / 2, src // 2
    times = np.arange(n) / src
    for freq in np.linspace(100, 0.75 * nyquist, 4):
        x = 0.5 * np.sin(2 * np.pi * freq * times)
        assert abs(_gain_db(resample(x, src, dst), x)) <= 0.05
    if dst < src:  # nothing above the new Nyquist frequency aliases back
        for freq in np.linspace(nyquist + 50, src / 2 - 50, 4):
            x = 0.5 * np.sin(2 * np.pi * freq * times)
            assert _gain_db(resample(x, src, dst), x) <= -80.0
    else:  # no images above the old Nyquist frequency
        x = 0.5 * np.sin(2 * np.pi * 0.6 * nyquist * times)
        out = resample(x, src, dst)[n // 10 : -n // 10]
        power = np.abs(np.fft.rfft(out * np.kaiser(len(out), 20))) ** 2
        above = np.fft.rfftfreq(len(out), 1 / dst) > nyquist + 50
        assert 10 * math.log10(power[above].sum() / power.sum()) <= -80.0


# -- WAV headers ----------------------------------------------------------------------


def riff(fmt: bytes | None, data: bytes, *, data_size: int | None = None,
         riff_size: int | None = None, after: bytes = b"") -> bytes:
    """A RIFF WAVE file with ``fmt`` (None: no fmt chunk), ``data`` and chunks ``after``."""
    body = b"WAVE"
    if fmt is not None:
        body += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    size = len(data) if data_size is None else data_size
    body += b"data" + struct.pack("<I", size) + data + b"\0" * (len(data) % 2) + after
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def fmt_chunk(code: int = 1, channels: int = 1, rate: int = 24000, bits: int = 16) -> bytes:
    width = (bits + 7) // 8
    return struct.pack("<HHIIHH", code, channels, rate, (rate * channels * width) & 0xFFFFFFFF, channels * width, bits)


def extensible(channels: int, rate: int, bits: int, sub_code: int = 1) -> bytes:
    guid = struct.pack("<H", sub_code) + bytes.fromhex("000000001000800000aa00389b71")
    return fmt_chunk(0xFFFE, channels, rate, bits) + struct.pack("<HHI", 22, bits, 3) + guid


def samples(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (riff(fmt_chunk(channels=0), samples(1, 2)), "0 channels"),
        (riff(fmt_chunk(rate=1), samples(1, 2)), f": {outside_message(1)}"),
        (riff(fmt_chunk(rate=4_000_000_000), samples(1, 2)), outside_message(4_000_000_000)),
        (riff(fmt_chunk(bits=64), samples(1, 2, 3, 4)), "64-bit integer PCM samples"),
        (riff(fmt_chunk(bits=0), samples(1, 2)), "0-bit integer PCM samples"),
        (riff(fmt_chunk(code=3, bits=32), samples(1, 2)), "format code 3 (IEEE float)"),
        (riff(fmt_chunk(code=2, bits=4), samples(1, 2)), "format code 2 (unsupported)"),
        (riff(fmt_chunk(code=7, bits=16), samples(1, 2)), "16-bit mu-law samples"),
        (riff(extensible(1, 24000, 32, sub_code=3), samples(1, 2)), "format code 3 (IEEE float)"),
        (riff(None, samples(1, 2)), "no fmt chunk before the data"),
        (riff(fmt_chunk()[:12], samples(1, 2)), "fmt chunk of 12 bytes"),
        (riff(fmt_chunk(), b"")[:-8], "no data chunk"),
        (b"RIFF\x00\x00\x00\x00WAV", "no RIFF WAVE header"),
    ],
)
def test_bad_wav_headers_are_value_errors_naming_the_file(tmp_path, content, named):
    path = tmp_path / "in.wav"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        read_wav(path)
    assert str(info.value).startswith(f"{path}: ")
    assert named in str(info.value)


def test_a_huge_declared_length_reads_only_what_the_file_holds(tmp_path):
    path = tmp_path / "in.wav"
    path.write_bytes(riff(fmt_chunk(), samples(1, 2, 3), data_size=0xFFFFFFF0, riff_size=0xFFFFFFFF))
    tracemalloc.start()
    try:
        pcm, rate = read_wav(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (pcm.tolist(), rate) == ([1, 2, 3], 24000)
    assert peak < 2**16


def test_sizes_a_dead_writer_left_stale_are_repaired_on_reading(tmp_path):
    path = tmp_path / "in.wav"
    path.write_bytes(riff(fmt_chunk(), samples(1, 2, 3, 4, 5), data_size=4, riff_size=40))
    assert read_wav(path)[0].tolist() == [1, 2, 3, 4, 5]
    path.write_bytes(riff(fmt_chunk(), samples(1, 2, 3, 4, 5), data_size=0, riff_size=36, after=b"\7"))
    assert read_wav(path)[0].tolist() == [1, 2, 3, 4, 5]  # the torn last sample is dropped


def test_consistent_sizes_are_trusted(tmp_path):
    path = tmp_path / "in.wav"
    path.write_bytes(riff(fmt_chunk(), samples(1, 2), after=b"LIST\x04\x00\x00\x00abcd"))
    assert read_wav(path)[0].tolist() == [1, 2]  # the LIST chunk after the data is no audio
    path.write_bytes(riff(fmt_chunk(bits=8), bytes([128, 255, 0])))  # odd size, one pad byte
    assert read_wav(path)[0].tolist() == [0, 32512, -32768]


def test_extensible_and_g711_wav_files_are_read(tmp_path):
    path = tmp_path / "in.wav"
    left, right = [0x7FFFFF, -0x800000, 0x123456], [0x7FFFFF, -0x800000, -0x123456]
    frames = b"".join(a.to_bytes(3, "little", signed=True) + b.to_bytes(3, "little", signed=True)
                      for a, b in zip(left, right))
    path.write_bytes(riff(extensible(2, 48000, 24), frames))
    assert read_wav(path)[0].tolist() == [32767, -32768, 0] and read_wav(path)[1] == 48000
    codes = bytes(range(0, 256, 17))
    for code, decode in ((7, codec.mulaw_decode), (6, codec.alaw_decode)):
        path.write_bytes(riff(fmt_chunk(code=code, rate=8000, bits=8), codes))
        pcm, rate = read_wav(path)
        assert rate == 8000 and np.array_equal(pcm, decode(codes))


def test_a_wav_file_with_no_frames_reads_empty_but_is_no_input(tmp_path):
    path = tmp_path / "empty.wav"
    codec.write_wav(path, np.zeros(0, np.int16), 24000)
    assert read_wav(path)[0].size == 0
    with pytest.raises(ValueError, match=f"^{path}: the file holds no audio"):
        WavSource(path)


def test_wav_source_refuses_a_1_hz_file_before_resampling(tmp_path):
    path = tmp_path / "x.wav"
    path.write_bytes(riff(fmt_chunk(rate=1), samples(*range(100))))
    with pytest.raises(ValueError) as info:
        WavSource(path)
    assert str(info.value) == f"{path}: {outside_message(1)}"


def test_wav_source_mixes_stereo_down_to_mono(tmp_path):
    path = tmp_path / "stereo.wav"
    path.write_bytes(riff(fmt_chunk(channels=2), samples(*[1000, 3000] * 480)))

    async def first_chunk() -> np.ndarray:
        source = WavSource(path, realtime=False)
        async for chunk in source.chunks():
            source.close()
            return chunk

    assert asyncio.run(first_chunk()).tolist() == [2000] * 480


def test_wav_writers_refuse_rates_outside_the_range(tmp_path):
    from rtproto.audio import WavSink

    with pytest.raises(ValueError, match=f"write_wav rate: {outside_message(1)}"):
        codec.write_wav(tmp_path / "a.wav", np.zeros(3, np.int16), 1)
    with pytest.raises(ValueError, match=f"^{tmp_path / 'b.wav'}: {outside_message(10**9)}"):
        WavSink(tmp_path / "b.wav", rate=10**9)
    assert not any(tmp_path.iterdir())


# -- base64 deltas --------------------------------------------------------------------


FORMATS = [WireFormat(), WireFormat("pcmu", 8000), WireFormat("pcma", 8000)]


@given(st.one_of(st.text(max_size=40), st.binary(max_size=40)), st.sampled_from(FORMATS))
@settings(max_examples=200)
def test_any_delta_decodes_to_int16_or_raises_value_error(delta, fmt):
    try:
        pcm = codec.decode_audio(delta, fmt)
    except ValueError as exc:
        assert str(exc).startswith(("b64_to_pcm16: ", "decode_audio("))
    else:
        assert pcm.dtype == np.int16 and pcm.ndim == 1


def test_odd_and_invalid_deltas_are_value_errors():
    with pytest.raises(ValueError, match="odd byte count"):
        codec.decode_audio("AAAA", WireFormat())  # 3 bytes
    assert codec.decode_audio("AAAA", WireFormat("pcmu", 8000)).size == 3
    for bad in ("A", "AAA=A", "****", None, 5):
        with pytest.raises(ValueError):
            codec.decode_audio(bad, WireFormat())
