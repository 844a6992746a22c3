"""The edits a picture goes through when other sites republish it, for near-duplicate tests.

Each edit returns the edited picture and the JPEG quality it is published with.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFont, ImageOps


def caption(image: Image.Image) -> Image.Image:
    image = image.convert("RGB")
    ImageDraw.Draw(image).text(
        (6, image.height - 18), "(c) some news site", fill=(255, 255, 255), font=ImageFont.load_default()
    )
    return image


def crop_5_percent(image: Image.Image) -> Image.Image:
    dx, dy = round(image.width * 0.025), round(image.height * 0.025)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


EDITS: dict[str, Callable[[Image.Image], tuple[Image.Image, int]]] = {
    "half": lambda im: (im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS), 90),
    "jpeg50": lambda im: (im, 50),
    "crop5": lambda im: (crop_5_percent(im), 90),
    "grey": lambda im: (im.convert("L"), 90),
    "caption": lambda im: (caption(im), 90),
    "mirror": lambda im: (ImageOps.mirror(im), 90),
}
