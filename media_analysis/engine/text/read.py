"""Reading the text of one decoded picture: the cheap test, then recognition where it says so.

Pure code: no Django, no I/O. Safe to call from several threads at once (see
tesseract.py). Never raises for a picture: a recognition that fails or runs out
of time is a reading with status "failed".
"""

from __future__ import annotations

import difflib
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from scipy import ndimage

from media_analysis.engine.text.language import tell_language
from media_analysis.engine.text.likelihood import MIN_ROW_SPAN, Likelihood, plain_ground, row_span, text_likelihood
from media_analysis.engine.text.options import TextOptions, TextReading
from media_analysis.engine.text.tesseract import RecognitionTimeout, Word, availability, languages_of, recognise

# Tesseract reads small text better enlarged: lines shorter than this many pixels
# are enlarged to it, at most UPSCALE_MAX times. Over a photo the glyphs are isolated from
# the photo's tones, and thin strokes need the room; on a flat ground (a screenshot, a
# caption on a plain colour) Tesseract reads ordinary screen text as it is, and every
# enlarged pixel costs thresholding, layout and recognition time.
GOOD_TEXT_HEIGHT = 24
FLAT_TEXT_HEIGHT = 12
UPSCALE_MAX = 3.0


def read_text(picture: Image.Image, options: TextOptions) -> TextReading:
    """The text of ``picture`` (any mode), or why there is none."""
    engine = availability(options.languages, options.tessdata)
    if not engine.available:
        return TextReading("failed", error=f"OCR unavailable: {engine.reason}")
    started = time.perf_counter()
    try:
        grey = _grey(picture)
        test = text_likelihood(grey)
    except MemoryError:
        return TextReading("failed", error="not enough memory to test for text", engine=engine.engine)
    except Exception as exc:  # a mode or a size no conversion foresaw: this picture's text is lost, not the job
        return TextReading("failed", error=f"{type(exc).__name__}: {exc}", engine=engine.engine)
    test_ms = round(1000 * (time.perf_counter() - started), 2)
    if test.score < options.threshold:
        return TextReading("skipped", likelihood=test.score, test_ms=test_ms, engine=engine.engine)
    started = time.perf_counter()
    languages = "+".join(languages_of(options.languages))
    deadline = started + options.timeout
    kept: list[Word] = []
    area = 0.0
    try:
        fruitless = _Fruitless()
        fruitless_blocks = 0
        regions = _regions(test, grey.shape)
        if not all(region.row for region in regions) and (
            not any(region.row for region in regions) or plain_ground(grey[::2, ::2])
        ):
            # A plain picture, or one whose lines the test found only at its coarser look (large bold
            # letters, none alone a row): every block is read.
            regions = [replace(region, row=True) for region in regions]
        for number, region in enumerate(regions):
            if fruitless_blocks >= _FRUITLESS_BLOCKS:
                break  # texture taken for lines: the rest of the picture is not worth reading
            fruitless.readings = 0
            words, share = _read_region(grey, region, engine.tessdata, languages, deadline, options, fruitless)
            if words:
                fruitless_blocks = 0
            elif fruitless.readings:  # read (not passed over as the photo's texture), and kept nothing
                fruitless_blocks += 1
            kept += [replace(w, line=w.line + number * _LINES_PER_REGION) for w in words]
            area += share
    except RecognitionTimeout as exc:
        return _failed(str(exc), test, test_ms, started, engine.engine)
    except MemoryError:
        return _failed("not enough memory to recognise", test, test_ms, started, engine.engine)
    except Exception as exc:
        return _failed(f"{type(exc).__name__}: {exc}", test, test_ms, started, engine.engine)
    recognise_ms = round(1000 * (time.perf_counter() - started), 2)
    if not kept:
        return TextReading(
            "empty", likelihood=test.score, test_ms=test_ms, recognise_ms=recognise_ms, engine=engine.engine
        )
    return TextReading(
        "text",
        text=_joined(kept),
        language=tell_language(
            _joined(kept), [(w.language, _letters(w.text)) for w in kept], languages_of(options.languages)
        ),
        confidence=round(sum(w.confidence for w in kept) / len(kept), 2),
        text_area=round(min(1.0, area), 4),
        likelihood=test.score,
        test_ms=test_ms,
        recognise_ms=recognise_ms,
        engine=engine.engine,
    )


