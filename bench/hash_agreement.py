"""Benchmark: agreement of the stored perceptual hashes with imagehash on the fully decoded file.

    .venv/bin/python bench/hash_agreement.py             # the full run (about a minute)
    .venv/bin/python bench/hash_agreement.py --count 6   # a quick look
    .venv/bin/python bench/hash_agreement.py --jpeg-draft-side 100 200 0   # other JPEG decodes
    .venv/bin/python bench/hash_agreement.py --large-jpegs --jpeg-draft-side 100 200 400 0
    .venv/bin/python bench/hash_agreement.py --large-jpegs --jpeg-draft-side 200 --reduce 2

For each group of files: our ``analyse_image`` hashes against imagehash's
``phash``, ``dhash``, ``average_hash`` and ``colorhash`` of the same file opened
with Pillow and fully decoded (what a researcher computes elsewhere). Printed per
group and hash: files, identical, max Hamming distance in bits, share within 2 bits,
and whether the group meets its goal: identical wherever the engine decodes the
full image, within 2 bits on JPEGs it decodes at reduced DCT scale.

Groups: the analysis benchmark's photos (bench/_images.py), and web graphics built
in code (tests/support/graphics.py: flat colour, gradient, two-colour logo, line
art, bar chart, screenshot) in each lossless format, as small JPEGs (fully decoded)
and as large JPEGs (decoded at reduced scale); large JPEGs encoded in unusual ways
(CMYK, greyscale, progressive, no chroma subsampling, low quality, odd sizes); then
16-bit greyscale PNGs, which the engine scales to 8 bits where Pillow's conversion,
hence imagehash, clips them: reported, with no goal.

``--jpeg-draft-side`` measures other decodes of large JPEGs than the engine's (see
bench/_jpeg_draft.py): at the smallest DCT scale keeping that many pixels on the
short side, or (0) in full; one table per value. ``--large-jpegs`` keeps only the
groups of large JPEGs (the ones a draft can change), the other groups being
decoded in full whatever the draft. ``--reduce N`` hashes a drafted JPEG's draft
after Pillow's ``reduce(N)`` (a box filter) rather than the draft itself.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

import imagehash  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench._images import GROUPS, _variant, build_image_set  # noqa: E402
from bench._jpeg_draft import drafted, hashes_of_reduced_draft, jpeg_draft_side, label  # noqa: E402
from media_analysis.engine.image import AnalysisOptions, analyse_image  # noqa: E402
from tests.support.graphics import GRAPHICS, encoded  # noqa: E402

HASHES = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "ahash": imagehash.average_hash,
    "colorhash": imagehash.colorhash,
}
OPTIONS = AnalysisOptions(colors=False, exif=False)

LOSSLESS_SIZES = ((320, 240), (800, 600), (1200, 800))
SMALL_JPEG_SIZES = ((320, 240), (600, 390))
LARGE_JPEG_SIZES = ((800, 600), (1200, 800), (1600, 1067))


@dataclass
class Group:
    name: str
    files: list[bytes]
    goal: bool = True  # identical when fully decoded, within 2 bits when decoded at reduced scale; False: no goal


def unusual_jpegs(count: int) -> list[bytes]:
    """Large photo JPEGs as cameras, editors and old encoders also write them."""
    rng = random.Random("unusual jpegs")
    sizes = ((1201, 799), (1600, 1067), (2400, 1600), (800, 533), (1000, 1000), (640, 480), (3000, 400))
    files = []
    for index in range(count):
        img = _variant(index, rng.choice(sizes), rng)
        kind = index % 6
        if kind == 0:
            files.append(encoded_jpeg(img.convert("CMYK"), quality=90))
        elif kind == 1:
            files.append(encoded_jpeg(img.convert("L"), quality=85))
        elif kind == 2:
            files.append(encoded_jpeg(img, quality=80, progressive=True))
        elif kind == 3:
            files.append(encoded_jpeg(img, quality=95, subsampling=0))
        elif kind == 4:
            files.append(encoded_jpeg(img, quality=60))
        else:
            files.append(encoded_jpeg(img.resize((img.width // 3 * 3 + 1, img.height // 3 * 3 + 2)), quality=75))
    return files


def encoded_jpeg(img: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", **params)
    return buffer.getvalue()


def graphics_files(fmt: str, sizes: tuple[tuple[int, int], ...], seeds: int) -> list[bytes]:
    return [encoded(build(size, seed), fmt) for build in GRAPHICS.values() for size in sizes for seed in range(seeds)]


def deep_pngs(count: int) -> list[bytes]:
    files = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        ramp = np.linspace(0, rng.uniform(2000, 65535), 400)
        pixels = np.add.outer(ramp[:300] * rng.uniform(0.2, 1.0), ramp).clip(0, 65535).astype(np.uint16)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        files.append(buffer.getvalue())
    return files


# The benchmark photo groups holding JPEGs large enough to be drafted.
LARGE_PHOTO_GROUPS = ("jpeg_1200x800", "jpeg_2000x1333", "jpeg_4000x3000")


def build_groups(count: int, large_jpegs: bool = False) -> list[Group]:
    groups = []
    chosen = tuple(group for group in GROUPS if not large_jpegs or group.name in LARGE_PHOTO_GROUPS)
    photos = build_image_set(count, groups=chosen)
    for group in chosen:
        groups.append(Group(f"photos {group.name}", photos[group.name]))
    seeds = max(1, count // 6)
    if large_jpegs:
        groups.append(Group("graphics jpeg, large", graphics_files("JPEG", LARGE_JPEG_SIZES, seeds)))
        groups.append(Group("jpeg, unusual encodings", unusual_jpegs(count)))
        return groups
    for fmt in ("PNG", "GIF", "WEBP", "BMP", "TIFF"):
        name = "webp lossless" if fmt == "WEBP" else fmt.lower()
        groups.append(Group(f"graphics {name}", graphics_files(fmt, LOSSLESS_SIZES, seeds)))
    groups.append(Group("graphics jpeg, small", graphics_files("JPEG", SMALL_JPEG_SIZES, seeds)))
    groups.append(Group("graphics jpeg, large", graphics_files("JPEG", LARGE_JPEG_SIZES, seeds)))
    groups.append(Group("jpeg, unusual encodings", unusual_jpegs(count)))
    groups.append(Group("png 16-bit grey (scaled)", deep_pngs(max(2, count // 3)), goal=False))
    return groups


def allowed_bits(data: bytes) -> int:
    """The goal for one file: identical to imagehash, or within 2 bits for a JPEG decoded at reduced scale."""
    with Image.open(io.BytesIO(data)) as img:
        return 2 if img.format in ("JPEG", "MPO") and drafted(img.size) else 0


def reference_hashes(data: bytes) -> dict[str, str]:
    """imagehash's hashes of the file opened by Pillow and fully decoded: what a researcher computes elsewhere."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return {name: str(function(img)) for name, function in HASHES.items()}


