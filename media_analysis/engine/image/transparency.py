"""Whether a decoded image has at least one pixel that is not fully opaque."""

from __future__ import annotations

from typing import Any, cast

from PIL import Image

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_KEYED_MODES = frozenset({"1", "L", "RGB", "I", "I;16"})


def has_transparency(img: Image.Image) -> bool:
    """True when at least one pixel of the (loaded) image is not fully opaque."""
    mode = img.mode
    if mode in _ALPHA_MODES:
        # Transparent images are usually transparent in a corner: look there before
        # scanning the whole alpha band.
        width, height = img.size
        for x, y in ((0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)):
            if cast(tuple[int, ...], img.getpixel((x, y)))[-1] < 255:
                return True
        # One band: its extrema are (lowest, highest).
        lowest, _ = cast(tuple[int, int], img.getchannel(len(mode) - 1).getextrema())
        return lowest < 255
    transparency = img.info.get("transparency")
    if mode == "P":
        alphas = _palette_alphas(img, transparency)
        if alphas is None:
            return False
        histogram = img.histogram()
        return any(count and alphas[index] < 255 for index, count in enumerate(histogram[: len(alphas)]))
    if transparency is not None and mode in _KEYED_MODES:
        # A colour key (PNG tRNS on grey or truecolour): Pillow applies it when adding alpha.
        # Several bands: one (lowest, highest) pair per band, alpha last.
        lowest, _ = cast(tuple[tuple[int, int], ...], img.convert("RGBA").getextrema())[3]
        return lowest < 255
    return False


def _palette_alphas(img: Image.Image, transparency: Any) -> list[int] | None:
    alphas: list[int] | None = None
    palette = img.palette
    if palette is not None and palette.mode == "RGBA":
        raw = palette.tobytes()
        alphas = list(raw[3::4])
    if isinstance(transparency, int):
        alphas = alphas or [255] * 256
        alphas += [255] * (256 - len(alphas))
        if 0 <= transparency < len(alphas):
            alphas[transparency] = 0
    elif isinstance(transparency, bytes | bytearray):
        alphas = list(transparency) + [255] * (256 - len(transparency))
    if alphas is None:
        return None
    return alphas + [255] * (256 - len(alphas))
