"""Text in pictures: the words of a text, the likelihood test, recognition, its bounds and its threads.

Pictures are drawn here with the DejaVu fonts; recognition tests skip, saying why,
when Tesseract or its English and French data are not installed.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from media_analysis.engine.image import AnalysisOptions, analyse_image
from media_analysis.engine.image.guarded import guarded_analyser
from media_analysis.engine.text import INSTALL_HINT, TextOptions, tesseract, words
from media_analysis.engine.text.likelihood import text_likelihood
from media_analysis.engine.text.read import read_text
from media_analysis.engine.text.tesseract import availability

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
ENGINE = availability("fra+eng")
needs_tesseract = pytest.mark.skipif(
    not ENGINE.available, reason=f"Tesseract with fra+eng is not installed: {ENGINE.reason}"
)


def captioned(
    lines: list[str], size: int = 36, picture: tuple[int, int] = (800, 500), photo: bool = False
) -> Image.Image:
    """Dark text on a light ground, or white outlined text over a noisy photo-like ground."""
    if photo:
        rng = np.random.default_rng(7)
        ground = rng.normal(110, 35, (picture[1] // 8, picture[0] // 8, 3)).clip(0, 255).astype(np.uint8)
        img = Image.fromarray(ground).resize(picture, Image.Resampling.BICUBIC)
    else:
        img = Image.new("RGB", picture, (245, 242, 230))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, size)
    y = picture[1] // 3
    for line in lines:
        if photo:
            draw.text((30, y), line, font=font, fill="white", stroke_width=max(1, size // 12), stroke_fill="black")
        else:
            draw.text((30, y), line, font=font, fill=(20, 20, 60))
        y += int(size * 1.4)
    return img


def smooth_photo(size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A picture without text: soft gradients and blobs, as in most photos."""
    y, x = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float32)
    red = 128 + 100 * np.sin(x / 90.0) * np.cos(y / 70.0)
    green = 90 + 60 * np.cos((x + y) / 150.0)
    blue = 160 - 0.1 * y
    return Image.fromarray(np.dstack([red, green, blue]).clip(0, 255).astype(np.uint8))


def encoded(img: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, quality=92) if fmt == "JPEG" else img.save(buffer, fmt)
    return buffer.getvalue()


# --- Words -------------------------------------------------------------------------


def test_words_are_lower_cased_runs_of_letters_or_digits_of_two_characters_or_more():
    assert words("Liberté, ÉGALITÉ & fraternité! 2025 a l'État_x") == Counter(
        {"liberté": 1, "égalité": 1, "fraternité": 1, "2025": 1, "état": 1}
    )
    assert words("Stop STOP stop-war") == Counter({"stop": 3, "war": 1})
    assert words("") == Counter()


# --- The likelihood test -------------------------------------------------------------


def test_lines_of_text_score_high_and_a_smooth_photo_scores_nothing():
    text = text_likelihood(np.asarray(captioned(["STOP THE WAR NOW", "climate justice for all"]).convert("L")))
    photo = text_likelihood(np.asarray(smooth_photo().convert("L")))
    assert text.score > 2.0
    assert text.lines >= 2
    assert 20 <= text.line_height <= 40  # glyphs of a 36 px font
    assert photo.score == 0
    assert photo.lines == 0
    assert photo.boxes == ()


def test_large_bold_capitals_on_a_plain_ground_are_found_at_a_coarser_scale():
    # Strokes wider than the filter joins leave the line in pieces at the test's own scale.
    result = text_likelihood(np.asarray(captioned(["LE CHAT EST SUR LA TABLE"], size=48).convert("L")))
    assert result.score > 2.0
    assert result.lines >= 1
    assert 30 <= result.line_height <= 60  # in the picture's own pixels, not the coarser picture's
    assert max(box[2] for box in result.boxes) > 400  # the coarser picture is 400 px wide


