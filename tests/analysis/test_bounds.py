"""A single hostile file ends within a stated time, with its own error class, never holding a worker.

Each file is built here: progressive JPEGs with their scans repeated, ICOs whose
directory understates the embedded image, TIFFs with very many pages or a looping
chain of directories, GIFs with very many frames, and inputs slow enough for the
time limit to end them. Time bounds are generous (the suite runs beside others on
a small machine); without the checks each of these takes minutes or gigabytes.
"""

from __future__ import annotations

import json
import re
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from PIL import Image

from media_analysis.engine.errors import AnalysisTimeout, CorruptImage, DecompressionBomb, TooComplex
from media_analysis.engine.image import AnalysisOptions, ImageAnalysis, analyse_image
from media_analysis.engine.image.analyse import analyse_in_process
from media_analysis.engine.image.guarded import GuardedAnalyser, memory_limit
from media_analysis.engine.image.limits import inspect
from tests.analysis.conftest import encode, gradient

BOUND = 5.0  # seconds: generous against the minutes these files cost unchecked


@contextmanager
def within(seconds: float = BOUND, *, clock: Callable[[], float] = time.perf_counter) -> Iterator[None]:
    """Wall time by default; with ``time.process_time``, the CPU time of this process: what the
    work itself costs, however loaded the machine is."""
    started = clock()
    yield
    elapsed = clock() - started
    assert elapsed < seconds, f"took {elapsed:.1f} s by {clock.__name__}"


def start_worker(options: AnalysisOptions | None = None) -> None:
    """Start the guarded worker that ``options`` use, so that a bound times the file, not the start of a process
    (its imports take seconds of their own on a loaded machine). A file with many scans is not ordinary: it is
    analysed there."""
    assert analyse_image(with_scans(progressive(), 30), options or AnalysisOptions()).width == 1200


# --- Progressive JPEG with repeated scans ----------------------------------------------------

_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _scans(data: bytes) -> list[bytes]:
    """Each SOS segment of a JPEG with its entropy-coded data."""
    scans = []
    for found in re.finditer(rb"\xff\xda", data):
        length = int.from_bytes(data[found.start() + 2 : found.start() + 4], "big")
        end = _MARKER.search(data, found.start() + 2 + length)
        scans.append(data[found.start() : end.start() if end else len(data)])
    return scans


def progressive(size: tuple[int, int] = (1200, 800)) -> bytes:
    return encode(gradient(size), "JPEG", progressive=True, quality=80)


def with_scans(data: bytes, total: int, *, repeat: str = "smallest") -> bytes:
    """The JPEG with one of its scans repeated until it has ``total`` scans.

    Repeating a refinement scan leaves a decodable image, and each repetition is one
    more pass of the decoder over the whole image.
    """
    scans = _scans(data)
    chosen = min(scans, key=len) if repeat == "smallest" else scans[-1]
    assert data.endswith(b"\xff\xd9")
    return data[:-2] + chosen * (total - len(scans)) + b"\xff\xd9"


def test_a_progressive_jpeg_has_about_ten_scans():
    data = progressive()
    assert 5 <= len(_scans(data)) <= 20
    assert inspect(data, max_pixels=10**8, max_scans=100, max_frames=10).scans == len(_scans(data))


@pytest.mark.parametrize(
    ("total", "repeat", "size"),
    [
        (100_000, "smallest", (1200, 800)),  # the audit's file: a few megabytes of tiny scans
        (10_000, "last", (1200, 800)),  # fewer, larger scans
        (2_000, "smallest", (4000, 3000)),  # a large image, where each scan costs more
        (101, "smallest", (1200, 800)),  # just over the cap
    ],
)
def test_jpeg_with_too_many_scans_is_refused_at_once(total, repeat, size):
    data = with_scans(progressive(size), total, repeat=repeat)

    with within(1.0), pytest.raises(TooComplex) as caught:
        analyse_image(data)
    assert caught.value.error_class == "too_complex"
    assert caught.value.mime_type == "image/jpeg"


@pytest.mark.slow
def test_jpeg_at_the_scan_cap_is_analysed():
    # Unusually many scans, so the analysis runs in a guarded process, within the limit.
    data = with_scans(progressive(), 100)
    start_worker()

    with within():
        result = analyse_image(data)
    assert (result.width, result.height, result.format) == (1200, 800, "JPEG")


