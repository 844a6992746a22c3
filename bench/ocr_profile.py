"""Where the OCR step's CPU goes over the land mix, by kind of picture.

The pictures of ``bench/land.py --ocr-mix``'s pool (bench/ocr.py's ``encoded_mix``), decoded
from the bytes the land serves, are read by ``read_text`` (default options) on one thread;
each part is timed by ``time.thread_time`` around it (Tesseract works in the calling thread).
Prints, per kind, CPU ms a picture: the whole reading, the test, Tesseract, the rest; the
readings a picture and how many pictures were sent to recognition. ``--rounds`` reads the
pool that many times (the first round loads the engine, and is left out).

    .venv/bin/python bench/ocr_profile.py [--pool 100] [--rounds 3] [--detail]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from bench.ocr import encoded_mix, mix_kind
from media_analysis.engine.text import read as read_module
from media_analysis.engine.text.options import TextOptions


def mix_kinds(count: int) -> list[str]:
    """The kind of each picture of ``encoded_mix(count)``, drawn as it draws them."""
    rng = random.Random("mix")
    kinds = []
    for _ in range(count):
        kind = mix_kind(rng.random())
        if kind in ("screenshot", "caption_plain"):
            rng.random()  # encoded_mix's draw of PNG or JPEG, made for these kinds only
        kinds.append(kind)
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--detail", action="store_true", help="one line per picture sent to recognition")
    args = parser.parse_args()
    contents = encoded_mix(args.pool)
    kinds = mix_kinds(args.pool)
    options = TextOptions()
    spent = {"test": 0.0, "tesseract": 0.0, "readings": 0}
    original_test, original_recognise = read_module.text_likelihood, read_module.recognise

    def timed_test(*a: Any, **k: Any) -> Any:
        started = time.thread_time()
        try:
            return original_test(*a, **k)
        finally:
            spent["test"] += time.thread_time() - started

    def timed_recognise(*a: Any, **k: Any) -> Any:
        started = time.thread_time()
        try:
            return original_recognise(*a, **k)
        finally:
            spent["tesseract"] += time.thread_time() - started
            spent["readings"] += 1

    read_module.text_likelihood = timed_test
    read_module.recognise = timed_recognise
    rows: dict[str, list[list[float]]] = defaultdict(list)
    print(
        f"OCR profile over the land mix: {args.pool} pictures, {args.rounds} rounds (the first left out), "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for round_number in range(args.rounds):
        for index, (content, kind) in enumerate(zip(contents, kinds, strict=True)):
            picture = Image.open(io.BytesIO(content))
            picture.load()
            spent.update(test=0.0, tesseract=0.0, readings=0)
            started = time.thread_time()
            reading = read_module.read_text(picture, options)
            total = time.thread_time() - started
            if round_number == 0:
                continue
            sent = reading.status != "skipped"
            rows[kind].append([1000 * total, 1000 * spent["test"], 1000 * spent["tesseract"], spent["readings"], sent])
            if args.detail and sent and round_number == 1:
                print(
                    f"  #{index:<3} {kind:<14} {reading.status:<6} {1000 * total:7.1f} ms, "
                    f"{spent['readings']} readings, {reading.text[:50]!r}"
                )
    print(
        f"{'kind':<14} {'n':>4} {'CPU ms':>7} {'test':>6} {'Tess.':>7} {'rest':>6} {'readings':>8} {'sent':>6} "
        f"{'share of mix ms':>15}"
    )
    everything = [r for kind_rows in rows.values() for r in kind_rows]
    for kind, kind_rows in [*sorted(rows.items()), ("all", everything)]:
        n = len(kind_rows)
        mean = [statistics.fmean(r[i] for r in kind_rows) for i in range(5)]
        share = sum(r[0] for r in kind_rows) / len(everything)
        print(
            f"{kind:<14} {n:>4} {mean[0]:7.1f} {mean[1]:6.1f} {mean[2]:7.1f} {mean[0] - mean[1] - mean[2]:6.1f} "
            f"{mean[3]:8.2f} {100 * mean[4]:5.0f}% {share:15.1f}"
        )


if __name__ == "__main__":
    main()