def test_a_photo_is_looked_at_again_coarser_by_the_strong_edge_step_only(monkeypatch):
    from media_analysis.engine.text import likelihood

    looks: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    real = likelihood._found

    def seen(small, steps=(likelihood.EDGE_STEP, likelihood.STRONG_EDGE_STEP)):
        looks.append((small.shape, steps))
        return real(small, steps)

    monkeypatch.setattr(likelihood, "_found", seen)
    assert text_likelihood(np.asarray(smooth_photo().convert("L"))).score == 0
    # Not flat, nothing found: a second look, coarser, for an outline's or a band's strong edges alone.
    assert looks == [((600, 800), (48, 120)), ((300, 400), (120,))]
    looks.clear()
    assert text_likelihood(np.full((600, 800), 240, dtype=np.uint8)).score == 0  # flat and empty: both steps again
    assert looks == [((600, 800), (48, 120)), ((300, 400), (48, 120))]


def test_a_captions_next_line_is_kept_though_the_line_before_lies_in_its_margin():
    from media_analysis.engine.text.likelihood import _adjoining

    line = (100, 50, 600, 80)
    assert _adjoining((150, 90, 450, 120), line)  # just below, overlapping across
    assert _adjoining((150, 10, 450, 45), line)  # just above
    assert not _adjoining((150, 130, 450, 160), line)  # a line height away
    assert not _adjoining((620, 90, 700, 120), line)  # beside, not below


def test_the_test_reads_a_reduced_picture_and_reports_boxes_in_the_pictures_own_pixels():
    big = captioned(["BREAKING NEWS FROM THE CITY"], size=120, picture=(3200, 1600))
    result = text_likelihood(np.asarray(big.convert("L")))
    assert result.score > 2.0
    assert max(box[2] for box in result.boxes) > 1600  # in the 3200 px picture, not the 800 px one the test read
    assert min(box[1] for box in result.boxes) >= 400


# --- Recognition ---------------------------------------------------------------------------


@needs_tesseract
def test_a_caption_is_read_with_its_words_language_confidence_and_area():
    reading = read_text(captioned(["WHEN THE CODE", "FINALLY WORKS"]), TextOptions())
    assert reading.status == "text"
    assert reading.text.split() == ["WHEN", "THE", "CODE", "FINALLY", "WORKS"]
    assert reading.text.count("\n") == 1  # lines kept
    assert reading.language == "eng"
    assert reading.confidence is not None
    assert reading.confidence > 70
    assert reading.text_area is not None
    assert 0.01 < reading.text_area < 0.5
    assert reading.test_ms is not None
    assert reading.recognise_ms is not None
    assert reading.engine.startswith("tesseract ")
    assert reading.engine.endswith(TextOptions().languages)


@needs_tesseract
def test_white_outlined_caption_over_a_busy_ground_is_read():
    reading = read_text(captioned(["ONE DOES NOT SIMPLY"], size=40, photo=True), TextOptions())
    assert reading.status == "text"
    assert words(reading.text) == Counter({"one": 1, "does": 1, "not": 1, "simply": 1})


@needs_tesseract
def test_french_text_is_told_french():
    reading = read_text(captioned(["Nous ne lâcherons rien", "pour les retraites"], size=32), TextOptions())
    assert {"nous", "ne", "rien", "pour", "les", "retraites"} <= set(words(reading.text))
    assert reading.language == "fra"


def test_text_over_a_photo_is_enlarged_and_screen_text_on_a_flat_ground_is_read_as_it_is():
    from media_analysis.engine.text.read import FLAT_TEXT_HEIGHT, GOOD_TEXT_HEIGHT, _for_recognition

    block = np.zeros((40, 300), dtype=np.uint8)
    over_photo, factor = _for_recognition(block, line_height=12, max_side=2500, flat=False)
    assert factor == GOOD_TEXT_HEIGHT / 12
    assert over_photo.shape == (80, 600)
    flat, factor = _for_recognition(block, line_height=FLAT_TEXT_HEIGHT + 2, max_side=2500, flat=True)
    assert factor == 1.0
    assert flat is block
    _, factor = _for_recognition(block, line_height=FLAT_TEXT_HEIGHT / 2, max_side=2500, flat=True)
    assert factor == 2.0  # tinier text is still enlarged


