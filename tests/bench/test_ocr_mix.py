"""The OCR benchmark's land-like mix and the CPU time the land benchmark reads for its OCR mode."""

from __future__ import annotations

import os
import random
import time
from collections import Counter

from bench.land import cpu_seconds
from bench.ocr import MIX_SHARES, MIX_TEXT_SHARE, mix_kind


def test_the_mix_keeps_three_pictures_in_ten_with_text_screenshots_among_them():
    rng = random.Random("mix")
    kinds = Counter(mix_kind(rng.random()) for _ in range(4000))
    assert MIX_TEXT_SHARE >= 0.3
    assert abs(1 - kinds["photo"] / 4000 - MIX_TEXT_SHARE) < 0.03
    for kind, share in MIX_SHARES[1:]:
        assert abs(kinds[kind] / 4000 - share) < 0.03
    assert kinds["screenshot"] / 4000 > 0.04
    assert set(kinds) == {"photo", "caption_photo", "caption_plain", "screenshot"}


def test_cpu_seconds_counts_this_process_and_grows_with_work():
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        sum(range(1000))
    after = cpu_seconds(os.getpid())
    assert after - before >= 0.2
