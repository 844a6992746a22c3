"""Text in pictures (OCR): accuracy per kind of picture, photos skipped, and the cost on two cores.

Builds a seeded set of pictures whose text is known:

* ``caption_plain``: a caption of 20 to 48 px on a plain background, in several
  fonts (DejaVu Sans, Serif, Mono, condensed and bold, Pillow's own Aileron) and colours;
* ``caption_photo``: the same over a real photo (scikit-image's and scikit-learn's
  sample photos), white or yellow with a dark outline, or dark on a light band,
  at the top or the bottom, as memes set them;
* ``caption_small``: captions of 12 to 18 px over photos (below the goal's size);
* ``screenshot``: screenshots of text: a few lines of 14 to 18 px in a window;
* ``photo``: photos without any text, cropped and scaled.

For each kind it prints the character error rate (edit distance over the
reference's length, whitespace collapsed) and the share of pictures the
likelihood test sent to recognition; for photos, the share skipped. The set is
split in two halves by index: the threshold of the likelihood test may be tuned
on the tuning half; the held-out half reports. Then the speed: images analysed
per second by two threads (two cores) over a land-like mix (mostly photos, some
captions and screenshots), encoded as JPEG and PNG, without and with OCR.

    .venv/bin/python bench/ocr.py [--per-kind 40] [--speed-images 120] [--threshold X]

``--set fresh`` reads instead a third set, built from sources the two halves never use (other
typefaces, photos and sentences: ``bench/_ocr_fresh.py``); it was read once and is now tuning material,
as is ``--set tune``: that set as read and ``--per-kind`` more pictures a kind of its sources. ``--set
fresh2`` reads the second fresh set (``bench/_ocr_fresh2.py``), read once and now tuning material too;
``--set fresh3`` the third (``bench/_ocr_fresh3.py``: sources no other set uses), whole and once, on
the final engine. These print the same table and nothing else. ``--render DIR`` writes the
first pictures of each kind of the chosen set and their texts to DIR without reading them, to check
what the set draws.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._ocr_fresh import wrap
from media_analysis.engine.image import AnalysisOptions, analyse_image
from media_analysis.engine.text import TextOptions
from media_analysis.engine.text.likelihood import text_likelihood
from media_analysis.engine.text.read import read_text
from media_analysis.engine.text.tesseract import availability

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "",  # Pillow's own font (Aileron)
)
PHRASES = (
    "when the code finally works",
    "nobody expects the spanish inquisition",
    "this is fine",
    "one does not simply walk into the office",
    "stop the war now",
    "climate justice for all",
    "read the terms before you sign",
    "breaking news from the city council",
    "le chat est sur la table",
    "liberté égalité fraternité",
    "pas de retraite à soixante-quatre ans",
    "on ne lâche rien",
    "la planète brûle et nous regardons ailleurs",
    "bonjour à tous les amis du quartier",
    "the quick brown fox jumps over the lazy dog",
    "vote on sunday 12 march",
    "free public transport in 2025",
    "save the forest",
    "quand le code marche enfin",
    "tout le monde déteste les lundis",
)
SKIMAGE_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "retina",
    "rocket",
)
KINDS = ("caption_plain", "caption_photo", "caption_small", "screenshot", "photo")


@dataclass
class Sample:
    kind: str
    index: int
    image: Image.Image
    text: str  # the ground truth, lines joined by newlines; empty for photos


@cache
def photos() -> tuple[Image.Image, ...]:
    from skimage import data
    from sklearn.datasets import load_sample_image

    found = [Image.fromarray(load_sample_image(name)).convert("RGB") for name in ("china.jpg", "flower.jpg")]
    for name in SKIMAGE_PHOTOS:
        found.append(Image.fromarray(getattr(data, name)()).convert("RGB"))
    return tuple(found)


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    if not name:
        return ImageFont.load_default(size=size)  # type: ignore[return-value]
    return ImageFont.truetype(os.path.join(FONT_DIR, name), size)


def photo_crop(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    photo = rng.choice(photos())
    pw, ph = photo.size
    ratio = size[0] / size[1]
    cw = min(pw, int(ph * ratio)) * rng.uniform(0.6, 1.0)
    ch = cw / ratio
    left, top = rng.uniform(0, pw - cw), rng.uniform(0, ph - ch)
    return photo.crop((int(left), int(top), int(left + cw), int(top + ch))).resize(size, Image.Resampling.BICUBIC)


def caption_lines(rng: random.Random, typeface: ImageFont.FreeTypeFont, width: int) -> list[str]:
    words = rng.choice(PHRASES).split()
    if rng.random() < 0.5:
        words = [w.upper() for w in words]
    return wrap(words, typeface, width)


def draw_caption(img: Image.Image, rng: random.Random, size: int, style: str) -> str:
    typeface = font(rng.choice(FONTS), size)
    width, height = img.size
    lines = caption_lines(rng, typeface, int(width * 0.9))
    draw = ImageDraw.Draw(img)
    line_height = int(size * 1.3)
    block = line_height * len(lines)
    top = rng.choice((int(height * 0.05), height - block - int(height * 0.05)))
    for number, line in enumerate(lines):
        text_width = typeface.getlength(line)
        x = max(2, int((width - text_width) / 2))
        y = top + number * line_height
        if style == "outline":
            fill = rng.choice(((255, 255, 255), (255, 230, 0)))
            draw.text((x, y), line, font=typeface, fill=fill, stroke_width=max(1, size // 12), stroke_fill=(0, 0, 0))
        elif style == "band":
            draw.rectangle((0, y - 2, width, y + line_height), fill=(245, 245, 240))
            draw.text((x, y), line, font=typeface, fill=rng.choice(((0, 0, 0), (180, 0, 0), (20, 40, 120))))
        else:  # plain colour on plain background, chosen by the caller
            draw.text((x, y), line, font=typeface, fill=style_colour(style))
    return "\n".join(lines)


def style_colour(style: str) -> tuple[int, int, int]:
    return tuple(int(style[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


PLAIN_PAIRS = (
    ((255, 255, 255), "#000000"),
    ((250, 245, 230), "#1a237e"),
    ((20, 20, 20), "#ffffff"),
    ((200, 30, 40), "#ffffff"),
    ((255, 235, 59), "#000000"),
    ((230, 240, 250), "#b71c1c"),
)


def make_sample(kind: str, index: int) -> Sample:
    rng = random.Random(f"{kind}-{index}")
    size = rng.choice(((640, 480), (800, 600), (1000, 667), (600, 600), (1200, 800)))
    if kind == "photo":
        return Sample(kind, index, photo_crop(rng, size), "")
    if kind == "caption_plain":
        background, colour = rng.choice(PLAIN_PAIRS)
        img = Image.new("RGB", size, background)
        text = draw_caption(img, rng, rng.randrange(20, 49), colour)
        return Sample(kind, index, img, text)
    if kind in ("caption_photo", "caption_small"):
        img = photo_crop(rng, size)
        text_size = rng.randrange(20, 49) if kind == "caption_photo" else rng.randrange(12, 19)
        text = draw_caption(img, rng, text_size, rng.choice(("outline", "outline", "band")))
        return Sample(kind, index, img, text)
    return screenshot(rng, index)


def screenshot(rng: random.Random, index: int) -> Sample:
    dark = rng.random() < 0.3
    background, ink = ((30, 30, 36), (230, 230, 230)) if dark else ((255, 255, 255), (30, 30, 30))
    width, height = rng.choice(((800, 600), (1024, 700), (600, 900)))
    img = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width, 36), fill=(60, 90, 160))  # a title bar without text
    size = rng.randrange(14, 19)
    typeface = font(rng.choice(FONTS[:5]), size)
    lines: list[str] = []
    y = 60
    while y < height - 3 * size and len(lines) < 12:
        line = " ".join(rng.choice(PHRASES).split()[: rng.randrange(3, 8)])
        draw.text((24, y), line, font=typeface, fill=ink)
        lines.append(line)
        y += int(size * 1.6) + (size if rng.random() < 0.25 else 0)
    return Sample("screenshot", index, img, "\n".join(lines))


def build_set(per_kind: int) -> list[Sample]:
    return [make_sample(kind, i) for kind in KINDS for i in range(per_kind)]


def fresh_set(per_kind: int, name: str = "fresh", seed: str | None = None) -> list[Sample]:
    """A set drawn by bench/_ocr_fresh.py (``fresh``), _ocr_fresh2.py or _ocr_fresh3.py, or an exit naming its lacks."""
    from bench import _ocr_fresh, _ocr_fresh2, _ocr_fresh3

    design = {"fresh2": _ocr_fresh2.FRESH2, "fresh3": _ocr_fresh3.FRESH3}.get(name, _ocr_fresh.FRESH)
    lacking = _ocr_fresh.missing(design)
    if lacking:
        packages = " ".join(sorted({source.package for source in lacking}))
        sys.exit(
            f"{name} set skipped: {len(lacking)} of its fonts and photos are not installed "
            f"(first: {lacking[0].path}); install them with: apt-get install {packages}"
        )
    pictures = _ocr_fresh.build(per_kind, seed, design)
    fingerprint = _ocr_fresh.digest(pictures)
    print(f"{name} set (seed {seed or design.seed}): {len(pictures)} pictures, fingerprint {fingerprint}")
    return [Sample(p.kind, p.index, p.image, p.text) for p in pictures]


# The second tuning set: the first fresh set's sources drawn again with this seed (the first fresh set,
# read once, is tuning material too).
TUNE_SEED = "ocr-tune-2026-12-05"


def tuning_set(per_kind: int) -> list[tuple[str, list[Sample]]]:
    """The first fresh set as it was read (40 a kind) and ``per_kind`` more a kind drawn from its sources."""
    return [("fresh set", fresh_set(40)), ("its sources again", fresh_set(per_kind, seed=TUNE_SEED))]


def render(samples: list[Sample], folder: Path, count: int) -> None:
    """Each kind's first pictures as PNG and the text drawn on each as .txt, for a person to check: nothing is read."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for sample in samples:
        if sample.index < count:
            stem = folder / f"{sample.kind}-{sample.index:03d}"
            sample.image.save(stem.with_suffix(".png"))
            stem.with_suffix(".txt").write_text(sample.text + "\n", encoding="utf-8")
            written += 1
    print(f"{written} pictures and their texts written to {folder}")


