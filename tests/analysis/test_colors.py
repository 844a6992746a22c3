import io
import warnings

import numpy as np
import pytest
from PIL import Image

from media_analysis.engine.image import analyse_image
from media_analysis.engine.image.analyse import _colour_sample
from media_analysis.engine.image.colours import (
    _describe,
    compiled_kmeans,
    consensus_kmeans,
    dominant_colours,
    kmeans,
    nearest_web_safe,
    websafe_palette,
)
from media_analysis.engine.image.decode import decode_frame, normalised
from tests.analysis.conftest import encode, gradient

LEVELS = (0, 51, 102, 153, 204, 255)


def _sklearn_palette(pixels: np.ndarray) -> list[tuple[list[int], float]]:
    """What the predecessor computed: scikit-learn k-means, clusters by size."""
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=5, n_init="auto", random_state=42).fit(pixels)
    counts = np.bincount(model.labels_, minlength=5)
    order = sorted(range(5), key=lambda i: counts[i], reverse=True)
    return [([int(v) for v in model.cluster_centers_[i]], round(100 * counts[i] / len(pixels), 2)) for i in order]


def _crops(photo: Image.Image) -> list[Image.Image]:
    mirrored = photo.crop((200, 100, 640, 427)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return [photo, photo.crop((0, 0, 320, 240)), mirrored]


def test_kmeans_reproduces_the_predecessor_on_photo_samples(photo):
    for img in _crops(photo):
        pixels = np.asarray(img.resize((100, 100)).convert("RGB")).reshape(-1, 3)

        ours = [(c["rgb"], c["percentage"]) for c in dominant_colours(pixels)]

        assert ours == _sklearn_palette(pixels)


def _decoded_samples(photo: Image.Image) -> list[np.ndarray]:
    """The analysis's 100x100 samples of ``photo`` in formats decoded in full."""
    samples = []
    for data in (encode(photo, "PNG"), encode(photo.crop((0, 0, 600, 399)), "JPEG"), encode(photo, "GIF")):
        with Image.open(io.BytesIO(data)) as img:
            frame = decode_frame(img, data)
            assert frame.box is None
            samples.append(np.asarray(_colour_sample(normalised(frame.image), None).convert("RGB")).reshape(-1, 3))
    return samples


def test_compiled_kmeans_gives_the_numpy_kmeans_result_on_fully_decoded_images(photo):
    for pixels in _decoded_samples(photo) + [pixels[::3] for pixels in _decoded_samples(photo)]:
        numpy_colours = _describe(*kmeans(pixels, 5), len(pixels))

        compiled = dominant_colours(pixels)

        assert [c["rgb"] for c in compiled] == [c["rgb"] for c in numpy_colours]
        # The numpy reference iterates in float32: a pixel on the boundary of two clusters
        # may fall on the other side of it than in float64 (0.01 % of the sample each).
        for ours, reference in zip(compiled, numpy_colours, strict=True):
            assert abs(ours["percentage"] - reference["percentage"]) <= 0.05


def test_large_jpegs_take_the_consensus_kmeans_of_their_whole_sample(china):
    data = encode(china.resize((1600, 1067), Image.Resampling.BICUBIC), "JPEG", quality=88)
    with Image.open(io.BytesIO(data)) as img:
        frame = decode_frame(img, data)
        assert frame.box is not None  # decoded at reduced scale
        pixels = np.asarray(_colour_sample(normalised(frame.image), frame.box).convert("RGB")).reshape(-1, 3)

    colours = analyse_image(data).dominant_colors

    assert colours == _describe(*consensus_kmeans(pixels, 5), len(pixels))
    assert colours == dominant_colours(pixels, approximate=True)  # reproducible
    assert sum(c["percentage"] for c in colours) == pytest.approx(100, abs=0.05)


def test_consensus_kmeans_of_few_colours_gives_those_colours():
    colours = [(250, 10, 10), (10, 10, 250), (10, 250, 10)]
    pixels = np.array(colours * 3000, dtype=np.uint8)

    centres, counts = consensus_kmeans(pixels, 5)

    assert {tuple(int(v) for v in c) for c in centres} == set(colours)
    assert sorted(counts.tolist()) == [3000, 3000, 3000]


def test_analysis_colours_equal_the_predecessor_when_fully_decoded(photo):
    # JPEGs below 400 pixels on their short side are decoded in full, like every other format.
    small = photo.crop((0, 0, 600, 399))
    for data in (encode(photo, "PNG"), encode(small, "JPEG"), encode(photo, "WEBP"), encode(photo, "GIF")):
        with Image.open(io.BytesIO(data)) as img:
            pixels = np.asarray(img.resize((100, 100)).convert("RGB")).reshape(-1, 3)

        result = analyse_image(data)

        assert [c["percentage"] for c in result.dominant_colors] == [p for _, p in _sklearn_palette(pixels)]


def test_large_jpeg_palette_quality(china):
    """Decoded at reduced scale, the palette must quantise the photo about as well as the predecessor's."""
    big = china.resize((2400, 1600), Image.Resampling.BICUBIC)
    data = encode(big, "JPEG", quality=90)
    pixels = np.asarray(big.resize((100, 100)).convert("RGB")).reshape(-1, 3).astype(float)

    def sse(palette: np.ndarray) -> float:
        return float(((pixels[:, None, :] - palette[None]) ** 2).sum(axis=2).min(axis=1).sum())

    ours = np.array([c["rgb"] for c in analyse_image(data).dominant_colors], dtype=float)
    reference = np.array([rgb for rgb, _ in _sklearn_palette(pixels.astype(np.uint8))], dtype=float)
    assert sse(ours) <= 1.1 * sse(reference)


@pytest.mark.parametrize("n_distinct", [1, 2, 3])
def test_fewer_distinct_colours_than_asked_without_warnings(n_distinct):
    colours = [(250, 10, 10), (10, 10, 250), (10, 250, 10)][:n_distinct]
    img = Image.new("RGB", (300, 300), colours[0])
    for index, colour in enumerate(colours[1:], start=1):
        img.paste(colour, (0, 0, 300, 100 * index))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = analyse_image(encode(img, "PNG"))
        exact = dominant_colours(np.array(colours * 7, dtype=np.uint8))

    assert len(result.dominant_colors) >= n_distinct
    assert len(exact) == n_distinct
    assert {tuple(c["rgb"]) for c in exact} == set(colours)


def test_no_warning_on_any_photo_or_format(photo):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fmt in ("JPEG", "PNG", "WEBP", "GIF", "TIFF"):
            analyse_image(encode(photo, fmt))
        analyse_image(encode(photo.resize((1600, 1067)), "JPEG"))


def test_kmeans_limits():
    pixels = np.asarray(gradient().resize((50, 50))).reshape(-1, 3)
    for function in (kmeans, compiled_kmeans, consensus_kmeans):
        with pytest.raises(ValueError):
            function(pixels, 0)
        for k in (1, 8, 12):
            centres, counts = function(pixels, k)
            assert len(centres) == k
            assert counts.sum() == len(pixels)
    assert dominant_colours(np.empty((0, 3), dtype=np.uint8)) == []
    assert dominant_colours(np.empty((0, 3), dtype=np.uint8), approximate=True) == []


def test_nearest_web_safe_matches_brute_force():
    grid = [(r, g, b) for r in LEVELS for g in LEVELS for b in LEVELS]
    rng = np.random.default_rng(3)
    for rgb in rng.integers(0, 256, size=(300, 3)):
        brute = min(grid, key=lambda c: sum((int(a) - b) ** 2 for a, b in zip(rgb, c, strict=True)))
        assert nearest_web_safe(rgb) == brute


def test_websafe_palette_merges_close_colours():
    colours = [
        {"rgb": [250, 2, 3], "percentage": 40.0},
        {"rgb": [240, 20, 10], "percentage": 35.5},
        {"rgb": [0, 0, 140], "percentage": 24.5},
    ]

    assert websafe_palette(colours) == {"#ff0000": 75.5, "#000099": 24.5}
