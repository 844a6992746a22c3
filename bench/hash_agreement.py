"""Benchmark: agreement of the stored perceptual hashes with imagehash on the fully decoded file.

    .venv/bin/python bench/hash_agreement.py             # the full run (about a minute)
    .venv/bin/python bench/hash_agreement.py --count 6   # a quick look

For each group of files: our ``analyse_image`` hashes against imagehash's
``phash``, ``dhash``, ``average_hash`` and ``colorhash`` of the same file opened
with Pillow and fully decoded (what a researcher computes elsewhere). Printed per
group and hash: files, identical, max Hamming distance in bits, share within 2 bits,
and whether the group meets its goal: identical wherever the engine decodes the
full image, within 2 bits on JPEGs it decodes at reduced DCT scale.

Groups: the analysis benchmark's photos (bench/_images.py), and web graphics built
in code (tests/support/graphics.py: flat colour, gradient, two-colour logo, line
art, bar chart, screenshot) in each lossless format, as small JPEGs (fully decoded)
and as large JPEGs (decoded at reduced scale); then 16-bit greyscale PNGs, which
the engine scales to 8 bits where Pillow's conversion, hence imagehash, clips them:
reported, with no goal.
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

import imagehash  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench._images import GROUPS, build_image_set  # noqa: E402
from media_analysis.engine.image import AnalysisOptions, analyse_image  # noqa: E402
from media_analysis.engine.image.decode import JPEG_DRAFT_MIN  # noqa: E402
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
    goal: int | None  # most bits any hash may differ by; None: no goal
    files: list[bytes]


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


def build_groups(count: int) -> list[Group]:
    groups = []
    photos = build_image_set(count)
    for group in GROUPS:
        drafted = group.format == "JPEG" and min(group.size) >= JPEG_DRAFT_MIN
        groups.append(Group(f"photos {group.name}", 2 if drafted else 0, photos[group.name]))
    seeds = max(1, count // 6)
    for fmt in ("PNG", "GIF", "WEBP", "BMP", "TIFF"):
        label = "webp lossless" if fmt == "WEBP" else fmt.lower()
        groups.append(Group(f"graphics {label}", 0, graphics_files(fmt, LOSSLESS_SIZES, seeds)))
    groups.append(Group("graphics jpeg, full decode", 0, graphics_files("JPEG", SMALL_JPEG_SIZES, seeds)))
    groups.append(Group("graphics jpeg, DCT-scaled", 2, graphics_files("JPEG", LARGE_JPEG_SIZES, seeds)))
    groups.append(Group("png 16-bit grey (scaled)", None, deep_pngs(max(2, count // 3))))
    return groups


def distances(data: bytes) -> dict[str, int]:
    ours = analyse_image(data, OPTIONS)
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return {
            name: bin(int(str(function(img)), 16) ^ int(str(getattr(ours, name)), 16)).count("1")
            for name, function in HASHES.items()
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24, help="photos per benchmark group; graphics scale with it")
    args = parser.parse_args()

    print(f"perceptual hashes against imagehash {imagehash.__version__} on the fully decoded file")
    print("per hash: identical / files, max bits, share within 2 bits\n")
    header = f"{'group':<28} {'files':>5} " + " ".join(f"{name:>20}" for name in HASHES) + "  goal"
    print(header)
    failures = 0
    for group in build_groups(args.count):
        rows = [distances(data) for data in group.files]
        cells = []
        worst = 0
        for name in HASHES:
            values = [row[name] for row in rows]
            identical = sum(v == 0 for v in values)
            within = sum(v <= 2 for v in values) / len(values)
            worst = max(worst, max(values))
            cells.append(f"{identical:>4}/{len(values):<4} {max(values):>2} {within:>6.1%}")
        if group.goal is None:
            verdict = "none"
        else:
            met = worst <= group.goal
            failures += not met
            verdict = ("identical" if group.goal == 0 else f"<= {group.goal} bits") + (" met" if met else " MISSED")
        print(f"{group.name:<28} {len(group.files):>5} " + " ".join(f"{cell:>20}" for cell in cells) + f"  {verdict}")
    print()
    print("every goal met" if not failures else f"{failures} group(s) missed their goal")


if __name__ == "__main__":
    main()
