"""Tesseract in process, through tesserocr: whether it can run, and one recognition.

tesserocr keeps the engine loaded in the process (no program started per picture,
see docs/benchmarks/ocr.md) and releases the GIL while Tesseract works, so the
pipeline's analysis threads recognise in parallel. One ``PyTessBaseAPI`` must
never serve two threads at once: each recognition takes an engine from a pool
and gives it back, so there are never more engines than pictures recognised at
once (at most one per core), and loading the language data (a fraction of a
second) is paid once per engine, not per picture.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from media_analysis.engine.text import INSTALL_HINT

BINDING_HINT = "pip install tesserocr"

# Where Debian and the usual builds keep the language data, searched in this order
# after an explicit folder and TESSDATA_PREFIX.
TESSDATA_FOLDERS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)

try:
    import tesserocr
except ImportError:  # the binding is optional: without it the step reports itself unavailable
    tesserocr = None


class RecognitionTimeout(Exception):
    pass


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""  # why not, with the command that fixes it
    engine: str = ""  # "tesseract 5.x fra+eng": what the rows record
    tessdata: str = ""


def languages_of(spec: str) -> tuple[str, ...]:
    """``"fra+eng"`` -> ``("fra", "eng")``; also accepts commas and spaces."""
    parts = spec.replace(",", "+").replace(" ", "+").split("+")
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))


def find_tessdata(languages: tuple[str, ...], folder: str = "") -> str | None:
    """The first folder holding every language's ``.traineddata``, or None."""
    candidates = [folder] if folder else []
    prefix = os.environ.get("TESSDATA_PREFIX", "")
    if prefix and not folder:
        candidates += [prefix, os.path.join(prefix, "tessdata")]
    if not folder:
        candidates += list(TESSDATA_FOLDERS)
    for candidate in candidates:
        if candidate and all((Path(candidate) / f"{lang}.traineddata").is_file() for lang in languages):
            return candidate
    return None


_availability_lock = threading.Lock()
_availability: dict[tuple[str, str], Availability] = {}
# Held while a check runs: the analysis threads of a new process all ask at their first picture, and each
# check loads an engine; the others wait for the first one's answer instead of loading engines of their own.
_check_lock = threading.Lock()


def availability(languages: str, tessdata: str = "") -> Availability:
    """Whether recognition can run with these languages; cached per process once it could."""
    key = (languages, tessdata)
    with _availability_lock:
        known = _availability.get(key)
    if known is not None:
        return known
    with _check_lock:
        with _availability_lock:
            known = _availability.get(key)
        if known is not None:
            return known
        found = _check(languages, tessdata)
        if found.available:
            with _availability_lock:
                _availability[key] = found
    return found


def _check(languages: str, tessdata: str) -> Availability:
    wanted = languages_of(languages)
    if not wanted:
        return Availability(False, "no OCR language configured (MEDIA_ANALYSIS_OCR_LANGUAGES)")
    if tesserocr is None:
        return Availability(False, f"the Tesseract binding is not installed ({BINDING_HINT})")
    folder = find_tessdata(wanted, tessdata)
    if folder is None:
        where = tessdata or "the usual tessdata folders"
        missing = " ".join(f"tesseract-ocr-{lang}" for lang in wanted)
        return Availability(
            False,
            f"Tesseract's language data for {'+'.join(wanted)} is not in {where} "
            f"(apt-get install tesseract-ocr {missing})",
        )
    joined = "+".join(wanted)
    try:
        api = _new_api(folder, joined)
    except Exception as exc:
        return Availability(False, f"Tesseract could not start ({exc}); {INSTALL_HINT}")
    # The engine that proved it starts is the pool's first: the first recognition does not load another.
    # recognise() is called with this folder and these languages joined (read.py), the pool's key. Another
    # spelling of the same languages checks again: its engine is kept only if the pool holds none.
    pool = _pool(folder, joined)[0]
    if pool.empty():
        pool.put(api)
    else:
        api.End()
    version = tesserocr.tesseract_version().split()[1] if tesserocr.tesseract_version() else "?"
    return Availability(True, engine=f"tesseract {version} {'+'.join(wanted)}", tessdata=folder)


