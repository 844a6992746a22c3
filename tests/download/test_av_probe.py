from __future__ import annotations

import random
import struct

import pytest

from media_analysis.engine.av_probe import AvInfo, probe_av
from tests.support import av_samples as av


def test_mp4_duration_and_video_track_size():
    info = probe_av(av.mp4(timescale=1000, duration=12_345, width=640, height=360))
    assert info == AvInfo(mime_type="video/mp4", duration=pytest.approx(12.345), width=640, height=360)


def test_mp4_version_1_boxes():
    info = probe_av(av.mp4(version=1, timescale=90_000, duration=90_000 * 7, width=1920, height=1080))
    assert (info.duration, info.width, info.height) == (pytest.approx(7.0), 1920, 1080)


def test_quicktime_brand():
    info = probe_av(av.mp4(brand=b"qt  ", duration=2_000))
    assert info.mime_type == "video/quicktime"
    assert info.duration == pytest.approx(2.0)


def test_mp4_without_video_track_is_audio():
    info = probe_av(av.mp4(audio_only=True, brand=b"M4A ", duration=61_000))
    assert info == AvInfo(mime_type="audio/mp4", duration=pytest.approx(61.0), width=None, height=None)


def test_mp4_with_moov_after_the_media_data_gives_no_duration():
    data = av.mp4(moov_first=False, mdat_size=100_000)
    info = probe_av(data[: 64 * 1024], total_size=len(data))
    assert info == AvInfo(mime_type="video/mp4")


def test_mp4_head_cut_inside_moov_still_gives_the_duration():
    data = av.mp4(duration=3_000)
    moov = data.index(b"moov") - 4
    # mvhd is complete, the tracks are cut off.
    info = probe_av(data[: moov + 8 + 108 + 20])
    assert info.duration == pytest.approx(3.0)
    assert info.width is None


def test_webm_duration_and_pixel_size():
    info = probe_av(av.webm(duration=5000.0, width=1280, height=720))
    assert info == AvInfo(mime_type="video/webm", duration=pytest.approx(5.0), width=1280, height=720)


def test_matroska_with_float32_duration_and_custom_timecode_scale():
    info = probe_av(av.webm(doc_type=b"matroska", float_size=4, duration=250.0, timecode_scale=10_000_000))
    assert info.mime_type == "video/x-matroska"
    assert info.duration == pytest.approx(2.5)


def test_webm_with_known_segment_size_and_audio_only():
    assert probe_av(av.webm(unknown_segment_size=False)).duration == pytest.approx(5.0)
    info = probe_av(av.webm(audio_only=True, duration=1500.0))
    assert info == AvInfo(mime_type="audio/webm", duration=pytest.approx(1.5))


def test_wav_duration_from_byte_rate_and_data_size():
    info = probe_av(av.wav(seconds=0.5, sample_rate=44_100, channels=2, bits=16))
    assert info == AvInfo(mime_type="audio/wav", duration=pytest.approx(0.5))


def test_streamed_wav_duration_from_total_size():
    data = av.wav(seconds=0.25, sample_rate=8_000, channels=1, bits=8, streamed=True)
    assert probe_av(data[:256]).duration is None
    assert probe_av(data[:256], total_size=len(data)).duration == pytest.approx(0.25)


@pytest.mark.parametrize("mono", [False, True])
def test_vbr_mp3_duration_from_xing_frame_count(mono):
    info = probe_av(av.mp3_vbr(frames=1000, mono=mono))
    assert info.mime_type == "audio/mpeg"
    assert info.duration == pytest.approx(1000 * 1152 / 44_100)


def test_mp3_vbri_header():
    vbri = bytes(32) + b"VBRI" + struct.pack(">HHHII", 1, 0, 75, 1_000_000, 500)
    data = av.mp3_frame(128, payload=vbri) + av.mp3_frame(128) * 4
    assert probe_av(data).duration == pytest.approx(500 * 1152 / 44_100)


def test_cbr_mp3_duration_estimated_from_bitrate_and_total_size():
    data = av.mp3_cbr(bitrate_kbps=128, tag=True)
    audio_start = len(av.id3v2())
    info = probe_av(data, total_size=audio_start + 1_000_000)
    assert info.duration == pytest.approx(1_000_000 * 8 / 128_000)
    # Without the total size a constant bitrate says nothing about the length.
    assert probe_av(data).duration is None


def test_ogg_vorbis_duration_only_when_the_last_page_is_in_the_head():
    whole = av.ogg_vorbis(sample_rate=44_100, total_samples=441_000)
    assert probe_av(whole) == AvInfo(mime_type="audio/ogg", duration=pytest.approx(10.0))
    assert probe_av(av.ogg_vorbis(with_last_page=False)) == AvInfo(mime_type="audio/ogg")


def test_ogg_opus_duration_counts_48khz_samples_minus_pre_skip():
    assert probe_av(av.ogg_opus(seconds=3.0, pre_skip=312)).duration == pytest.approx(3.0)


def test_flac_streaminfo_duration():
    info = probe_av(av.flac(sample_rate=48_000, total_samples=96_000))
    assert info == AvInfo(mime_type="audio/flac", duration=pytest.approx(2.0))


def test_flac_after_an_id3_tag():
    assert probe_av(av.id3v2() + av.flac(total_samples=441_000)).duration == pytest.approx(10.0)


@pytest.mark.parametrize("data", [b"", b"\x00" * 64, b"GIF89a" + bytes(100), b"<html></html>", b"hello world"])
def test_unknown_content_gives_nothing(data):
    assert probe_av(data, total_size=1000) == AvInfo()


SAMPLES = {
    "mp4": av.mp4(),
    "mp4-v1": av.mp4(version=1),
    "webm": av.webm(),
    "wav": av.wav(seconds=0.01),
    "mp3-vbr": av.mp3_vbr(audio_frames=2),
    "mp3-cbr": av.mp3_cbr(audio_frames=2),
    "ogg": av.ogg_vorbis(),
    "opus": av.ogg_opus(),
    "flac": av.flac(),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_truncation_is_survived(name):
    data = SAMPLES[name][:3000]
    for end in range(len(data) + 1):
        info = probe_av(data[:end], total_size=len(SAMPLES[name]))
        assert isinstance(info, AvInfo)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_corrupted_bytes_never_raise(name):
    rng = random.Random(name)
    original = SAMPLES[name][:4096]
    for _ in range(300):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        info = probe_av(bytes(data), total_size=rng.choice([None, 0, len(data), 10**12]))
        assert info.duration is None or info.duration >= 0


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">I4s", 1, b"ftyp") + b"\xff" * 8,  # 64-bit size running past the data
        struct.pack(">I4s4s", 12, b"ftyp", b"isom") + struct.pack(">I4s", 0xFFFFFFFF, b"moov") + b"\x00" * 40,
        b"\x1a\x45\xdf\xa3\x08" + b"\xff" * 40,  # EBML with a size of all ones
        b"\x1a\x45\xdf\xa3\x00" + b"\x00" * 40,  # invalid variable-length integer
        b"RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff",  # data before fmt
        b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + bytes(16) + b"data\x10\x00\x00\x00",  # byte rate 0
        b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f",  # tag claiming 256 MiB
        b"OggS" + b"\x00" * 22 + b"\xff",  # segment table past the end
        b"fLaC\x00\x00\x00\x22" + bytes(34),  # sample rate 0
    ],
)
def test_hostile_headers_never_raise(data):
    info = probe_av(data, total_size=len(data))
    assert info.duration is None or info.duration >= 0
    assert info.width is None
    assert info.height is None
