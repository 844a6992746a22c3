"""Benchmark: dominant colours of large JPEGs against the predecessor's, group by group.

    .venv/bin/python bench/palette_groups.py              # verdicts (a few minutes), then CPU times
    .venv/bin/python bench/palette_groups.py --count 8    # a quick look
    .venv/bin/python bench/palette_groups.py --methods 0 1 --jpeg-draft-side 200   # another draft

``--methods`` keeps only some of the k-means below (by place: 0 the engine's, 1 the
engine's before analysis version 5, 2 one run on the whole sample, 3 the consensus in
numpy); ``--jpeg-draft-side`` decodes large JPEGs at the smallest DCT scale keeping that
many pixels on their short side (bench/_jpeg_draft.py).

Large JPEGs are decoded at reduced DCT scale, so their colour sample only
approximates the predecessor's. For each group of large JPEGs (the analysis
benchmark's three, the unusual encodings and the large graphics of
bench/hash_agreement.py) prints ``palette_equivalence.verdict`` of four k-means
against the predecessor's palette: the engine's (the compiled consensus of colours.py),
the engine's before (numpy, every other pixel of the sample on each axis), one run on
the whole sample, and the consensus in numpy (bench/_palette_consensus.py); for the
whole group, its tuning half (files 0, 1, 4, 5, ...: both sample photos) and its test
half, and the number of files more than 13 dE away. Then the CPU time of each k-means
on the 1200x800 JPEGs' samples, beside the engine's whole analysis and the
predecessor's (one thread), best of ``--repeat`` runs per image, median over the
images, interleaved.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT.parent / "shared" / "bench"))

import numpy as np  # noqa: E402
from palette_equivalence import compare, verdict  # noqa: E402
from PIL import Image  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from upstream_reference import analyse_bytes  # noqa: E402

from bench._images import GROUPS, build_image_set  # noqa: E402
from bench._jpeg_draft import jpeg_draft_side  # noqa: E402
from bench._jpeg_draft import label as decode_label  # noqa: E402
from bench._palette_consensus import consensus_colours  # noqa: E402
from bench.hash_agreement import LARGE_JPEG_SIZES, LARGE_PHOTO_GROUPS, graphics_files, unusual_jpegs  # noqa: E402
from media_analysis.engine.image import analyse_image  # noqa: E402
from media_analysis.engine.image.analyse import _colour_sample  # noqa: E402
from media_analysis.engine.image.colours import _describe, dominant_colours, kmeans, warm_up  # noqa: E402
from media_analysis.engine.image.decode import decode_frame, normalised  # noqa: E402


def sample(data: bytes) -> tuple[np.ndarray, bool]:
    """The analysis's 100x100 colour sample of ``data`` and whether it was decoded at reduced scale."""
    frame = decode_frame(Image.open(io.BytesIO(data)), data)
    picture = _colour_sample(normalised(frame.image), frame.box)
    pixels = np.asarray(picture if picture.mode == "RGB" else picture.convert("RGB"))
    return pixels, frame.box is not None


def engine(pixels: np.ndarray) -> list[dict]:
    return dominant_colours(pixels.reshape(-1, 3), approximate=True)


def before(pixels: np.ndarray) -> list[dict]:
    quarter = pixels[::2, ::2].reshape(-1, 3)
    return _describe(*kmeans(quarter, 5), len(quarter))


def whole(pixels: np.ndarray) -> list[dict]:
    return dominant_colours(pixels.reshape(-1, 3))


def consensus(pixels: np.ndarray) -> list[dict]:
    return consensus_colours(pixels.reshape(-1, 3))


METHODS: dict[str, Callable[[np.ndarray], list[dict]]] = {
    "engine (consensus, compiled)": engine,
    "before v5 (numpy, 2,500 px)": before,
    "whole sample, one run": whole,
    "consensus in numpy": consensus,
}


def _line(rows: list[dict[str, float]]) -> str:
    v = verdict(rows)
    return (
        f"{v['delta_e_median']:6.3f} {v['delta_e_p90']:7.3f} {v['sse_ratio_p90']:7.4f} "
        f"{'yes' if v['equivalent'] else 'NO':>3}"
    )