# --- Measures -------------------------------------------------------------------


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def flat(text: str) -> str:
    return " ".join(text.split())


def cer(found: str, truth: str) -> float:
    return edit_distance(flat(found), flat(truth)) / max(1, len(flat(truth)))


def evaluate(
    samples: list[Sample], options: TextOptions, confusions: list[tuple[str, int, float, str, str, str]] | None = None
) -> dict[str, dict[str, float]]:
    """CER, share recognised and CPU per kind; each captioned picture's reading appended to ``confusions``."""
    confusions = [] if confusions is None else confusions
    by_kind: dict[str, list[tuple[float, bool, float, float]]] = {}
    for sample in samples:
        # CPU time of this thread (Tesseract works in the calling thread): the machine's load does not count.
        cpu = time.thread_time()
        reading = read_text(sample.image, options)
        cpu = time.thread_time() - cpu
        recognised = reading.status != "skipped"
        error = cer(reading.text, sample.text) if sample.text else 0.0
        by_kind.setdefault(sample.kind, []).append((error, recognised, reading.recognise_ms or 0.0, cpu))
        if sample.text:
            confusions.append((sample.kind, sample.index, error, reading.status, reading.text, sample.text))
    report = {}
    for kind, rows in by_kind.items():
        errors = [row[0] for row in rows]
        report[kind] = {
            "n": len(rows),
            "cer_mean": statistics.fmean(errors),
            "cer_median": statistics.median(errors),
            "recognised": sum(row[1] for row in rows) / len(rows),
            "recognise_ms_mean": statistics.fmean(row[2] for row in rows),
            "cpu_ms_mean": 1000 * statistics.fmean(row[3] for row in rows),
            "cpu_ms_median": 1000 * statistics.median(row[3] for row in rows),
        }
    return report