_LINES_PER_REGION = 100_000  # keeps the line numbers of successive regions apart
MAX_REGIONS = 12  # blocks of lines read in one picture, at most
PAGE_SHARE = 0.6  # a single block over this share of the picture is read as a page


@dataclass(frozen=True)
class Region:
    box: tuple[int, int, int, int]  # left, top, right, bottom in the picture's pixels
    line_height: float
    page: bool  # the whole picture, laid out by Tesseract
    # Holds a row of lines as long as a line of text (see likelihood.MIN_ROW_SPAN), or lies in a plain picture:
    # a block over a photo without one is the photo's texture, and is not read.
    row: bool = False


def _regions(test: Likelihood, shape: tuple[int, ...]) -> list[Region]:
    """The parts of the picture to recognise: blocks of neighbouring lines, or the whole page.

    Reading only the blocks the test found keeps a photo's texture out of the
    recognition (faster, and no made-up words), and lets each block be thresholded
    and scaled for its own text.
    """
    height, width = shape[0], shape[1]
    line = max(1.0, test.line_height)
    grown = [
        # The whole width: words of a line the test did not keep (too short alone) are read with it.
        [0, max(0, int(top - 1.2 * line)), width, min(height, int(bottom + 1.2 * line))]
        for _, top, _, bottom in test.boxes
    ]
    merged = _merged(grown)
    if len(merged) == 1 and _area(merged[0]) > PAGE_SHARE * width * height:
        # One block over most of the picture: a page (a screenshot, a document), laid out by Tesseract.
        return [Region((0, 0, width, height), test.line_height, page=True)]
    # Many scattered blocks are mostly texture taken for lines: the tallest are read, within a bound.
    merged = sorted(merged, key=lambda b: b[3] - b[1], reverse=True)[:MAX_REGIONS]
    merged.sort(key=lambda b: (b[1], b[0]))
    return [
        Region((b[0], b[1], b[2], b[3]), test.line_height, page=False, row=_holds_row(b, test.boxes)) for b in merged
    ]


def _holds_row(block: list[int], boxes: tuple[tuple[int, int, int, int], ...]) -> bool:
    inside = [box for box in boxes if block[1] <= (box[1] + box[3]) / 2 < block[3]]
    return row_span(inside) >= MIN_ROW_SPAN