def test_baseline_jpeg_with_repeated_scans_ends_at_once():
    # A sequential image whose first scan holds every component is decoded from that
    # scan alone: the repetitions are never decoded, and not counted either.
    data = encode(gradient((2000, 1500)), "JPEG", quality=80)
    (scan,) = _scans(data)
    repeated = data[:-2] + scan * 100 + b"\xff\xd9"
    assert inspect(repeated, max_pixels=10**8, max_scans=100, max_frames=10).scans == 1

    with within(1.0):
        try:
            analyse_image(repeated)
        except CorruptImage:
            pass  # libjpeg may refuse the extra scans: either way it ends at once


def test_scan_cap_is_a_setting():
    data = progressive()
    scans = len(_scans(data))

    assert analyse_image(data, AnalysisOptions(max_scans=scans)).width == 1200
    with pytest.raises(TooComplex):
        analyse_image(data, AnalysisOptions(max_scans=scans - 1))


def test_scans_after_the_end_of_image_are_not_counted():
    # Data after the first image's EOI (an MPO's second image, trailing junk) is never decoded.
    data = progressive()
    trailing = with_scans(data, 500)[len(data) - 2 :]

    assert analyse_image(data + trailing).width == 1200


# --- ICO whose directory understates the embedded image --------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_declaring(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def bmp_declaring(width: int, height: int) -> bytes:
    """An icon bitmap (BITMAPINFOHEADER, height doubled for the mask) with a little pixel data."""
    return struct.pack("<IiiHHIIiiII", 40, width, 2 * height, 1, 32, 0, 0, 0, 0, 0, 0) + b"\x00" * 4096


def ico(*images: tuple[int, bytes], kind: int = 1) -> bytes:
    """An ICO (or CUR, kind 2) whose directory says each image is ``side`` square (0 means 256)."""
    directory = struct.pack("<HHH", 0, kind, len(images))
    offset = 6 + 16 * len(images)
    entries, payloads = b"", b""
    for side, payload in images:
        entries += struct.pack("<BBBBHHII", side % 256, side % 256, 0, 0, 1, 32, len(payload), offset)
        payloads += payload
        offset += len(payload)
    return directory + entries + payloads


@pytest.mark.parametrize(
    "icon",
    [
        ico((256, png_declaring(13_300, 13_300))),  # the audit's file
        ico((16, encode(gradient((16, 16)), "PNG")), (256, png_declaring(20_000, 20_000))),
        ico((256, png_declaring(20_000, 20_000)), (16, encode(gradient((16, 16)), "PNG"))),
        ico((256, bmp_declaring(13_300, 13_300))),
    ],
    ids=["png", "png-second", "png-first-of-two", "bmp"],
)
def test_ico_with_an_oversized_embedded_image_is_refused_before_decoding(icon):
    with within(1.0), pytest.raises(DecompressionBomb) as caught:
        analyse_image(icon)
    assert caught.value.error_class == "decompression_bomb"


def test_ico_embedding_a_real_png_over_the_pixel_limit():
    icon = ico((256, encode(gradient((1200, 1000)), "PNG")))

    with pytest.raises(DecompressionBomb):
        analyse_image(icon, AnalysisOptions(max_pixels=1_000_000))


def test_cur_embedded_sizes_are_checked_too():
    with pytest.raises(DecompressionBomb):
        inspect(ico((256, png_declaring(13_300, 13_300)), kind=2), max_pixels=10**8, max_scans=100, max_frames=10)


def test_ordinary_icons_are_analysed():
    data = encode(gradient((64, 64)), "ICO", sizes=[(16, 16), (32, 32), (64, 64)])

    result = analyse_image(data)
    assert (result.format, result.width) == ("ICO", 64)


# --- TIFF with very many pages ----------------------------------------------------------------