def print_report(title: str, report: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(
        f"{'kind':<15} {'n':>4} {'CER mean':>9} {'CER med':>8} {'recognised':>10} {'skipped':>8} {'rec. ms':>8} "
        f"{'CPU ms':>7} {'CPU med':>7}"
    )
    for kind in KINDS:
        row = report.get(kind)
        if row is None:
            continue
        print(
            f"{kind:<15} {int(row['n']):>4} {100 * row['cer_mean']:>8.2f}% {100 * row['cer_median']:>7.2f}% "
            f"{100 * row['recognised']:>9.1f}% {100 * (1 - row['recognised']):>7.1f}% {row['recognise_ms_mean']:>8.0f} "
            f"{row['cpu_ms_mean']:>7.0f} {row['cpu_ms_median']:>7.0f}"
        )


def print_confusions(title: str, confusions: list[tuple[str, int, float, str, str, str]], worst: int) -> None:
    """The pictures of each kind read worst: what was read against what was drawn."""
    print(f"\n{title}: the {worst} worst readings of each kind")
    for kind in KINDS:
        rows = sorted((c for c in confusions if c[0] == kind and c[2] > 0), key=lambda c: -c[2])[:worst]
        for _, index, error, status, found, truth in rows:
            print(f"  {kind:<14} #{index:<4} {100 * error:6.2f}% {status:<8} read {flat(found)!r} for {flat(truth)!r}")


def tune_threshold(samples: list[Sample]) -> float:
    """The highest threshold that still sends 97 % of the captions of 20 px or more to recognition."""
    scores = [
        text_likelihood(np.asarray(s.image.convert("L"))).score
        for s in samples
        if s.kind in ("caption_plain", "caption_photo", "screenshot")
    ]
    scores.sort()
    return max(0.01, scores[int(0.03 * len(scores))] * 0.999)


# --- Speed ----------------------------------------------------------------------


# Shares of the speed mix: photos without text, captions over photos, captions on plain grounds, and the
# rest screenshots. Three pictures in ten with text: more than a land of news or campaign photos has, so
# the cost of OCR is not understated.
MIX_SHARES = (("photo", 0.7), ("caption_photo", 0.15), ("caption_plain", 0.08))
MIX_TEXT_SHARE = 1 - MIX_SHARES[0][1]


def mix_kind(roll: float) -> str:
    bound = 0.0
    for kind, share in MIX_SHARES:
        bound += share
        if roll < bound:
            return kind
    return "screenshot"


def encoded_mix(count: int) -> list[bytes]:
    """A land-like mix: seven photos in ten, the rest captions and screenshots; JPEG mostly, some PNG."""
    rng = random.Random("mix")
    out = []
    for i in range(count):
        kind = mix_kind(rng.random())
        sample = make_sample(kind, 10_000 + i)
        buffer = io.BytesIO()
        if kind in ("screenshot", "caption_plain") and rng.random() < 0.6:
            sample.image.save(buffer, "PNG")
        else:
            sample.image.save(buffer, "JPEG", quality=88)
        out.append(buffer.getvalue())
    return out


def throughput(contents: list[bytes], options: AnalysisOptions, threads: int = 2) -> tuple[float, float]:
    """Images per second (wall) and CPU seconds of the process per image."""
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda c: analyse_image(c, options), contents[:threads]))  # engines loaded, caches warm
        started, cpu = time.perf_counter(), time.process_time()
        list(pool.map(lambda c: analyse_image(c, options), contents))
        return len(contents) / (time.perf_counter() - started), (time.process_time() - cpu) / len(contents)