@needs_tesseract
def test_a_large_bold_caption_on_a_plain_ground_is_read():
    reading = read_text(captioned(["WHEN THE CODE", "FINALLY WORKS"], size=48), TextOptions())
    assert reading.status == "text"
    assert reading.text.split() == ["WHEN", "THE", "CODE", "FINALLY", "WORKS"]


@needs_tesseract
def test_small_text_is_enlarged_before_recognition():
    reading = read_text(captioned(["read the terms before you sign"], size=13, picture=(420, 200)), TextOptions())
    assert reading.status == "text"
    assert words(reading.text) == words("read the terms before you sign")


def test_a_block_on_a_flat_ground_is_first_given_as_it_is_and_a_dark_one_inverted():
    from media_analysis.engine.text.read import _binarisations, _flat_ground

    dark = np.full((60, 400), 30, dtype=np.uint8)
    dark[20:40, 10:300:6] = 230  # light strokes
    light = 255 - dark
    assert _flat_ground(dark) == 30
    assert _flat_ground(light) == 225
    first_dark, *others = _binarisations(dark, 30, page=False, line_height=20)
    assert np.array_equal(first_dark.picture, 255 - dark)  # dark glyphs on a light ground, as Tesseract reads best
    assert not first_dark.tones
    assert [c.tones for c in others] == [True]  # then the light tone's glyphs; the dark tone has none inside
    assert np.array_equal(next(iter(_binarisations(light, 225, page=False, line_height=20))).picture, light)
    (page,) = _binarisations(dark, 30, page=True, line_height=20)
    assert np.array_equal(page.picture, 255 - dark)


def test_a_block_over_a_photo_is_first_given_as_its_extreme_tones_and_its_grey_levels_last():
    from media_analysis.engine.text.read import _binarisations, _flat_ground

    busy = np.random.default_rng(3).integers(60, 200, (60, 400)).astype(np.uint8)  # a photo, not a flat ground
    busy[20:40, 10:300:6] = 250  # light strokes inside the block
    busy[25:35, 310:390:5] = 5  # dark ones
    assert _flat_ground(busy) is None
    candidates = list(_binarisations(busy, None, page=False, line_height=20))
    assert [c.tones for c in candidates] == [True, True, False]
    light_glyphs, dark_glyphs, grey = (c.picture for c in candidates)
    assert (light_glyphs[20:40, 10:300:6] == 0).all()  # glyphs black on white
    assert (dark_glyphs[25:35, 310:390:5] == 0).all()
    assert np.array_equal(grey, busy)
    # A tone with nothing inside the block is not given to Tesseract at all.
    assert [c.tones for c in _binarisations(np.where(busy > 240, 128, busy), None, page=False, line_height=20)] == [
        True,
        False,
    ]


