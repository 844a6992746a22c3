"""The decode budget: estimates read from headers, and analyses of real images held within the budget by it."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib

import pytest
from PIL import Image

from media_analysis.engine.errors import CorruptImage
from media_analysis.engine.image.analyse import AnalysisOptions, analyse_in_process
from media_analysis.engine.image.budget import (
    BASE_BYTES,
    COLOUR_BYTES_PER_PIXEL,
    GREY_BYTES_PER_PIXEL,
    DecodeBudget,
    analysis_memory,
)
from tests.analysis.conftest import encode, gradient

OPTIONS = AnalysisOptions(timeout=None)


def _large_png(side: int = 1200) -> bytes:
    return encode(gradient((side, side)), "PNG", compress_level=1)


def _small_png(seed: int) -> bytes:
    return encode(Image.new("RGB", (64, 48), (seed * 40 % 256, 90, 120)), "PNG")


def test_the_estimate_comes_from_the_header_and_follows_the_decoded_pixels():
    png = _large_png(1000)
    assert analysis_memory(png, OPTIONS) == BASE_BYTES + 1000 * 1000 * COLOUR_BYTES_PER_PIXEL
    # The header alone gives the same answer: nothing is decoded for it.
    assert analysis_memory(png[:200], OPTIONS) == analysis_memory(png, OPTIONS)
    grey = encode(gradient((500, 400)).convert("L"), "PNG")
    assert analysis_memory(grey, OPTIONS) == BASE_BYTES + 500 * 400 * GREY_BYTES_PER_PIXEL
    # A large JPEG is decoded at 1/8 scale (500x375 for 4000x3000): its estimate is that of the draft.
    jpeg = encode(gradient((4000, 3000)), "JPEG", quality=80)
    assert analysis_memory(jpeg, OPTIONS) == BASE_BYTES + 500 * 375 * COLOUR_BYTES_PER_PIXEL
    small_jpeg = encode(gradient((390, 300)), "JPEG")  # under the draft's minimum: decoded whole
    assert analysis_memory(small_jpeg, OPTIONS) == BASE_BYTES + 390 * 300 * COLOUR_BYTES_PER_PIXEL
    # What no reader opens, or what the pixel cap refuses, decodes nothing.
    assert analysis_memory(b"<html>not an image</html>", OPTIONS) == BASE_BYTES
    assert analysis_memory(png, AnalysisOptions(timeout=None, max_pixels=1000)) == BASE_BYTES


def _png_header(width: int, height: int) -> bytes:
    """A greyscale PNG's signature, header and an empty image data chunk: all the estimate reads."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", b"")
    )


@pytest.mark.usefixtures("pillow_limit")
def test_an_image_past_pillows_own_limit_but_within_the_options_is_estimated_from_its_pixels():
    side = 13_500  # 182 Mpx: past twice Pillow's default limit, where Image.open refuses it as a bomb
    header = _png_header(side, side)
    options = AnalysisOptions(timeout=None, max_pixels=200_000_000)
    assert analysis_memory(header, options) == BASE_BYTES + side * side * GREY_BYTES_PER_PIXEL


def test_the_estimate_bounds_the_measured_draft_of_a_large_jpeg():
    jpeg = encode(gradient((4000, 3000)), "JPEG", quality=80)
    with Image.open(io.BytesIO(jpeg)) as img:
        img.draft(None, (133, 100))
        drafted = img.size
    assert analysis_memory(jpeg, OPTIONS) >= BASE_BYTES + drafted[0] * drafted[1] * COLOUR_BYTES_PER_PIXEL


class _Watch:
    """Runs real analyses inside the budget and records how many ran at once."""

    def __init__(self, budget: DecodeBudget) -> None:
        self.budget = budget
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.errors: list[BaseException] = []
        self.beside_over_budget = 0  # analyses that ran beside one larger than the whole budget
        self.over_budget_running = 0

    def analyse(self, content: bytes, linger: float = 0.0) -> None:
        cost = analysis_memory(content, OPTIONS)
        over = cost > self.budget.capacity
        try:
            with self.budget.hold(cost):
                with self.lock:
                    if (over and self.running) or self.over_budget_running:
                        self.beside_over_budget += 1
                    self.running += 1
                    self.over_budget_running += over
                    self.most = max(self.most, self.running)
                try:
                    analyse_in_process(content, OPTIONS)
                    time.sleep(linger)  # long enough that analyses allowed together overlap
                finally:
                    with self.lock:
                        self.running -= 1
                        self.over_budget_running -= over
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)