def _area(box: list[int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _merged(boxes: list[list[int]]) -> list[list[int]]:
    """Union of overlapping boxes, repeated until none overlap."""
    merged = [list(b) for b in boxes]
    changed = True
    while changed:
        changed = False
        out: list[list[int]] = []
        for box in merged:
            for other in out:
                if box[0] <= other[2] and other[0] <= box[2] and box[1] <= other[3] and other[1] <= box[3]:
                    other[:] = [*map(min, box[:2], other[:2]), *map(max, box[2:], other[2:])]
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return merged


# Readings in a row that keep nothing, after which a block is given up; and blocks in a row read that kept
# nothing, after which the picture is taken for texture and the rest of it not read.
_FRUITLESS_READINGS = 4
_FRUITLESS_BLOCKS = 2
# Readings of the picture that read scraps and kept none, after which a block over a photo is read in its
# tones only. Each block counts its readings afresh (a caption's block read after texture gets all its
# tones), so a photo whose texture holds rows would otherwise have every block read in grey levels too.
_SCRAPS_NO_GREY = 3


@dataclass
class _Fruitless:
    readings: int = 0  # Tesseract's readings in a row, in the block being read, that kept no word
    # Readings of the whole picture that read words and kept none: a photo's texture read as scraps. A
    # reading of nothing at all (a tone without glyphs) costs little and is not counted.
    scraps: int = 0


def _read_region(
    grey: np.ndarray,
    region: Region,
    tessdata: str,
    languages: str,
    deadline: float,
    options: TextOptions,
    fruitless: _Fruitless,
) -> tuple[list[Word], float]:
    """The words kept in one region, and the share of the picture their boxes cover.

    A photo's texture that the test took for lines reads as scraps under every
    tone, each reading costing as much as a caption's: a block is given up after
    ``_FRUITLESS_READINGS`` readings in a row that kept nothing, and once the picture has read
    scraps ``_SCRAPS_NO_GREY`` times, a block is no longer read in grey levels over a photo; a block
    over a photo without a row of lines (``Region.row``) is not read at all.
    """
    left, top, right, bottom = region.box
    crop = grey[top:bottom, left:right]
    ground = _flat_ground(crop)
    if ground is None and not region.row and not region.page:
        # Over a photo, a block without a row of lines as long as a line of text is the photo's texture: a
        # caption's short line lies in the block of the line next to it, grown over it.
        return [], 0.0
    if ground is not None and not region.page:
        top, bottom = _uncut(grey, left, top, right, bottom, ground, region.line_height)
        crop = grey[top:bottom, left:right]
    scaled, factor = _for_recognition(crop, region.line_height, options.max_side, flat=ground is not None)
    best: list[Word] = []
    best_score = -1.0
    for candidate in _binarisations(scaled, ground, region.page, region.line_height * factor):
        if (
            best
            and not candidate.tones
            and ground is None
            and region.line_height >= _TONES_SUFFICE
            and sum(w.confidence for w in best) / len(best) >= _TONES_SURE
        ):
            # Over a photo the grey block comes last. Once a tone has read lines of the block fairly
            # surely, the grey block seldom reads more: the photo's texture with the caption, at the
            # cost of several tone readings. Where no tone kept a word, where the tone's reading is
            # unsure (a band's dark text read through the band's edge), and for the thin strokes of
            # small text, it is still read. The reading not made counts as one that kept nothing, so
            # a picture is given up no later than before.
            fruitless.readings += 1
            break
        if not candidate.tones and ground is None and fruitless.scraps >= _SCRAPS_NO_GREY:
            # The grey block over a photo reads the photo's texture at several times a tone's cost: once the
            # picture has read scraps a few times, its blocks are read in their tones only.
            fruitless.readings += 1
            break
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise RecognitionTimeout(f"recognition stopped after {options.timeout:g} s")
        words = recognise(candidate.picture, tessdata, languages, remaining, block=not region.page)
        kept = _kept(words, options.min_confidence)
        if kept and candidate.apart is not None and _doubtful(words, kept):
            # A caption was read, but not cleanly: the photo's own highlights (or shadows) may sit among the
            # glyphs. The same tone without the parts that are not set in an outline or a band is read too,
            # and the surer reading kept.
            apart = candidate.apart()
            if apart is not None:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise RecognitionTimeout(f"recognition stopped after {options.timeout:g} s")
                other = recognise(apart, tessdata, languages, remaining, block=True)
                other_kept = _kept(other, options.min_confidence)
                if _score(other_kept) > _score(kept):
                    words, kept = other, _accents_from(kept, other_kept)
        score = _score(kept)
        fruitless.readings = 0 if kept else fruitless.readings + 1
        fruitless.scraps += bool(words) and not kept
        if score > best_score:
            best, best_score = _accents_from(best, kept), score
        if not words and not candidate.tones:
            break  # nothing at all in the grey block where the test saw lines: texture, not worth other tones
        if kept and sum(w.confidence for w in kept) / len(kept) >= _CONFIDENT:
            break
        if fruitless.readings >= _FRUITLESS_READINGS:
            break
    area = sum((w.box[2] - w.box[0]) * (w.box[3] - w.box[1]) for w in best) / (factor * factor)
    return best, area / float(grey.size)


_INK_STEP = 48  # a pixel this far from a flat ground's grey level is ink


def _uncut(
    grey: np.ndarray, left: int, top: int, right: int, bottom: int, ground: int, line_height: float
) -> tuple[int, int]:
    """The block's top and bottom moved out, half a line at a time and two lines at most, while its edge cuts ink.

    On a flat ground, a line the test did not keep (a short last line of a caption, a word alone) can lie
    just beyond the block; cut through, its glyphs read as nothing. A row of the block's edge holding ink
    says so.
    """
    step = max(2, int(line_height / 2))
    height = grey.shape[0]
    for _ in range(4):
        if top == 0 or not _ink(grey[top, left:right], ground):
            break
        top = max(0, top - step)
    for _ in range(4):
        if bottom >= height or not _ink(grey[bottom - 1, left:right], ground):
            break
        bottom = min(height, bottom + step)
    return top, bottom


def _ink(row: np.ndarray, ground: int) -> bool:
    return bool(np.any(np.abs(row.astype(np.int16) - ground) > _INK_STEP))


def _kept(words: list[Word], min_confidence: float) -> list[Word]:
    """The words worth keeping: sure enough, in lines that hold a sure word; and the long words of sure lines.

    A word that ends a caption's line is read less surely when a speck of the photo
    lies just after it (the recognition runs the speck into the word); in a line whose
    other words are read surely, a word of several letters is kept from a lower bar.
    Texture read as text gives short scraps in unsure lines, which this does not keep.
    """
    kept = _sure_lines([w for w in words if w.confidence >= min_confidence and any(c.isalnum() for c in w.text)])
    if not kept:
        return kept
    lines: dict[int, list[float]] = {}
    for w in kept:
        lines.setdefault(w.line, []).append(w.confidence)
    sure = {line for line, values in lines.items() if len(values) >= 2 and sum(values) / len(values) >= _SURE_LINE}
    chosen = {id(w) for w in kept}
    return [
        w
        for w in words
        if id(w) in chosen
        or (w.line in sure and w.confidence >= _LONG_WORD_FLOOR and _letters(w.text) >= _LONG_WORD_LETTERS)
    ]


# A line whose kept words (two or more) average this confidence is sure; its words of at least
# _LONG_WORD_LETTERS letters are kept from _LONG_WORD_FLOOR.
_SURE_LINE, _LONG_WORD_FLOOR, _LONG_WORD_LETTERS = 85.0, 20.0, 4


def _score(kept: list[Word]) -> float:
    return sum(w.confidence * len(w.text) for w in kept)


def _accents_from(first: list[Word], chosen: list[Word]) -> list[Word]:
    """``chosen``, its words spelt as in ``first`` where the two differ only by accents that ``first`` has.

    Tesseract reads a word with each language and keeps the surer reading; the
    English model has no accented letters, so between two readings of the same
    word, an accent is what one of them saw, its absence what the other could not
    write.
    """
    plain_first = [_unaccented(w.text) for w in first]
    plain_chosen = [_unaccented(w.text) for w in chosen]
    out = list(chosen)
    for block in difflib.SequenceMatcher(None, plain_first, plain_chosen, autojunk=False).get_matching_blocks():
        for offset in range(block.size):
            source, target = first[block.a + offset], chosen[block.b + offset]
            if _accented(source.text) > _accented(target.text):
                out[block.b + offset] = replace(target, text=source.text)
    return out


def _unaccented(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _accented(text: str) -> int:
    return sum(1 for c in unicodedata.normalize("NFD", text) if unicodedata.combining(c))


def _doubtful(words: list[Word], kept: list[Word]) -> bool:
    """Whether a reading that kept words is unsure: a mean confidence under _CONFIDENT, or letters it dropped."""
    if sum(w.confidence for w in kept) / len(kept) < _CONFIDENT:
        return True
    return any(any(c.isalnum() for c in w.text) for w in words if w not in kept)


_CONFIDENT = 88.0  # a reading this sure is not tried again with other tones
# Lines at least this tall (in the picture's pixels) over a photo: a block a tone read is not read in grey levels.
_TONES_SUFFICE = 16.0
_TONES_SURE = 80.0  # ... and a mean confidence at least this
_LIGHT, _DARK = 200, 60  # glyphs of captions are near white or near black
_DARK_GROUND = 100


@dataclass(frozen=True)
class Candidate:
    picture: np.ndarray
    tones: bool  # only the block's extreme tones (glyphs isolated), not its grey levels
    # The same tone without the parts that are not set in an outline or a band, made when asked; None if none.
    apart: Callable[[], np.ndarray | None] | None = None


def _binarisations(picture: np.ndarray, ground: int | None, page: bool, line_height: float) -> Iterator[Candidate]:
    """The ways of giving a block to Tesseract, the likeliest to read well first; each made only when asked for.

    The block's grey levels, thresholded by Tesseract itself, read text on a plain
    ground (a screenshot, a caption on a flat colour) best. Over a photo, the
    photo's own darks and lights split Tesseract's threshold, and the grey block
    often reads as nothing at several times the cost of a clean one; captions are
    set near white or near black, often with an outline, so keeping only the
    lightest, then only the darkest parts inside the block, as black on white,
    isolates the glyphs. Those come first over a photo, the grey block last.
    """
    as_is = Candidate(255 - picture if ground is not None and ground < _DARK_GROUND else picture, tones=False)
    if page:
        yield as_is
        return
    if ground is not None:
        yield as_is
    smallest = max(4, int((line_height / 12) ** 2))
    for light in (True, False):
        tone = _Tone(picture, light, smallest)
        if tone.any:
            yield Candidate(tone.glyphs(), tones=True, apart=tone.apart)
    if ground is None:
        yield as_is


def _flat_ground(picture: np.ndarray) -> int | None:
    """The grey level of the block's ground when it is flat (text on a plain colour), else None.

    A flat dark ground (a dark-mode screenshot, white on a dark plain colour) is
    read inverted: Tesseract's own inverted pass is off, and its thresholding reads
    dark glyphs best. A dark photo under an outlined caption is not flat, and
    inverted it reads worse than its extreme tones do.
    """
    histogram = np.bincount(picture.ravel(), minlength=256)
    ground = int(np.searchsorted(np.cumsum(histogram), (picture.size + 1) // 2))
    near = histogram[max(0, ground - _FLAT_STEP) : ground + _FLAT_STEP + 1].sum()
    return ground if near >= _FLAT_SHARE * picture.size else None


_FLAT_STEP, _FLAT_SHARE = 12, 0.87  # a flat ground: most of the block within this many grey levels of its median


class _Tone:
    """The block's lightest (or darkest) parts that may be glyphs.

    A caption's glyphs sit inside the block, held apart from the ground by their
    outline (or by the band they are set on); a sky or a wall of the same tone
    reaches the border and is dropped, and so are specks smaller than
    ``smallest`` pixels (a photo's highlights).
    """

    def __init__(self, picture: np.ndarray, light: bool, smallest: int) -> None:
        self.picture, self.light = picture, light
        self.tone = picture >= _LIGHT if light else picture <= _DARK
        self.labels, self.count = ndimage.label(self.tone)
        self.sizes = np.bincount(self.labels.ravel(), minlength=self.count + 1)
        dropped = self.sizes < smallest
        labels = self.labels
        dropped[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
        dropped[0] = True
        self.dropped = dropped
        self.any = not dropped.all()  # nothing to read otherwise: Tesseract is not asked

    def glyphs(self) -> np.ndarray:
        """The parts kept, black on white."""
        return np.where(self.dropped[self.labels], 255, 0).astype(np.uint8)

    def apart(self) -> np.ndarray | None:
        """The parts kept whose surroundings lie on the other side of mid grey; None if that drops none or most.

        What is left of a photo's own highlights (or shadows) sits among mid
        tones, where a glyph sits in its outline or its band, of the other
        extreme. Text without an outline has the photo around it: when the rule
        would drop most of what was kept, it is not applied.
        """
        # Each part's ring: the pixels next to it that are not of its tone, labelled by the part they touch.
        near = ndimage.maximum_filter(self.labels, size=2 * _RING + 1)
        ring = ~self.tone & (near > 0)
        ring_labels = near[ring]
        ring_sizes = np.bincount(ring_labels, minlength=self.count + 1)
        ring_sums = np.bincount(ring_labels, weights=self.picture[ring], minlength=self.count + 1)
        ring_means = ring_sums / np.maximum(ring_sizes, 1)
        set_apart = ring_means < _RING_SPLIT if self.light else ring_means > _RING_SPLIT
        kept = ~self.dropped & set_apart
        kept_before = self.sizes[~self.dropped].sum()
        if self.sizes[kept].sum() < _RING_KEEP * kept_before or self.sizes[kept].sum() == kept_before:
            return None
        return np.where(kept[self.labels], 0, 255).astype(np.uint8)


_RING = 1  # pixels around a part that tell what it is set in
_RING_SPLIT = 128  # a glyph's ring lies on the other side of this grey level
_RING_KEEP = 0.5  # share of the parts' pixels the ring rule must keep to be applied


def _failed(message: str, test: Likelihood, test_ms: float, started: float, engine: str) -> TextReading:
    return TextReading(
        "failed",
        likelihood=test.score,
        test_ms=test_ms,
        recognise_ms=round(1000 * (time.perf_counter() - started), 2),
        engine=engine,
        error=message,
    )


def _grey(picture: Image.Image) -> np.ndarray:
    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
        # Text on a transparent background is drawn in the visible colour: lay it on white.
        rgba = picture.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        base.alpha_composite(rgba)
        picture = base
    elif picture.mode == "LAB":
        return np.asarray(picture.getchannel("L"))  # lightness, which Pillow cannot convert to
    elif picture.mode in ("I", "I;16", "F"):
        array = np.asarray(picture, dtype=np.float64)
        top = array.max() or 1.0
        return (array * (255.0 / top)).clip(0, 255).astype(np.uint8)
    return np.asarray(picture.convert("L"))


def _for_recognition(grey: np.ndarray, line_height: float, max_side: int, flat: bool) -> tuple[np.ndarray, float]:
    """The picture at the scale Tesseract reads best, within ``max_side``; and that scale."""
    height, width = grey.shape
    factor = 1.0
    good = FLAT_TEXT_HEIGHT if flat else GOOD_TEXT_HEIGHT
    if 0 < line_height < good:
        factor = min(UPSCALE_MAX, good / line_height)
    factor = min(factor, max_side / max(height, width))
    if abs(factor - 1.0) < 0.05:
        return grey, 1.0
    size = max(1, round(width * factor)), max(1, round(height * factor))
    resample = Image.Resampling.LANCZOS if factor > 1 else Image.Resampling.BOX
    return np.asarray(Image.fromarray(grey).resize(size, resample)), factor


_LINE_WORD_LETTERS, _LINE_WORD_CONFIDENCE = 3, 60.0


def _sure_lines(words: list[Word]) -> list[Word]:
    """The words of the lines holding at least one sure word of three letters or digits.

    Texture read as text gives lines of one- or two-character scraps at middling
    confidence; a real line almost always has one longer word read with confidence.
    """
    sure = {
        w.line
        for w in words
        if sum(c.isalnum() for c in w.text) >= _LINE_WORD_LETTERS and w.confidence >= _LINE_WORD_CONFIDENCE
    }
    return [w for w in words if w.line in sure]


def _joined(words: list[Word]) -> str:
    lines: dict[int, list[str]] = {}
    for word in words:
        lines.setdefault(word.line, []).append(word.text)
    return "\n".join(" ".join(parts) for _, parts in sorted(lines.items()))


def _letters(text: str) -> int:
    return sum(c.isalpha() for c in text)