def tiff_pages(pages: int, *, loop_to: int | None = None) -> bytes:
    """A little-endian TIFF of ``pages`` one-pixel grey pages sharing one strip.

    With ``loop_to``, the last directory points back to that page's directory.
    """
    tags = 8
    ifd_size = 2 + tags * 12 + 4
    strip = 8
    first = 9  # after the header and the one-byte strip
    offsets = [first + index * ifd_size for index in range(pages)]
    parts = [b"II*\x00", struct.pack("<I", first), b"\x80"]
    for index in range(pages):
        following = offsets[index + 1] if index + 1 < pages else (offsets[loop_to] if loop_to is not None else 0)
        entries = [
            (256, 4, 1, 1),  # ImageWidth
            (257, 4, 1, 1),  # ImageLength
            (258, 3, 1, 8),  # BitsPerSample
            (259, 3, 1, 1),  # Compression: none
            (262, 3, 1, 1),  # Photometric: black is zero
            (273, 4, 1, strip),  # StripOffsets
            (278, 4, 1, 1),  # RowsPerStrip
            (279, 4, 1, 1),  # StripByteCounts
        ]
        parts.append(struct.pack("<H", tags))
        parts.extend(struct.pack("<HHII", tag, kind, count, value) for tag, kind, count, value in entries)
        parts.append(struct.pack("<I", following))
    return b"".join(parts)


def test_hand_built_tiff_is_a_valid_tiff():
    result = analyse_image(tiff_pages(3))
    assert (result.format, result.width, result.frames) == ("TIFF", 1, 3)


@pytest.mark.parametrize("pages", [10_001, 30_000, 100_000])
def test_tiff_with_too_many_pages_is_refused_at_once(pages):
    data = tiff_pages(pages)

    with within(1.0), pytest.raises(TooComplex) as caught:
        analyse_image(data)
    assert caught.value.error_class == "too_complex"
    assert caught.value.mime_type == "image/tiff"


@pytest.mark.slow
def test_tiff_at_the_page_cap_is_counted_in_time():
    # Counted in this process, so that its CPU time is the work's own; the guarded path
    # gives the same count under its time limit.
    data = tiff_pages(10_000)
    with within(clock=time.process_time):
        assert analyse_in_process(data).frames == 10_000
    assert analyse_image(data).frames == 10_000


@pytest.mark.slow
@pytest.mark.parametrize(("pages", "loop_to", "frames"), [(1, 0, 1), (2, 0, 2), (5_000, 2_500, 5_000)])
def test_tiff_whose_directories_loop_ends(pages, loop_to, frames):
    data = tiff_pages(pages, loop_to=loop_to)
    with within(clock=time.process_time):
        assert analyse_in_process(data).frames == frames
    assert analyse_image(data).frames == frames


@pytest.mark.slow
def test_tiff_written_by_pillow_with_many_pages():
    frames = [Image.new("L", (1, 1), index % 256) for index in range(300)]
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])

    assert analyse_image(data).frames == 300
    with within(1.0), pytest.raises(TooComplex):
        analyse_image(data, AnalysisOptions(max_frames=299))


# --- GIF with very many frames ----------------------------------------------------------------


def gif_frames(frames: int, *, control: bool = True) -> bytes:
    """A GIF of ``frames`` one-pixel frames, each image block copied from a real one-frame GIF."""
    single = encode(Image.new("P", (1, 1)), "GIF")
    start = single.index(b"\x2c")  # the image descriptor (no extension before it in Pillow's output)
    image = single[start:-1]
    extension = b"\x21\xf9\x04\x00\x01\x00\x00\x00" if control else b""  # graphic control: a delay
    return single[:start] + (extension + image) * frames + b"\x3b"


def test_hand_built_gif_is_a_valid_gif():
    assert analyse_image(gif_frames(3)).frames == 3


@pytest.mark.parametrize(("frames", "control"), [(10_001, True), (100_000, True), (200_000, False)])
def test_gif_with_too_many_frames_is_refused_at_once(frames, control):
    data = gif_frames(frames, control=control)

    with within(1.0), pytest.raises(TooComplex) as caught:
        analyse_image(data)
    assert caught.value.error_class == "too_complex"
    assert caught.value.mime_type == "image/gif"


def test_gif_at_the_frame_cap_is_analysed_in_time():
    data = gif_frames(10_000)
    start_worker()
    with within():
        assert analyse_image(data).frames == 10_000


def test_gif_written_by_pillow_with_many_frames():
    frames = [Image.new("L", (8, 8), index % 256) for index in range(300)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])

    assert analyse_image(data).frames == 300
    with pytest.raises(TooComplex):
        analyse_image(data, AnalysisOptions(max_frames=299))


def test_animated_webp_and_apng_frames_are_capped():
    frames = [gradient((32, 32)).rotate(angle) for angle in range(0, 360, 30)]
    for fmt in ("WEBP", "PNG"):
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:])
        assert analyse_image(data).frames == len(frames)
        with pytest.raises(TooComplex):
            analyse_image(data, AnalysisOptions(max_frames=len(frames) - 1))


