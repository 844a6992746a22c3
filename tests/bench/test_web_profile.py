"""The land benchmark's real-web profile: its latencies, its distinct bytes, its plan and its counting server."""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import io
import math
import random
import statistics

import numpy as np
import pytest
import requests
from PIL import Image

from bench import _web
from bench.land import duplicated_land, web_plan
from media_analysis.engine.image import AnalysisOptions, analyse_image


def _image(fmt: str, mode: str = "RGB", size: tuple[int, int] = (300, 200)) -> bytes:
    pixels = np.random.default_rng(7).integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8)
    img = Image.fromarray(pixels, mode)
    if fmt == "GIF":
        img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    buffer = io.BytesIO()
    img.save(buffer, fmt)
    return buffer.getvalue()


def test_latencies_have_the_documented_shares_and_median():
    latencies = _web.Latency.draw(2000, random.Random(1))
    assert sum(1 for x in latencies if math.isinf(x)) == 20
    assert latencies.count(_web.Latency.SLOWER) == 80
    assert latencies.count(_web.Latency.SLOW) == 200
    assert statistics.median(latencies) == pytest.approx(_web.Latency.MEDIAN, rel=0.1)
    low, high = _web.Latency.CLIP
    assert all(low <= x <= high for x in latencies if x not in (_web.Latency.SLOW, _web.Latency.SLOWER, math.inf))
    assert latencies == _web.Latency.draw(2000, random.Random(1))  # drawn once: the same on every run


