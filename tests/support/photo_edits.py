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


# --- Reposting edits that change the frame of the picture (issue of framing and cropping) ---

FRAME_COLOURS = ((255, 255, 255), (0, 0, 0), (238, 238, 238), (24, 24, 32), (200, 30, 40), (20, 90, 160))


def cut(image: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    """Cut the given share of the width (left, right) and of the height (top, bottom) off each side."""
    w, h = image.size
    return image.crop((round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)))


def cut_each_border(image: Image.Image, share: float = 0.05) -> Image.Image:
    return cut(image, share, share, share, share)


# (big side, small side) of the asymmetric crop: 12 % off one side and 4 % off another,
# adjacent or opposite; which sides is drawn from the picture's seed.
ASYMMETRIC_SIDES = (
    (0, 1), (0, 3), (0, 2), (1, 2), (1, 0), (2, 3), (2, 1), (3, 0), (3, 2), (1, 3), (2, 0), (3, 1),
)  # fmt: skip


def asymmetric_crop(image: Image.Image, variant: int) -> Image.Image:
    big, small = ASYMMETRIC_SIDES[variant % len(ASYMMETRIC_SIDES)]
    shares = [0.0, 0.0, 0.0, 0.0]  # left, top, right, bottom
    shares[big], shares[small] = 0.12, 0.04
    return cut(image, *shares)


def framed(image: Image.Image, colour: tuple[int, int, int], share: float = 0.08) -> Image.Image:
    """A plain border of ``share`` of the long side around the picture (a screenshot, a post card)."""
    border = round(max(image.size) * share)
    out = Image.new("RGB", (image.width + 2 * border, image.height + 2 * border), colour)
    out.paste(image.convert("RGB"), (border, border))
    return out


def centre_square(image: Image.Image) -> Image.Image:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def watermark(image: Image.Image) -> Image.Image:
    """The same semi-transparent mark on every picture: a band with an agency's name."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    w, h = base.size
    box = (round(w * 0.55), round(h * 0.82), round(w * 0.97), round(h * 0.95))
    draw.rectangle(box, fill=(255, 255, 255, 90))
    size = max(10, (box[3] - box[1]) // 2)
    font = ImageFont.load_default(size=size)
    draw.text((box[0] + size // 3, box[1] + size // 3), "PHOTO AGENCY", fill=(255, 255, 255, 150), font=font)
    return Image.alpha_composite(base, layer).convert("RGB")