# --- The time limit ---------------------------------------------------------------------------


@pytest.mark.slow
def test_time_limit_stops_a_slow_decode_and_the_next_image_is_analysed():
    # At the scan cap but large: decoding takes seconds, far past the limit.
    slow = with_scans(progressive((6000, 4000)), 100, repeat="last")
    options = AnalysisOptions(timeout=0.5)
    start_worker(options)

    with within(), pytest.raises(AnalysisTimeout) as caught:
        analyse_image(slow, options)
    assert caught.value.error_class == "analysis_timeout"
    assert caught.value.mime_type == "image/jpeg"
    # The killed worker is replaced.
    assert analyse_image(with_scans(progressive(), 30), options).width == 1200


@pytest.mark.slow
def test_time_limit_applies_to_a_large_ordinary_image():
    data = encode(gradient((5000, 4000)), "PNG", compress_level=1)

    with within(), pytest.raises(AnalysisTimeout):
        analyse_image(data, AnalysisOptions(timeout=0.01))
    assert analyse_image(data).width == 5000


@pytest.mark.slow
def test_tiff_is_always_analysed_under_the_limit():
    data = encode(gradient((300, 200)), "TIFF")

    with pytest.raises(AnalysisTimeout):
        analyse_image(data, AnalysisOptions(timeout=0.001))
    assert analyse_image(data).width == 300


def test_ordinary_images_stay_in_process():
    # A limit no analysis could meet: ordinary images never go through it.
    assert analyse_image(encode(gradient((1200, 800)), "JPEG"), AnalysisOptions(timeout=1e-9)).width == 1200


# --- The memory bound -------------------------------------------------------------------------


@pytest.mark.slow
def test_worker_address_space_is_capped():
    # A 16-bit greyscale image needs far more memory than a one-megapixel budget.
    deep = Image.linear_gradient("L").resize((4000, 4000)).convert("I;16")
    data = encode(deep, "PNG")
    analyser = GuardedAnalyser(timeout=30.0, address_space=memory_limit(1_000_000))
    try:
        with pytest.raises(DecompressionBomb):
            analyser.analyse(data, AnalysisOptions())
        assert analyser.analyse(encode(gradient((300, 200)), "PNG"), AnalysisOptions())[0]["width"] == 300
    finally:
        analyser.close()


@pytest.mark.slow
def test_a_worker_gives_the_analysis_made_in_process(china):
    # Sent back as JSON, never as a pickle, yet the same fields.
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    data = encode(china, "TIFF", exif=exif)
    analyser = GuardedAnalyser(timeout=30.0, address_space=memory_limit(10**7))
    try:
        fields, thumbnail = analyser.analyse(data, AnalysisOptions())
    finally:
        analyser.close()
    expected = analyse_in_process(data, AnalysisOptions())
    assert fields == json.loads(json.dumps(expected.as_fields()))
    assert analyse_image(data) == ImageAnalysis(**fields)
    assert fields["exif_make"] == "Camera maker"
    assert thumbnail is None  # none asked for


# --- Settings ---------------------------------------------------------------------------------


def test_settings_reach_the_options(settings):
    from media_analysis.jobs.batch import analysis_options

    settings.MEDIA_ANALYSIS_MAX_SCANS = 7
    settings.MEDIA_ANALYSIS_MAX_FRAMES = 8
    settings.MEDIA_ANALYSIS_ANALYSIS_TIMEOUT = 9.5
    options = analysis_options()
    assert (options.max_scans, options.max_frames, options.timeout) == (7, 8, 9.5)
    settings.MEDIA_ANALYSIS_ANALYSIS_TIMEOUT = 0
    assert analysis_options().timeout is None


def _analyse_in_daemon(data: bytes, results) -> None:  # runs in a daemonic child
    try:
        results.put(analyse_image(data).frames)
    except Exception as exc:
        results.put(repr(exc))


@pytest.mark.slow
def test_a_daemonic_process_can_start_guarded_workers():
    # Huey's process workers are daemonic, and multiprocessing forbids them children of its own.
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_analyse_in_daemon, args=(tiff_pages(3), results), daemon=True)
    process.start()
    try:
        assert results.get(timeout=60) == 3
    finally:
        process.join(timeout=10)