@pytest.mark.parametrize(
    ("fmt", "mode"), [("JPEG", "RGB"), ("PNG", "RGB"), ("PNG", "RGBA"), ("GIF", "RGB"), ("WEBP", "RGB")]
)
def test_each_url_gets_distinct_bytes_with_the_same_pixels_and_analysis(fmt, mode):
    original = _image(fmt, mode)
    first, second = _web.tagged(original, _web.url_text(1)), _web.tagged(original, _web.url_text(2))
    assert len({original, first, second}) == 3
    with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(first)) as b:
        assert a.format == b.format == fmt
        assert np.array_equal(np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA")))
    options = AnalysisOptions()
    expected, got = vars(analyse_image(original, options)), vars(analyse_image(first, options))
    differing = {name for name in expected if expected[name] != got[name]}
    assert differing <= {"file_size", "image_hash"}


def _args(**overrides) -> argparse.Namespace:
    values = dict(
        seed=0, pool=2, media=200, big=300, hosts=5, dup_share=0.3, consumers=[1, 2], phases=["web", "memory"]
    )
    values.update(overrides)
    return argparse.Namespace(**values)


def test_the_plan_gives_each_land_its_own_urls_and_flat_mirrors_web():
    plan = web_plan(_args())
    entries = plan.catalogue.entries
    assert set(plan.lands) == {"web-1", "flat-1", "dup-1", "web-2", "flat-2", "dup-2", "memory-1"}
    distinct = [set(land.ids) for land in plan.lands.values()]
    assert sum(len(ids) for ids in distinct) == len(set().union(*distinct)) == len(entries)
    for consumers in (1, 2):
        web, flat = plan.lands[f"web-{consumers}"].ids, plan.lands[f"flat-{consumers}"].ids
        for w, f in zip(web, flat, strict=True):
            assert (entries[w].image, entries[w].host, entries[w].validators) == (
                entries[f].image,
                entries[f].host,
                entries[f].validators,
            )
            assert entries[f].latency == _web.FLAT_LATENCY
    web = plan.lands["web-1"].ids
    assert {entries[i].host for i in web} == set(range(5))
    assert sum(entries[i].validators for i in web) == 180
    assert web_plan(_args()).catalogue.entries == entries


def test_a_duplicated_land_repeats_urls_on_other_pages_only():
    land = duplicated_land(list(range(700)), 1000, random.Random(3))
    assert len(land.ids) == 1000
    assert len(set(land.ids)) == 700
    assert land.pages is not None
    pairs = list(zip(land.ids, land.pages, strict=True))
    assert len(set(pairs)) == 1000  # a URL never twice on one page (media rows are unique per page and URL)


class _Client:
    """Raw HTTP/1.1 over one connection, so that a stalled response can be held open."""

    def __init__(self, host: int, port: int) -> None:
        self.address = (_web.host_address(host), port)

    async def __aenter__(self) -> _Client:
        self.reader, self.writer = await asyncio.open_connection(*self.address)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()
        await self.writer.wait_closed()

    async def head_of(self, path: str) -> bytes:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await self.writer.drain()
        return await self.reader.readuntil(b"\r\n\r\n")


async def _until(condition, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.mark.slow
async def test_the_server_answers_validators_and_counts_per_host_and_per_url():
    pool = [_image("JPEG"), _image("PNG")]
    entries = [
        _web.Entry(0, 0, 0, 0.01, True),
        _web.Entry(1, 1, 1, 0.01, False),
        _web.Entry(2, 0, 1, math.inf, True),
    ]
    server = _web.WebServer(entries, pool, hosts=2)
    await server.start()
    try:
        stats = _web.StatsClient(server.control_port)

        def url(entry: int, host: int | None = None) -> str:
            address = _web.host_address(entries[entry].host if host is None else host)
            return f"http://{address}:{server.port}/img/{entry}.jpg"

        def get(entry: int, headers: dict[str, str] | None = None, host: int | None = None) -> requests.Response:
            with requests.Session() as session:
                response = session.get(url(entry, host), headers={"Connection": "close", **(headers or {})}, timeout=10)
                response.close()
                return response

        first = await asyncio.to_thread(get, 0)
        assert first.status_code == 200
        assert first.content == _web.tagged(pool[0], _web.url_text(0))
        assert first.headers["Content-Type"] == "image/jpeg"
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        assert (await asyncio.to_thread(get, 0, {"If-None-Match": etag})).status_code == 304
        assert (await asyncio.to_thread(get, 0, {"If-Modified-Since": modified})).status_code == 304
        earlier = email.utils.formatdate(email.utils.parsedate_to_datetime(modified).timestamp() - 60, usegmt=True)
        assert (await asyncio.to_thread(get, 0, {"If-Modified-Since": earlier})).status_code == 200
        assert (await asyncio.to_thread(get, 0, {"If-None-Match": '"other"'})).status_code == 200

        plain = await asyncio.to_thread(get, 1, {"If-Modified-Since": modified})
        assert plain.status_code == 200
        assert "ETag" not in plain.headers
        assert "Last-Modified" not in plain.headers
        assert (await asyncio.to_thread(get, 1, None, 0)).status_code == 404  # not on that host

        counted = await asyncio.to_thread(stats.stats)
        assert counted["requests"] == {"0": 5, "1": 1}  # the 404 is no request for a URL of the catalogue
        assert counted["conditional"] == 5
        assert counted["not_modified"] == 2
        assert counted["not_found"] == 1
        assert counted["connections"] == 7  # one per request: each asked to close
        timings = await asyncio.to_thread(stats.timings)
        assert set(timings) == {0, 1}
        head_read, written = timings[0]
        assert written - head_read >= entries[0].latency

        # The client has closed its connections; a reset starts the peaks from what is open now.
        await _until(lambda: server.counters.open == [0, 0])
        await asyncio.to_thread(stats.reset)
        # Three stalled responses at once on host 1: each has its headers, none its body.
        async with _Client(1, server.port) as a, _Client(1, server.port) as b, _Client(1, server.port) as c:
            for client in (a, b, c):
                assert (await client.head_of("/img/2.jpg")).startswith(b"HTTP/1.1 200 OK")
            # Headers, then silence: not even the first byte of the body.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(a.reader.read(1), 0.5)
            counted = await asyncio.to_thread(stats.stats)
            assert counted["in_progress"] == [0, 3]
            assert counted["peak_in_progress"][1] == 3
            assert counted["peak_open"][1] == 3
            assert counted["peak_total_in_progress"] == 3
            assert counted["stalls"] == 3
        await _until(lambda: server.counters.in_progress == [0, 0] and server.counters.open == [0, 0])

        reset = await asyncio.to_thread(stats.reset)
        assert reset["requests"] == {}
        assert reset["peak_in_progress"] == [0, 0]
        assert reset["peak_open"] == [0, 0]
        assert reset["conditional"] == reset["not_modified"] == reset["stalls"] == 0
    finally:
        server.close()