# --- Engines, one per recognition at a time, one per core at most ---------------------------------


# Recognitions at once per process: one per core. Tesseract works without the GIL, so more
# threads recognising at once would not read faster, and each would load an engine of its own
# (a fraction of a second of CPU and tens of MiB); the others wait for a free one.
ENGINES = max(1, os.cpu_count() or 1)

_pools_lock = threading.Lock()
_pools: dict[tuple[str, str], tuple[queue.LifoQueue[Any], threading.BoundedSemaphore]] = {}


def _pool(tessdata: str, languages: str) -> tuple[queue.LifoQueue[Any], threading.BoundedSemaphore]:
    with _pools_lock:
        return _pools.setdefault((tessdata, languages), (queue.LifoQueue(), threading.BoundedSemaphore(ENGINES)))


def _new_api(tessdata: str, languages: str) -> Any:
    assert tesserocr is not None
    # PSM AUTO: captions, memes and screenshots mix blocks; OEM LSTM: the data Debian ships.
    return tesserocr.PyTessBaseAPI(
        path=tessdata,
        lang=languages,
        psm=tesserocr.PSM.AUTO,
        oem=tesserocr.OEM.LSTM_ONLY,
        # Light-on-dark text is handled before (read.py tries the picture's extreme tones), so Tesseract's
        # own second pass over inverted lines would only double the cost of doubtful lines.
        variables={"debug_file": "/dev/null", "tessedit_do_invert": "0"},
    )


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float
    language: str
    box: tuple[int, int, int, int]  # left, top, right, bottom
    line: int  # index of its text line


def recognise(picture: np.ndarray, tessdata: str, languages: str, timeout: float, block: bool = False) -> list[Word]:
    """The words Tesseract reads in ``picture`` (2-D uint8), in reading order; raises RecognitionTimeout.

    ``block``: the picture is one block of text (a crop around lines), not a page to lay out.
    """
    pool, slots = _pool(tessdata, languages)
    started = time.perf_counter()
    if not slots.acquire(timeout=timeout):
        raise RecognitionTimeout(f"recognition stopped after {timeout:g} s")
    try:
        return _recognise(pool, picture, tessdata, languages, timeout - (time.perf_counter() - started), block)
    finally:
        slots.release()


def _recognise(
    pool: queue.LifoQueue[Any], picture: np.ndarray, tessdata: str, languages: str, timeout: float, block: bool
) -> list[Word]:
    try:
        api = pool.get_nowait()
    except queue.Empty:
        api = _new_api(tessdata, languages)
    healthy = False
    try:
        height, width = picture.shape
        data = np.ascontiguousarray(picture).tobytes()
        assert tesserocr is not None
        api.SetPageSegMode(tesserocr.PSM.SINGLE_BLOCK if block else tesserocr.PSM.AUTO)
        api.SetImageBytes(data, width, height, 1, width)
        api.SetSourceResolution(300)
        if not api.Recognize(timeout=max(1, int(timeout * 1000))):
            api.Clear()
            healthy = True
            raise RecognitionTimeout(f"recognition stopped after {timeout:g} s")
        words = _words(api)
        api.Clear()
        healthy = True
        return words
    finally:
        if healthy:
            pool.put(api)
        else:
            api.End()


def _words(api: Any) -> list[Word]:
    assert tesserocr is not None
    level, line_level = tesserocr.RIL.WORD, tesserocr.RIL.TEXTLINE
    words: list[Word] = []
    try:
        iterator = api.GetIterator()
    except RuntimeError:  # "No text returned": nothing recognised
        return words
    if iterator is None:
        return words
    line = 0
    while True:
        if iterator.IsAtBeginningOf(line_level) and words:
            line += 1
        try:
            text = iterator.GetUTF8Text(level)
        except RuntimeError:
            text = ""
        if text and text.strip():
            box = iterator.BoundingBox(level)
            language = iterator.WordRecognitionLanguage() or ""
            words.append(Word(text.strip(), float(iterator.Confidence(level)), language, box, line))
        if not iterator.Next(level):
            break
    return words