def banded(text: str, seed: int = 0) -> Image.Image:
    """Dark red text on a light band set tight over a busy photo-like ground, as a meme sets it."""
    rng = np.random.default_rng(seed)
    ground = rng.normal(120, 45, (667 // 3, 1000 // 3, 3)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(ground).resize((1000, 667), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 598, 1000, 631), fill=(245, 245, 240))
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 24)
    draw.text((400, 600), text, font=font, fill=(180, 0, 0))
    return img


def test_a_caption_on_a_band_over_a_photo_is_found_though_the_photo_lies_just_beyond_the_band():
    test = text_likelihood(np.asarray(banded("save the forest").convert("L")))
    assert test.score > TextOptions().threshold
    ((left, top, right, bottom),) = test.boxes
    assert 590 <= top < bottom <= 640
    assert left >= 380
    assert right <= 600


@needs_tesseract
def test_a_caption_on_a_band_over_a_photo_is_read():
    reading = read_text(banded("save the forest"), TextOptions())
    assert reading.status == "text"
    assert reading.text == "save the forest"


def flecked(line: str, seed: int) -> Image.Image:
    """A white outlined caption over a photo-like ground strewn with small bright flecks (its highlights)."""
    rng = np.random.default_rng(seed)
    ground = rng.normal(120, 30, (300 // 8, 800 // 8, 3)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(ground).resize((800, 300), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(144):
        x, y, r = int(rng.integers(0, 800)), int(rng.integers(0, 300)), int(rng.integers(2, 5))
        draw.ellipse((x, y, x + r, y + r), fill=(250, 250, 250))
    font = ImageFont.truetype(FONT, 32)
    draw.text((30, 100), line, font=font, fill="white", stroke_width=2, stroke_fill="black")
    return img


def test_a_tone_apart_keeps_the_parts_set_in_an_outline_and_drops_the_photos_flecks():
    from media_analysis.engine.text.read import _Tone

    block = np.full((60, 200), 160, dtype=np.uint8)  # a light photo
    block[10:50, 20:60] = 0  # a glyph's outline ...
    block[14:46, 24:56] = 255  # ... around its light stroke
    block[20:26, 120:126] = 255  # a highlight of the photo, among mid tones
    tone = _Tone(block, light=True, smallest=4)
    assert tone.any
    glyphs = tone.glyphs()
    assert (glyphs[14:46, 24:56] == 0).all()
    assert (glyphs[20:26, 120:126] == 0).all()
    apart = tone.apart()
    assert apart is not None
    assert (apart[14:46, 24:56] == 0).all()
    assert (apart[20:26, 120:126] == 255).all()
    # Nothing to drop: no second picture. Most of it to drop (text without an outline): none either.
    block[20:26, 120:126] = 160
    assert _Tone(block, light=True, smallest=4).apart() is None
    bare = np.full((60, 200), 160, dtype=np.uint8)
    bare[14:46, 24:56] = 255
    bare[20:26, 120:126] = 255
    assert _Tone(bare, light=True, smallest=4).apart() is None


@needs_tesseract
def test_a_caption_among_a_photos_flecks_is_read_again_without_them(monkeypatch):
    from media_analysis.engine.text import read

    asked: list[bool] = []
    real = read._Tone.apart

    def apart(self):
        picture = real(self)
        asked.append(picture is not None)
        return picture

    monkeypatch.setattr(read._Tone, "apart", apart)
    reading = read_text(flecked("free public transport in 2025", seed=2), TextOptions())
    assert reading.status == "text"
    assert reading.text == "free public transport in 2025"
    assert True in asked  # the first reading of the light tone was unsure, and the flecks were dropped


def test_a_block_on_a_flat_ground_is_moved_out_while_its_edge_cuts_through_ink():
    from media_analysis.engine.text.read import _uncut

    grey = np.full((300, 400), 250, dtype=np.uint8)
    grey[100:130, 50:300] = 20  # a line the block holds
    grey[150:175, 150:200] = 20  # a short last line that the block's bottom cuts through
    assert _uncut(grey, 0, 80, 400, 160, 250, 30.0) == (80, 190)  # moved down past it, by half lines
    assert _uncut(grey, 0, 80, 400, 140, 250, 30.0) == (80, 140)  # an edge in the ground stays
    grey[:, 10] = 20  # ink all down the picture: moved two lines at most
    assert _uncut(grey, 0, 80, 400, 140, 250, 30.0) == (20, 200)


def test_a_long_word_of_a_sure_line_is_kept_from_a_lower_confidence():
    from media_analysis.engine.text.read import _kept
    from media_analysis.engine.text.tesseract import Word

    def word(text, confidence, line=0):
        return Word(text, confidence, "eng", (0, 0, 10, 10), line)

    sure = [word("LOCAL", 94), word("BAKERY", 97), word("WINS", 97), word("PRIZE", 32)]
    assert [w.text for w in _kept(sure, 40)] == ["LOCAL", "BAKERY", "WINS", "PRIZE"]
    # Not a short scrap, not below the floor, not in an unsure line.
    assert [w.text for w in _kept([*sure[:3], word("ze", 32)], 40)] == ["LOCAL", "BAKERY", "WINS"]
    assert [w.text for w in _kept([*sure[:3], word("PRIZE", 12)], 40)] == ["LOCAL", "BAKERY", "WINS"]
    unsure = [word("forest", 62), word("green", 70), word("PRIZE", 32)]
    assert [w.text for w in _kept(unsure, 40)] == ["forest", "green"]


def test_between_two_readings_of_the_same_words_the_accents_read_are_kept():
    from media_analysis.engine.text.read import _accents_from
    from media_analysis.engine.text.tesseract import Word

    def said(*texts: str) -> list[Word]:
        return [Word(t, 90.0, "eng", (0, 0, 10, 10), 0) for t in texts]

    first = said("PAS:", "DE", "RETRAITE", "À")
    chosen = said("PAS", "DE", "RETRAITE", "A", "ANS")
    assert [w.text for w in _accents_from(first, chosen)] == ["PAS", "DE", "RETRAITE", "À", "ANS"]
    # A word that differs by more than its accents, or an accent only the chosen reading has, is left alone.
    assert [w.text for w in _accents_from(said("lâchie", "rien"), said("lache", "rién"))] == ["lache", "rién"]


def test_the_tests_window_counts_are_a_3_by_9_sum_with_mirrored_borders():
    from scipy import ndimage

    from media_analysis.engine.text.likelihood import _window_count

    edges = np.random.default_rng(11).random((57, 131)) < 0.4
    expected = ndimage.correlate(edges.astype(np.int32), np.ones((3, 9), dtype=np.int32), mode="reflect")
    assert np.array_equal(_window_count(edges), expected)
    assert _window_count(np.ones((5, 20), dtype=bool)).max() == 27  # the largest count fits its byte


@needs_tesseract
@pytest.mark.parametrize(("line_height", "grey_read"), [(20.0, False), (12.0, True)])
def test_over_a_photo_a_block_a_tone_read_is_read_in_grey_levels_only_for_small_text(
    monkeypatch, line_height, grey_read
):
    from media_analysis.engine.text import read

    block = np.asarray(captioned(["ONE DOES NOT SIMPLY"], size=40, picture=(640, 90), photo=True).convert("L"))
    monkeypatch.setattr(read, "_CONFIDENT", 101.0)  # no reading is sure enough to end the block by itself
    given: list[bool] = []  # whether each picture given to Tesseract was a tone's glyphs (black and white only)
    read_words: list[int] = []
    real = read.recognise

    def recorded(picture, *args, **kwargs):
        found = real(picture, *args, **kwargs)
        given.append(bool(np.isin(picture, (0, 255)).all()))
        read_words.append(len(found))
        return found

    monkeypatch.setattr(read, "recognise", recorded)
    fruitless = read._Fruitless()
    region = read.Region((0, 0, 640, 90), line_height, page=False, row=True)
    best, _ = read._read_region(
        block, region, ENGINE.tessdata, "eng+fra", time.perf_counter() + 30, TextOptions(), fruitless
    )
    assert given[0]  # the light glyphs first
    assert read_words[0]  # and Tesseract read words in them
    assert {"one", "does", "not", "simply"} <= set(words(" ".join(w.text for w in best)))
    assert all(given[:-1])  # the tones first
    assert given[-1] is not grey_read  # then the grey block, only for small text


@needs_tesseract
def test_texture_taken_for_lines_is_given_up_after_a_few_fruitless_blocks(monkeypatch):
    from media_analysis.engine.text import read

    rng = np.random.default_rng(5)
    picture = np.full((720, 800), 128, dtype=np.uint8)
    for top in range(40, 700, 130):  # six bands of black and white speckles, far apart: six blocks to read
        speckles = rng.integers(0, 2, (12, 100)) * 255
        picture[top : top + 24, 50:750] = np.kron(speckles, np.ones((2, 7), dtype=np.int64))[:24, :700]
    test = text_likelihood(picture)
    assert test.score > 2.0
    regions = read._regions(test, picture.shape)
    assert len(regions) == 6
    assert all(region.row for region in regions)  # each band spans its width, as a line of text would
    blocks: list[tuple[int, int, int, int]] = []
    real = read._read_region

    def counted(grey, region, *args):
        blocks.append(region.box)
        return real(grey, region, *args)

    monkeypatch.setattr(read, "_read_region", counted)
    reading = read_text(Image.fromarray(picture), TextOptions())
    assert reading.status == "empty"
    assert len(blocks) == read._FRUITLESS_BLOCKS  # not six


@needs_tesseract
def test_once_a_picture_has_read_scraps_a_few_times_its_blocks_over_a_photo_are_read_in_tones_only(monkeypatch):
    from media_analysis.engine.text import read

    block = np.asarray(captioned(["ONE DOES NOT SIMPLY"], size=40, picture=(640, 90), photo=True).convert("L"))
    monkeypatch.setattr(read, "_CONFIDENT", 101.0)  # no reading is sure enough to end the block by itself
    monkeypatch.setattr(read, "_TONES_SURE", 101.0)  # nor to leave out the grey block
    given: list[bool] = []  # whether each picture given to Tesseract was a tone's glyphs (black and white only)
    real = read.recognise

    def recorded(picture, *args, **kwargs):
        given.append(bool(np.isin(picture, (0, 255)).all()))
        return real(picture, *args, **kwargs)

    monkeypatch.setattr(read, "recognise", recorded)
    region = read.Region((0, 0, 640, 90), 30.0, page=False, row=True)
    for scraps, grey_read in ((0, True), (read._SCRAPS_NO_GREY, False)):
        given.clear()
        fruitless = read._Fruitless(scraps=scraps)  # the scraps read in the picture's blocks before this one
        best, _ = read._read_region(
            block, region, ENGINE.tessdata, "eng+fra", time.perf_counter() + 30, TextOptions(), fruitless
        )
        assert {"one", "does", "not", "simply"} <= set(words(" ".join(w.text for w in best)))
        assert given[0]  # the tones first
        assert (not given[-1]) is grey_read


@needs_tesseract
def test_readings_of_nothing_at_all_are_not_counted_as_scraps(monkeypatch):
    from media_analysis.engine.text import read

    rng = np.random.default_rng(5)
    picture = np.full((720, 800), 128, dtype=np.uint8)
    for top in range(40, 700, 130):  # bands of coarse speckles, taken for lines, that Tesseract reads as no word
        speckles = rng.integers(0, 2, (12, 100)) * 255
        picture[top : top + 24, 50:750] = np.kron(speckles, np.ones((2, 7), dtype=np.int64))[:24, :700]
    made: list[read._Fruitless] = []
    real = read._Fruitless

    def recorded() -> read._Fruitless:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(read, "_Fruitless", recorded)
    counts: list[int] = []
    real_recognise = read.recognise

    def counted(*args, **kwargs):
        found = real_recognise(*args, **kwargs)
        counts.append(len(found))
        return found

    monkeypatch.setattr(read, "recognise", counted)
    assert read_text(Image.fromarray(picture), TextOptions()).status == "empty"
    assert counts  # blocks were read
    assert not any(counts)  # and each reading read no word
    assert made[0].scraps == 0  # cheap: the picture's blocks are still read in grey levels
    assert made[0].readings > 0


def test_over_a_photo_pieces_of_lines_that_do_not_line_up_are_texture():
    from media_analysis.engine.text.likelihood import MIN_ROW_SPAN, row_span

    # A caption's words, found as separate lines, make one row; pieces of a photo's texture do not.
    assert row_span([(100, 50, 200, 80), (210, 52, 330, 80), (340, 50, 420, 81)]) == pytest.approx(320 / 30)
    assert row_span([(100, 50, 190, 80), (400, 200, 480, 230), (210, 140, 270, 160)]) < MIN_ROW_SPAN
    assert row_span([]) == 0
    rng = np.random.default_rng(11)
    picture = np.asarray(smooth_photo().convert("L")).copy()
    for left, top in ((60, 80), (420, 260), (200, 430)):  # short speckled patches, scattered: each taken for a line
        speckles = rng.integers(0, 2, (12, 10)) * 255
        picture[top : top + 24, left : left + 70] = np.kron(speckles, np.ones((2, 7), dtype=np.int64))
    assert text_likelihood(picture).score == 0
    # The same patches side by side are a row as long as a line of text.
    for left in (60, 140, 220, 300):
        speckles = rng.integers(0, 2, (12, 10)) * 255
        picture[500:524, left : left + 70] = np.kron(speckles, np.ones((2, 7), dtype=np.int64))
    assert text_likelihood(picture).score > 2.0


@needs_tesseract
def test_over_a_photo_a_block_without_a_row_of_lines_is_not_read(monkeypatch):
    from media_analysis.engine.text import read

    block = np.asarray(captioned(["ONE DOES NOT SIMPLY"], size=40, picture=(640, 90), photo=True).convert("L"))
    asked: list[int] = []
    real = read.recognise

    def recorded(*args, **kwargs):
        asked.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(read, "recognise", recorded)
    for row in (False, True):
        region = read.Region((0, 0, 640, 90), 30.0, page=False, row=row)
        best, _ = read._read_region(
            block, region, ENGINE.tessdata, "eng+fra", time.perf_counter() + 30, TextOptions(), read._Fruitless()
        )
        assert bool(best) is row
        assert bool(asked) is row


@needs_tesseract
def test_a_picture_without_text_is_skipped_without_recognition():
    reading = read_text(smooth_photo(), TextOptions())
    assert reading.status == "skipped"
    assert reading.recognise_ms is None
    assert reading.text == ""
    assert reading.likelihood == 0
    assert reading.test_ms is not None


@needs_tesseract
def test_recognition_is_stopped_at_its_deadline():
    page = captioned([f"line number {n} of a long page of text" for n in range(14)], size=22, picture=(900, 1400))
    reading = read_text(page, TextOptions(timeout=0.001))
    assert reading.status == "failed"
    assert "stopped after" in reading.error


@needs_tesseract
def test_threads_recognise_at_once_and_each_gets_its_own_reading():
    pictures = [captioned([text], size=34) for text in ("SAVE THE FOREST", "THIS IS FINE", "VOTE ON SUNDAY")] * 2
    expected = [read_text(p, TextOptions()).text for p in pictures]
    results: list[str | None] = [None] * len(pictures)
    start = threading.Barrier(len(pictures))

    def read(index: int) -> None:
        start.wait()
        results[index] = read_text(pictures[index], TextOptions()).text

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(pictures))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected
    assert [words(t) for t in results[:3]] == [words(t) for t in ("SAVE THE FOREST", "THIS IS FINE", "VOTE ON SUNDAY")]


@needs_tesseract
def test_threads_asking_at_once_load_one_engine_and_the_first_reading_uses_it(monkeypatch):
    # A new process: nothing checked, no engine loaded.
    monkeypatch.setattr(tesseract, "_availability", {})
    monkeypatch.setattr(tesseract, "_pools", {})
    answers: list[tesseract.Availability | None] = [None] * 8
    start = threading.Barrier(len(answers))

    def ask(index: int) -> None:
        start.wait()
        answers[index] = availability("fra+eng")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(answers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [ENGINE] * len(answers)
    engines = tesseract._pool(ENGINE.tessdata, "fra+eng")[0]
    assert engines.qsize() == 1  # the check's engine, kept: one load for all the threads
    assert words(read_text(captioned(["THIS IS FINE"], size=34), TextOptions()).text) == words("THIS IS FINE")
    assert engines.qsize() == 1  # the reading took that engine and gave it back


@needs_tesseract
def test_the_analysis_reads_the_text_of_a_large_jpeg_it_decodes_at_reduced_scale():
    content = encoded(captioned(["FREE PUBLIC TRANSPORT"], size=90, picture=(2400, 1600)), "JPEG")
    result = analyse_image(content, AnalysisOptions(text=TextOptions()))
    assert result.width == 2400
    assert result.text is not None
    assert words(result.text.text) == words("FREE PUBLIC TRANSPORT")
    assert "text" not in result.as_fields()
    assert analyse_image(content).text is None  # only when asked


def test_a_large_jpeg_is_decoded_again_for_its_text_as_grey_levels_alone():
    from media_analysis.engine.image.decode import jpeg_draft

    content = encoded(captioned(["FREE PUBLIC TRANSPORT"], size=90, picture=(2400, 1600)), "JPEG")
    grey = jpeg_draft(content, 1200, grey=True)
    colour = jpeg_draft(content, 1200)
    assert grey is not None
    assert colour is not None
    assert (grey.mode, colour.mode) == ("L", "RGB")
    assert grey.size == colour.size == (1200, 800)  # the DCT scale keeping 1200 px
    # The luma the decoder gives is the grey a conversion of its colours gives, within rounding.
    difference = np.abs(np.asarray(grey, dtype=np.int16) - np.asarray(colour.convert("L"), dtype=np.int16))
    assert difference.mean() < 1.0


@needs_tesseract
def test_a_guarded_analysis_sends_its_reading_back():
    analyser = guarded_analyser(60.0, None)
    content = encoded(captioned(["SAVE THE FOREST"], size=40))
    fields, _thumbnail, text = analyser.analyse_with_text(content, AnalysisOptions(text=TextOptions()))
    assert fields["width"] == 800
    assert text is not None
    assert text.status == "text"
    assert words(text.text) == words("SAVE THE FOREST")


# --- Without Tesseract -----------------------------------------------------------------------


def test_without_language_data_the_reading_fails_saying_how_to_install_it(tmp_path):
    options = TextOptions(tessdata=str(tmp_path))
    found = availability(options.languages, options.tessdata)
    assert not found.available
    assert "apt-get install tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng" in found.reason
    reading = read_text(captioned(["SAVE THE FOREST"]), options)
    assert reading.status == "failed"
    assert reading.error.startswith("OCR unavailable:")
    assert INSTALL_HINT.startswith("apt-get install")


def test_without_the_binding_the_reason_names_the_package(monkeypatch, tmp_path):
    from media_analysis.engine.text import tesseract

    monkeypatch.setattr(tesseract, "tesserocr", None)
    found = availability("eng", str(tmp_path / "other"))
    assert not found.available
    assert "pip install tesserocr" in found.reason


@needs_tesseract
@pytest.mark.parametrize("mode", ["1", "L", "P", "RGBA", "CMYK", "I;16", "I", "F", "LA", "YCbCr", "LAB", "HSV"])
def test_every_decoded_mode_is_tested_without_raising(mode):
    reading = read_text(Image.new(mode, (300, 200)), TextOptions())
    assert reading.status == "skipped"


@needs_tesseract
def test_text_on_a_transparent_ground_is_read_on_white():
    img = Image.new("RGBA", (700, 260), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((30, 100), "VOTE ON SUNDAY", font=ImageFont.truetype(FONT, 40), fill=(0, 0, 0, 255))
    assert words(read_text(img, TextOptions()).text) == words("VOTE ON SUNDAY")