def verdicts(groups: dict[str, list[bytes]]) -> None:
    columns = f"{'all: dE med, p90, SSE p90, eq':<32} {'tuning half':<32} {'test half':<32} >13"
    print(f"{'group':<24} {'k-means':<28} {columns}")
    for name, files in groups.items():
        samples = [sample(data) for data in files]
        pairs = enumerate(zip(files, samples, strict=True))
        kept = [(i, data, pixels) for i, (data, (pixels, drafted)) in pairs if drafted]
        for label, method in METHODS.items():
            rows = [(i, compare(data, method(pixels))) for i, data, pixels in kept]
            every = [row for _, row in rows]
            tuning = [row for i, row in rows if i % 4 in (0, 1)]
            test = [row for i, row in rows if i % 4 in (2, 3)]
            far = sum(row["delta_e"] > 13 for row in every)
            print(f"{name:<24} {label:<28} {_line(every):<32} {_line(tuning):<32} {_line(test):<32} {far:>3}")
        print(f"{'':<24} ({len(kept)} of {len(files)} files decoded at reduced scale)")


def cpu_times(files: list[bytes], repeat: int) -> None:
    def best(function: Callable[[], object]) -> float:
        times = []
        for _ in range(repeat):
            started = time.thread_time()
            function()
            times.append(time.thread_time() - started)
        return min(times)

    per: dict[str, list[float]] = {label: [] for label in METHODS}
    analysis, predecessor = [], []
    for data in files:
        pixels, _ = sample(data)
        for label, method in METHODS.items():
            per[label].append(best(lambda: method(pixels)))  # noqa: B023
        analysis.append(best(lambda: analyse_image(data)))  # noqa: B023
        with threadpool_limits(1):
            predecessor.append(best(lambda: analyse_bytes(data)))  # noqa: B023
    print(f"CPU ms, median over {len(files)} JPEGs 1200x800 of the best of {repeat} runs, load {os.getloadavg()}")
    for label, values in per.items():
        print(f"  k-means, {label:<26} {statistics.median(values) * 1000:7.3f}")
    print(f"  {'engine, whole analysis':<35} {statistics.median(analysis) * 1000:7.3f}")
    print(f"  {'predecessor (one thread)':<35} {statistics.median(predecessor) * 1000:7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24, help="photos per group; graphics scale with it")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per image")
    parser.add_argument("--no-verdicts", action="store_true", help="only the CPU times")
    parser.add_argument(
        "--methods", nargs="*", type=int, help="only these k-means, by their place in the list (0: the engine's)"
    )
    parser.add_argument(
        "--jpeg-draft-side",
        type=int,
        default=None,
        help="large JPEGs decoded keeping this many px on the short side (see bench/_jpeg_draft.py)",
    )
    args = parser.parse_args()
    if args.methods is not None:
        for place, name in enumerate(list(METHODS)):
            if place not in args.methods:
                del METHODS[name]
    threadpool_limits(1, "blas")  # as the analysis consumer process runs
    warm_up()  # the compiled k-means, loaded (or compiled) before anything is timed
    # The predecessor's k-means warns on flat graphics (fewer distinct colours than clusters).
    warnings.filterwarnings("ignore", message="Number of distinct clusters")
    photos = build_image_set(args.count, groups=tuple(g for g in GROUPS if g.name in LARGE_PHOTO_GROUPS))
    side = decode_label(args.jpeg_draft_side) if args.jpeg_draft_side is not None else "the engine's draft"
    print(f"palettes of large JPEGs ({side}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}")
    if not args.no_verdicts:
        groups = {
            **photos,
            "jpeg, unusual encodings": unusual_jpegs(args.count),
            "graphics jpeg, large": graphics_files("JPEG", LARGE_JPEG_SIZES, max(1, args.count // 6)),
        }
        with jpeg_draft_side(args.jpeg_draft_side):
            verdicts(groups)
        print()
    with jpeg_draft_side(args.jpeg_draft_side):
        cpu_times(photos["jpeg_1200x800"][:12], args.repeat)


if __name__ == "__main__":
    main()