def compare_bindings(samples: list[Sample], tessdata: str) -> None:
    """The same pictures through tesserocr (engine kept in process) and pytesseract (a program per picture)."""
    try:
        import pytesseract
    except ImportError:
        print("\nbindings: pytesseract not installed, comparison skipped")
        return
    from media_analysis.engine.text.tesseract import recognise

    pictures = [np.asarray(s.image.convert("L")) for s in samples]
    recognise(pictures[0], tessdata, "eng+fra", 60)  # the engine loaded once, as in a consumer
    timings: dict[str, list[float]] = {"tesserocr": [], "pytesseract": []}
    for picture in pictures:
        started = time.perf_counter()
        recognise(picture, tessdata, "eng+fra", 60)
        timings["tesserocr"].append(time.perf_counter() - started)
        started = time.perf_counter()
        pytesseract.image_to_data(Image.fromarray(picture), lang="eng+fra", config="--psm 3")
        timings["pytesseract"].append(time.perf_counter() - started)
    print(f"\nbindings, {len(pictures)} pictures read whole (page layout), one thread, ms per picture:")
    for name, values in timings.items():
        print(
            f"  {name:<12} median {1000 * statistics.median(values):6.0f}   mean {1000 * statistics.fmean(values):6.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-kind", type=int, default=40, help="pictures per kind (half tuning, half held out)")
    parser.add_argument("--speed-images", type=int, default=120)
    parser.add_argument("--speed-runs", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=None, help="likelihood threshold (default: the engine's)")
    parser.add_argument("--tune", action="store_true", help="tune the threshold on the tuning half first")
    parser.add_argument("--bindings", type=int, default=12, help="pictures timed through both bindings (0: none)")
    parser.add_argument("--confusions", type=int, default=0, help="print each kind's N worst readings (0: none)")
    parser.add_argument("--tuning-only", action="store_true", help="read the tuning half only, and stop")

    parser.add_argument(
        "--set",
        choices=("halves", "tune", "fresh", "fresh2", "fresh3"),
        default="halves",
        help="halves: the tuning and held-out halves; tune: the first fresh set and more of its sources, for "
        "tuning; fresh3: the set never used for tuning (read it once, at the end); fresh, fresh2: the first and "
        "second fresh sets, read once each and now tuning material",
    )
    parser.add_argument("--render", metavar="DIR", help="write the set's first pictures and texts to DIR, and stop")
    parser.add_argument("--render-count", type=int, default=3, help="pictures of each kind written by --render")
    args = parser.parse_args()

    if args.set in ("fresh", "fresh2", "fresh3"):
        fresh = fresh_set(args.per_kind, args.set)  # before the engine, so a machine without the sources learns it
        if args.render:
            render(fresh, Path(args.render), args.render_count)
            return
        if args.tune:
            sys.exit("--tune reads the tuning half: tune there, then pass its --threshold to the fresh set")
    elif args.set == "tune":
        parts = tuning_set(args.per_kind)
        if args.render:
            render(parts[1][1], Path(args.render), args.render_count)
            return
    elif args.render:
        render(build_set(min(args.per_kind, args.render_count)), Path(args.render), args.render_count)
        return

    found = availability(TextOptions().languages)
    if not found.available:
        sys.exit(f"OCR unavailable: {found.reason}")
    print(f"engine: {found.engine} ({found.tessdata}); {os.cpu_count()} CPUs")
    if args.set in ("fresh", "fresh2", "fresh3"):
        options = TextOptions() if args.threshold is None else TextOptions(threshold=args.threshold)
        print(f"likelihood threshold: {options.threshold}")
        readings: list[tuple[str, int, float, str, str, str]] = []
        print_report(f"{args.set} set ({len(fresh)} pictures, read whole)", evaluate(fresh, options, readings))
        if args.confusions:
            print_confusions(f"{args.set} set", readings, args.confusions)
        return
    if args.set == "tune":
        options = TextOptions() if args.threshold is None else TextOptions(threshold=args.threshold)
        print(f"likelihood threshold: {options.threshold}")
        for title, part in parts:
            part_readings: list[tuple[str, int, float, str, str, str]] = []
            print_report(f"{title} ({len(part)} pictures)", evaluate(part, options, part_readings))
            if args.confusions:
                print_confusions(title, part_readings, args.confusions)
        return
    samples = build_set(args.per_kind)
    tuning = [s for s in samples if s.index % 2 == 0]
    held_out = [s for s in samples if s.index % 2 == 1]
    options = TextOptions()
    if args.tune:
        threshold = tune_threshold(tuning)
        print(f"threshold tuned on the tuning half: {threshold:.3f}")
        options = TextOptions(threshold=threshold)
    elif args.threshold is not None:
        options = TextOptions(threshold=args.threshold)
    print(f"likelihood threshold: {options.threshold}")
    halves = (("tuning half", tuning), ("held-out half", held_out))
    for title, half in halves[: 1 if args.tuning_only else 2]:
        confusions: list[tuple[str, int, float, str, str, str]] = []
        print_report(title, evaluate(half, options, confusions))
        if args.confusions:
            print_confusions(title, confusions, args.confusions)
    if args.tuning_only:
        return

    if args.bindings:
        chosen = [s for s in held_out if s.kind in ("caption_plain", "caption_photo", "screenshot")]
        compare_bindings(chosen[:: max(1, len(chosen) // args.bindings)][: args.bindings], found.tessdata)

    if args.speed_runs < 1:
        return
    contents = encoded_mix(args.speed_images)
    plain = AnalysisOptions(timeout=None)
    with_text = AnalysisOptions(timeout=None, text=options)
    without_runs, with_runs = [], []
    for _ in range(args.speed_runs):
        without_runs.append(throughput(contents, plain))
        with_runs.append(throughput(contents, with_text))
    without, with_ocr = (statistics.median(r for r, _ in runs) for runs in (without_runs, with_runs))
    cpu_without, cpu_with = (statistics.median(c for _, c in runs) for runs in (without_runs, with_runs))
    print(f"\nspeed, {len(contents)} images, 2 threads, median of {args.speed_runs} runs:")
    for name, runs, rate, cpu in (
        ("without", without_runs, without, cpu_without),
        ("with", with_runs, with_ocr, cpu_with),
    ):
        listed = ", ".join(f"{r:.1f}" for r, _ in runs)
        print(f"  {name} OCR: {rate:.1f} images/s (runs {listed}), CPU {1000 * cpu:.0f} ms an image")
    print(f"  ratio with/without: {with_ocr / without:.2f} (wall), {cpu_without / cpu_with:.2f} (CPU)")


if __name__ == "__main__":
    main()