def distances(data: bytes, reference: dict[str, str]) -> dict[str, int]:
    ours = analyse_image(data, OPTIONS)
    return {name: bin(int(reference[name], 16) ^ int(str(getattr(ours, name)), 16)).count("1") for name in HASHES}


def report(groups: list[Group], references: list[list[dict[str, str]]]) -> int:
    """Print one table; return the number of groups that missed their goal."""
    header = f"{'group':<28} {'files':>5} " + " ".join(f"{name:>20}" for name in HASHES) + "  goal"
    print(header)
    failures = 0
    for group, group_references in zip(groups, references, strict=True):
        rows = [distances(data, reference) for data, reference in zip(group.files, group_references, strict=True)]
        cells = []
        for name in HASHES:
            values = [row[name] for row in rows]
            identical = sum(v == 0 for v in values)
            within = sum(v <= 2 for v in values) / len(values)
            cells.append(f"{identical:>4}/{len(values):<4} {max(values):>2} {within:>6.1%}")
        if not group.goal:
            verdict = "none"
        else:
            allowed = [allowed_bits(data) for data in group.files]
            met = all(max(row.values()) <= bits for row, bits in zip(rows, allowed, strict=True))
            over = sum(max(row.values()) > bits for row, bits in zip(rows, allowed, strict=True))
            failures += not met
            verdict = ("identical" if max(allowed) == 0 else "<= 2 bits") + (" met" if met else f" MISSED ({over})")
        print(f"{group.name:<28} {len(group.files):>5} " + " ".join(f"{cell:>20}" for cell in cells) + f"  {verdict}")
    print()
    print("every goal met" if not failures else f"{failures} group(s) missed their goal")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24, help="photos per benchmark group; graphics scale with it")
    parser.add_argument(
        "--jpeg-draft-side",
        type=int,
        nargs="*",
        default=[None],
        help="large JPEGs decoded keeping this many px on the short side (0: in full); default: the engine's",
    )
    parser.add_argument("--large-jpegs", action="store_true", help="only the groups of large JPEGs")
    parser.add_argument(
        "--reduce",
        type=int,
        default=1,
        help="hash a drafted JPEG's draft box-reduced by this factor (Pillow's reduce) instead of the draft itself",
    )
    args = parser.parse_args()

    groups = build_groups(args.count, args.large_jpegs)
    references = [[reference_hashes(data) for data in group.files] for group in groups]
    print(f"perceptual hashes against imagehash {imagehash.__version__} on the fully decoded file")
    print("per hash: identical / files, max bits, share within 2 bits; MISSED (files over their goal)")
    for side in args.jpeg_draft_side:
        with jpeg_draft_side(side), hashes_of_reduced_draft(args.reduce):
            print()
            reduced = f", hashed after reduce({args.reduce})" if args.reduce > 1 else ""
            print(f"large JPEGs: {label(side) if side is not None else 'as the engine decodes them'}{reduced}")
            report(groups, references)


if __name__ == "__main__":
    main()