def _run_all(target, contents: list[bytes], **kwargs) -> None:
    threads = [threading.Thread(target=target, args=(content,), kwargs=kwargs) for content in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an analysis never ended"


def test_large_images_are_analysed_one_at_a_time_and_small_ones_together():
    large = [_large_png(1200 + n) for n in range(4)]
    cost = max(analysis_memory(content, OPTIONS) for content in large)
    budget = DecodeBudget(cost * 3 // 2)  # room for one large image, not two
    watch = _Watch(budget)
    _run_all(watch.analyse, large, linger=0.2)
    assert watch.errors == []
    assert watch.most == 1
    assert budget.peak <= budget.capacity
    small = [_small_png(n) for n in range(4)]
    assert 4 * analysis_memory(small[0], OPTIONS) <= budget.capacity
    watch = _Watch(budget)
    _run_all(watch.analyse, small, linger=0.5)
    assert watch.errors == []
    assert watch.most == 4
    assert (budget.used, budget.running, budget.waiting) == (0, 0, 0)


def test_an_image_larger_than_the_whole_budget_runs_alone():
    large = _large_png(1200)
    budget = DecodeBudget(analysis_memory(large, OPTIONS) // 2)
    watch = _Watch(budget)
    _run_all(watch.analyse, [large, _small_png(1), _small_png(2), large, _small_png(3)], linger=0.2)
    assert watch.errors == []
    assert watch.beside_over_budget == 0  # the small ones may run together, never beside the large one
    assert budget.peak == analysis_memory(large, OPTIONS)
    assert (budget.used, budget.running, budget.waiting) == (0, 0, 0)


def test_a_large_analysis_waiting_is_not_passed_by_smaller_ones_arriving_after_it():
    budget = DecodeBudget(100)
    order: list[str] = []
    first = budget.hold(60)
    assert first.__enter__() is True

    def take(name: str, cost: int) -> None:
        with budget.hold(cost):
            order.append(name)

    large = threading.Thread(target=take, args=("large", 80))
    large.start()
    while budget.waiting < 1:
        time.sleep(0.005)
    small = threading.Thread(target=take, args=("small", 10))  # would fit beside the first, but arrives later
    small.start()
    while budget.waiting < 2:
        time.sleep(0.005)
    time.sleep(0.05)
    assert order == []
    first.__exit__(None, None, None)
    large.join(timeout=10)
    small.join(timeout=10)
    assert order == ["large", "small"]
    assert (budget.used, budget.running, budget.waiting) == (0, 0, 0)


def test_a_failed_analysis_gives_its_bytes_back():
    budget = DecodeBudget(analysis_memory(_large_png(1200), OPTIONS))
    damaged = _large_png(1200)
    damaged = damaged[: len(damaged) // 2]  # the header says 1200x1200, the data ends half way
    held_during: list[int] = []

    def failing() -> None:
        with budget.hold(analysis_memory(damaged, OPTIONS)):
            held_during.append(budget.used)
            analyse_in_process(damaged, OPTIONS)

    with pytest.raises(CorruptImage):
        failing()
    assert held_during[0] > 0
    assert (budget.used, budget.running) == (0, 0)
    watch = _Watch(budget)
    _run_all(watch.analyse, [_large_png(1201), _large_png(1202)])
    assert watch.errors == []


def test_a_wait_given_up_takes_nothing_and_lets_the_next_go():
    budget = DecodeBudget(100)
    cancelled = threading.Event()
    answers: list[bool] = []
    holder = budget.hold(90)
    holder.__enter__()

    def wait_for(cost: int, give_up=None) -> None:
        with budget.hold(cost, give_up, poll=0.01) as held:
            answers.append(held)

    gave_up = threading.Thread(target=wait_for, args=(50, cancelled.is_set))
    gave_up.start()
    while budget.waiting < 1:
        time.sleep(0.005)
    behind = threading.Thread(target=wait_for, args=(5,))  # fits, but waits its turn behind the first
    behind.start()
    while budget.waiting < 2:
        time.sleep(0.005)
    cancelled.set()
    gave_up.join(timeout=10)
    behind.join(timeout=10)
    assert answers == [False, True]
    assert budget.used == 90
    holder.__exit__(None, None, None)
    assert (budget.used, budget.running, budget.waiting) == (0, 0, 0)


def test_no_budget_bounds_nothing():
    budget = DecodeBudget(0)
    with budget.hold(10**12) as held, budget.hold(10**12) as again:
        assert held
        assert again
    assert budget.peak == 0
