"""Benchmark: medianalyse's image analysis against the predecessor's, same run, same bytes.

    .venv/bin/python bench/analysis.py            # the full run (about 2-3 minutes on 2 cores)
    .venv/bin/python bench/analysis.py --count 6  # a quick look

Prints, per image group, the median wall time of the predecessor's ``analyse_bytes``
and of our ``analyse_image`` (full analysis: colours, EXIF, SHA-256 and the four
perceptual hashes), their ratio, whether our dominant colours are equivalent to the
predecessor's k-means (``palette_equivalence.verdict``), the Hamming distances of
our perceptual hashes to the imagehash library's on the fully decoded image, and
our throughput with one and two threads.

    .venv/bin/python bench/analysis.py --bounds   # what the bounds on hostile files cost ordinary ones
    .venv/bin/python bench/analysis.py --thumbnails  # only the thumbnails' cost and size
    .venv/bin/python bench/analysis.py --jpeg-draft-side 100 200 0 --groups jpeg_1200x800

The full run also prints, per image group and thumbnail format, the median time the
thumbnail adds to the decode (for a large JPEG whose analysis draft is smaller than the
thumbnail, a draft of its own) and the median thumbnail size in bytes.

With ``--bounds``, prints instead, per image group, the median time of the
structural checks (``limits.inspect``), of an analysis in process, and of the
same analysis in a guarded worker process (bytes and result through a pipe):
the per-image cost of running every image under the time limit.

With ``--steps``, prints instead, per image group, the CPU time of each step of the analysis
(opening, decoding, EXIF, SHA-256, colour sample, k-means, each hash, region hashes...),
timed one after the other on the analysing thread, best of ``--repeat`` runs per image,
median over the images; beside it the whole analysis and the predecessor's, both CPU
times (the predecessor with its k-means on the calling thread).

With ``--jpeg-draft-side``, prints instead, per image group, the predecessor's median
time and ours with large JPEGs decoded at the smallest DCT scale keeping each given
number of pixels on their short side (0: in full; see bench/_jpeg_draft.py), all
interleaved image by image, with the ratio and, beside it, CPU times: our analysis's
(its thread's, which waiting for a busy core does not inflate) and the predecessor's,
timed once more with every thread pool limited to one thread so that its k-means runs
in the calling thread (on a loaded machine its two OpenMP threads wait for each other
far longer than they work), with their ratio; then the decode alone and the four
hashes alone: what each choice costs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT.parent / "shared" / "bench"))

import imagehash  # noqa: E402
from palette_equivalence import compare, verdict  # noqa: E402
from PIL import Image  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from upstream_reference import analyse_bytes  # noqa: E402

from bench._images import GROUPS, build_image_set  # noqa: E402
from bench._jpeg_draft import jpeg_draft_side  # noqa: E402
from bench._jpeg_draft import label as decode_label  # noqa: E402
from media_analysis.engine.image import AnalysisOptions, analyse_image  # noqa: E402
from media_analysis.engine.image.analyse import analyse_in_process  # noqa: E402
from media_analysis.engine.image.colours import warm_up, websafe_palette  # noqa: E402
from media_analysis.engine.image.decode import decode_frame, frame_count, normalised, read_exif  # noqa: E402
from media_analysis.engine.image.guarded import guarded_analyser, memory_limit  # noqa: E402
from media_analysis.engine.image.hashes import HASH_SIZE, colour_hash, hex_bits, perceptual_hashes  # noqa: E402
from media_analysis.engine.image.limits import inspect  # noqa: E402
from media_analysis.engine.image.regions import region_hashes  # noqa: E402
from media_analysis.engine.image.thumbnail import make_thumbnail  # noqa: E402
from media_analysis.engine.image.transparency import has_transparency  # noqa: E402

HASHES = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "ahash": imagehash.average_hash,
    "colorhash": imagehash.colorhash,
}


def _hamming(hex_a: str, hex_b: str) -> int:
    return bin(int(hex_a, 16) ^ int(hex_b, 16)).count("1")


def _timed(function, data: bytes) -> float:
    started = time.perf_counter()
    function(data)
    return time.perf_counter() - started


def time_groups(images: dict[str, list[bytes]], repeat: int) -> dict[str, tuple[float, float]]:
    """Median seconds per image group, (reference, ours); runs alternate to share any machine noise."""
    timings = {}
    for group, items in images.items():
        reference, ours = [], []
        for _ in range(repeat):
            for data in items:
                reference.append(_timed(analyse_bytes, data))
                ours.append(_timed(analyse_image, data))
        timings[group] = (statistics.median(reference), statistics.median(ours))
    return timings


def quality(images: dict[str, list[bytes]]) -> tuple[dict, dict[str, dict], dict[str, dict[str, list[int]]]]:
    """Colour verdicts (whole set, per group) and hash distances per group and hash."""
    rows, per_group = [], {}
    distances: dict[str, dict[str, list[int]]] = {}
    for group, items in images.items():
        group_rows = []
        group_distances: dict[str, list[int]] = {name: [] for name in HASHES}
        for data in items:
            result = analyse_image(data)
            group_rows.append(compare(data, result.dominant_colors))
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                for name, function in HASHES.items():
                    group_distances[name].append(_hamming(str(function(img)), getattr(result, name)))
        rows += group_rows
        per_group[group] = verdict(group_rows)
        distances[group] = group_distances
    return verdict(rows), per_group, distances


def throughput(items: list[bytes], threads: int, rounds: int) -> float:
    """Images per second analysing ``items`` ``rounds`` times over ``threads`` threads."""
    work = items * rounds
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(analyse_image, items[: threads * 2]))  # start the threads before timing
        started = time.perf_counter()
        list(pool.map(analyse_image, work))
        elapsed = time.perf_counter() - started
    return len(work) / elapsed


def bounds(images: dict[str, list[bytes]], repeat: int) -> None:
    """Median ms per image: the structural checks, the analysis in process, the analysis in a worker."""
    options = AnalysisOptions()
    analyser = guarded_analyser(30.0, memory_limit(options.max_pixels))
    for data in [items[0] for items in images.values()]:  # start the worker, warm both paths
        analyser.analyse(data, options)
        analyse_in_process(data, options)

    def check(data: bytes) -> None:
        inspect(data, max_pixels=options.max_pixels, max_scans=options.max_scans, max_frames=options.max_frames)

    print(f"{'group':<18} {'checks ms':>10} {'in process ms':>14} {'worker ms':>10} {'overhead':>9}")
    for group, items in images.items():
        checks, local, guarded = [], [], []
        for _ in range(repeat):
            for data in items:
                checks.append(_timed(check, data))
                local.append(_timed(lambda d: analyse_in_process(d, options), data))
                guarded.append(_timed(lambda d: analyser.analyse(d, options), data))
        a, b, c = statistics.median(checks), statistics.median(local), statistics.median(guarded)
        print(f"{group:<18} {a * 1000:>10.3f} {b * 1000:>14.2f} {c * 1000:>10.2f} {(c - b) / b:>8.0%}")
    analyser.close()


def draft_sides(images: dict[str, list[bytes]], repeat: int, sides: list[int]) -> None:
    """Median ms per group: the predecessor, and ours under each decode of large JPEGs, interleaved."""
    columns = ("ours ms", "ratio", "ours CPU ms", "CPU ratio", "decode ms", "hashes ms")
    print(f"{'group':<18} {'decode of large JPEGs':<22} " + " ".join(f"{name:>10}" for name in columns))
    for group, items in images.items():
        reference: list[float] = []
        reference_cpu: list[float] = []
        whole: dict[int, list[float]] = {side: [] for side in sides}
        cpu: dict[int, list[float]] = {side: [] for side in sides}
        decoding: dict[int, list[float]] = {side: [] for side in sides}
        hashing: dict[int, list[float]] = {side: [] for side in sides}
        for _ in range(repeat):
            for data in items:
                reference.append(_timed(analyse_bytes, data))
                with threadpool_limits(1):
                    started_cpu = time.thread_time()
                    analyse_bytes(data)
                    reference_cpu.append(time.thread_time() - started_cpu)
                for side in sides:
                    with jpeg_draft_side(side):
                        started, started_cpu = time.perf_counter(), time.thread_time()
                        analyse_image(data)
                        whole[side].append(time.perf_counter() - started)
                        cpu[side].append(time.thread_time() - started_cpu)
                        started = time.perf_counter()
                        frame = decode_frame(Image.open(io.BytesIO(data)), data)
                        decoding[side].append(time.perf_counter() - started)
                        base = normalised(frame.image)
                        started = time.perf_counter()
                        perceptual_hashes(base)
                        hashing[side].append(time.perf_counter() - started)
        ref, ref_cpu = statistics.median(reference), statistics.median(reference_cpu)
        print(f"{group:<18} {'predecessor':<22} {ref * 1000:>10.2f} {'':>10} {ref_cpu * 1000:>11.2f}")
        for side in sides:
            ours = statistics.median(whole[side])
            print(
                f"{'':<18} {decode_label(side):<22} {ours * 1000:>10.2f} {ref / ours:>9.2f}x "
                f"{statistics.median(cpu[side]) * 1000:>11.2f} {ref_cpu / statistics.median(cpu[side]):>9.2f}x "
                f"{statistics.median(decoding[side]) * 1000:>10.2f} {statistics.median(hashing[side]) * 1000:>10.2f}"
            )


def _steps_of(data: bytes, options: AnalysisOptions) -> dict[str, float]:
    """Seconds of thread time of each step of one analysis, in the order ``analyse_image`` takes them."""
    from media_analysis.engine.image.analyse import _colour_sample, conformity, sample_colours

    times: dict[str, float] = {}
    clock = time.thread_time()

    def done(step: str) -> None:
        nonlocal clock
        now = time.thread_time()
        times[step] = now - clock
        clock = now

    inspect(data, max_pixels=options.max_pixels, max_scans=options.max_scans, max_frames=options.max_frames)
    done("structural checks")
    img = Image.open(io.BytesIO(data), formats=options.image_formats)
    img.get_format_mimetype()
    frame_count(img)
    done("opening")
    frame = decode_frame(img, data)
    done("decoding")
    read_exif(img, frame.image)
    done("EXIF")
    has_transparency(frame.image)
    conformity(img.width, img.height, len(data), options)
    done("transparency, conformity")
    hashlib.sha256(data).hexdigest()
    done("SHA-256")
    base = normalised(frame.image)
    sample = _colour_sample(base, frame.box)
    done("colour sample")
    websafe_palette(sample_colours(sample, frame.box, options.n_colors))
    done("k-means, web-safe")
    grey = base.convert("L")
    done("greyscale")
    hex_bits(imagehash.phash(grey, hash_size=HASH_SIZE).hash)
    done("pHash")
    hex_bits(imagehash.dhash(grey, hash_size=HASH_SIZE).hash)
    done("dHash")
    hex_bits(imagehash.average_hash(grey, hash_size=HASH_SIZE).hash)
    done("average hash")
    colour_hash(base, grey)
    done("colour hash")
    region_hashes(base).hex()
    done("region hashes")
    # Not in the default options: what a 320 px preview from the same decode adds, when one is asked for.
    make_thumbnail(frame.preview, 320, transparent=False)
    done("thumbnail (320 px)")
    return times


def steps(images: dict[str, list[bytes]], repeat: int) -> None:
    """Per group: median over the images of each step's best thread time, the whole analysis and the predecessor's."""
    options = AnalysisOptions()
    for group, items in images.items():
        per_step: dict[str, list[float]] = {}
        whole, reference = [], []
        for data in items:
            runs = [_steps_of(data, options) for _ in range(repeat)]
            for step in runs[0]:
                per_step.setdefault(step, []).append(min(run[step] for run in runs))
            best_whole, best_reference = float("inf"), float("inf")
            for _ in range(repeat):
                started = time.thread_time()
                analyse_image(data, options)
                best_whole = min(best_whole, time.thread_time() - started)
                with threadpool_limits(1):
                    started = time.thread_time()
                    analyse_bytes(data)
                    best_reference = min(best_reference, time.thread_time() - started)
            whole.append(best_whole)
            reference.append(best_reference)
        print(f"{group}: CPU ms, median over {len(items)} images of the best of {repeat} runs")
        total = 0.0
        for step, values in per_step.items():
            ms = statistics.median(values) * 1000
            if not step.startswith("thumbnail"):  # not part of the default analysis
                total += ms
            print(f"  {step:<26} {ms:>7.3f}")
        ours, theirs = statistics.median(whole) * 1000, statistics.median(reference) * 1000
        print(f"  {'sum of the steps':<26} {total:>7.3f}   (thumbnail apart)")
        print(f"  {'whole analysis':<26} {ours:>7.3f}")
        print(f"  {'predecessor (one thread)':<26} {theirs:>7.3f}   ratio {theirs / ours:.2f}x")
    print()


def thumbnails(images: dict[str, list[bytes]], repeat: int, size: int = 320) -> None:
    """Per group and format: median ms the thumbnail adds to the analysis, median bytes, sizes.

    What it adds: decoding the first frame and making the thumbnail, less decoding the first frame
    without a thumbnail, timed in turn on each image (the difference of the two medians). For a large
    JPEG whose analysis draft is smaller than the thumbnail that includes the thumbnail's own draft.
    Beside it, the median ms of the whole analysis (in process, no thumbnail) of the same images in the
    same run, and the thumbnail's cost as a share of it.
    """
    print(f"thumbnails of {size} px on the long side, made from the image the analysis decodes:")
    print(
        f"  {'group':<18} {'format':<6} {'median ms':>10} {'analysis ms':>12} {'share':>6} "
        f"{'median bytes':>13}  median size"
    )
    plain = AnalysisOptions(timeout=None)
    every: dict[str, list[int]] = {"jpeg": [], "webp": []}
    for group, items in images.items():
        analysis = [_timed(lambda d: analyse_in_process(d, plain), data) for data in items for _ in range(repeat)]
        analysis_ms = statistics.median(analysis) * 1000
        transparent = has_transparency(decode_frame(Image.open(io.BytesIO(items[0])), items[0]).image)
        for label, webp in (("jpeg", False), ("webp", True)):
            added, sizes, shapes = [], [], []
            for data in items:
                bare, full = [], []
                for _ in range(repeat):
                    started = time.perf_counter()
                    decode_frame(Image.open(io.BytesIO(data)), data)
                    bare.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    frame = decode_frame(Image.open(io.BytesIO(data)), data, size)
                    thumb = make_thumbnail(frame.preview, size, transparent=transparent, webp=webp)
                    full.append(time.perf_counter() - started)
                added.append(statistics.median(full) - statistics.median(bare))
                sizes.append(len(thumb.data))
                shapes.append((thumb.width, thumb.height))
            every[label].extend(sizes)
            shape = sorted(shapes)[len(shapes) // 2]
            kind = "webp" if webp or transparent else label
            ms = statistics.median(added) * 1000
            print(
                f"  {group:<18} {kind:<6} {ms:>10.2f} {analysis_ms:>12.2f} {ms / analysis_ms:>6.0%} "
                f"{statistics.median(sizes):>13.0f}  {shape[0]}x{shape[1]}"
            )
    for label, sizes in every.items():
        median = statistics.median(sizes)
        print(
            f"  whole set, {label} setting: median {median:.0f} bytes, mean {statistics.fmean(sizes):.0f}; "
            f"10,000 media at the mean: {statistics.fmean(sizes) * 10_000 / 1e6:.0f} MB"
        )
    print()


def region_cost(images: dict[str, list[bytes]], repeat: int) -> None:
    """What the region hashes add to the analysis: same images, same run, interleaved.

    The analysis in process (default options, no thumbnail) with and without its region
    step (``analyse._fill_region_hashes`` made a no-op), median per group, in wall time
    and in CPU time (what a loaded machine inflates least).
    """
    from media_analysis.engine.image import analyse as analyse_module

    real = analyse_module._fill_region_hashes
    plain = AnalysisOptions(timeout=None)

    def both(data: bytes) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        analyse_in_process(data, plain)
        return time.perf_counter() - wall, time.process_time() - cpu

    print("region hashes: analysis with and without them, median ms per image (wall; CPU)")
    print(f"  {'group':<18} {'without':>9} {'with':>9} {'added':>7} {'CPU without':>12} {'CPU with':>9} {'added':>7}")
    for group, items in images.items():
        without: list[tuple[float, float]] = []
        with_regions: list[tuple[float, float]] = []
        for data in items:
            for _ in range(repeat):
                analyse_module._fill_region_hashes = lambda result, base: None
                without.append(both(data))
                analyse_module._fill_region_hashes = real
                with_regions.append(both(data))
        a, b = (statistics.median(t[0] for t in runs) * 1000 for runs in (without, with_regions))
        ca, cb = (statistics.median(t[1] for t in runs) * 1000 for runs in (without, with_regions))
        print(f"  {group:<18} {a:>9.2f} {b:>9.2f} {b / a - 1:>7.0%} {ca:>12.2f} {cb:>9.2f} {cb / ca - 1:>7.0%}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24, help="distinct images per group")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per image")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the set per throughput measure")
    parser.add_argument("--groups", nargs="*", help="only these groups (default: all)")
    parser.add_argument("--bounds", action="store_true", help="measure the cost of the bounds instead")
    parser.add_argument("--thumbnails", action="store_true", help="measure only the thumbnails")
    parser.add_argument(
        "--jpeg-draft-side",
        type=int,
        nargs="+",
        help="measure only the speed with large JPEGs decoded keeping this many px on the short side (0: in full)",
    )
    parser.add_argument("--regions", action="store_true", help="measure only what the region hashes add")
    parser.add_argument("--steps", action="store_true", help="measure the CPU time of each step of the analysis")
    args = parser.parse_args()
    # The analysis runs on several threads at once and its k-means makes small matrix
    # products: OpenBLAS's own thread pool would spin beside the analysis threads and take
    # their cores. Measured as the consumer process runs it: one BLAS thread per caller.
    threadpool_limits(1, "blas")
    warm_up()  # the compiled k-means, loaded (or compiled) before anything is timed

    started = time.perf_counter()
    groups = tuple(g for g in GROUPS if not args.groups or g.name in args.groups)
    images = build_image_set(args.count, groups=groups)
    built = time.perf_counter() - started
    if args.bounds:
        print(f"bounds on ordinary images, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}")
        bounds(images, args.repeat)
        return
    if args.jpeg_draft_side:
        print(f"decodes of large JPEGs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}")
        for data in [items[0] for items in images.values()]:  # warm both paths (imports, caches)
            analyse_bytes(data)
            analyse_image(data)
        draft_sides(images, args.repeat, args.jpeg_draft_side)
        return
    if args.steps:
        print(f"analysis steps, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}, load {os.getloadavg()}")
        for data in [items[0] for items in images.values()]:  # warm both paths (imports, caches)
            analyse_bytes(data)
            analyse_image(data)
        steps(images, args.repeat)
        return
    if args.regions:
        print(f"region hashes, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}")
        region_cost(images, args.repeat)
        return
    if args.thumbnails:
        print(f"thumbnails, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}")
        thumbnails(images, args.repeat)
        return
    everything = [data for items in images.values() for data in items]
    for data in everything[:: max(1, len(everything) // 16)]:  # warm both paths (imports, caches)
        analyse_bytes(data)
        analyse_image(data)

    print(f"medianalyse image analysis benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"python {platform.python_version()}, Pillow {Image.__version__}, nproc {os.cpu_count()}, "
        f"{args.count} images per group (built in {built:.1f} s), {args.repeat} timed runs per image"
    )
    print()
    timings = time_groups(images, args.repeat)
    print(f"{'group':<18} {'reference ms':>13} {'ours ms':>9} {'ratio':>7}")
    for group, (reference, ours) in timings.items():
        print(f"{group:<18} {reference * 1000:>13.2f} {ours * 1000:>9.2f} {reference / ours:>6.1f}x")
    print()

    thumbnails(images, args.repeat)

    overall, per_group, distances = quality(images)
    print("dominant colours, palette_equivalence.verdict over the whole set:")
    print(f"  {overall}")
    for group, summary in per_group.items():
        print(
            f"  {group:<18} dE median {summary['delta_e_median']:.3f}  dE p90 {summary['delta_e_p90']:.3f}  "
            f"SSE ratio p90 {summary['sse_ratio_p90']:.4f}"
        )
    print()
    print("perceptual hashes, Hamming distance to imagehash on the fully decoded image:")
    for name in HASHES:
        values = [v for group in distances.values() for v in group[name]]
        print(
            f"  {name:<10} max {max(values)}  mean {statistics.fmean(values):.3f}  "
            f"identical {sum(v == 0 for v in values)}/{len(values)}"
        )
    print("  max per group (phash dhash ahash colorhash):")
    for group, per_hash in distances.items():
        print(f"  {group:<18} " + " ".join(f"{max(per_hash[name]):>2}" for name in HASHES))
    print()

    one = throughput(everything, 1, args.rounds)
    two = throughput(everything, 2, args.rounds)
    print(f"throughput over the whole set, mixed ({len(everything)} images x {args.rounds}):")
    print(f"  1 thread {one:.1f} images/s, 2 threads {two:.1f} images/s, ratio {two / one:.2f}x")
    print("  per group (images/s with 1 and 2 threads, ratio):")
    for group, items in images.items():
        single, double = throughput(items, 1, 1), throughput(items, 2, 1)
        print(f"  {group:<18} {single:>7.1f} {double:>7.1f}  {double / single:.2f}x")
    print()
    print(f"total bench time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
