"""The fresh OCR evaluation set: pictures built once from sources the tuning and held-out halves never use.

``bench/ocr.py`` tunes and reports on a set drawn in DejaVu fonts and Pillow's Aileron, over
scikit-image's and scikit-learn's sample photos, with twenty phrases of its own. Both of its halves
have been read many times while the engine was tuned, so they no longer tell how the engine does on
text it has not seen. This set shares none of those sources:

* typefaces: Liberation (Sans, Serif, Mono), GNU FreeFont, Open Sans, Roboto, Lato, Carlito and
  Comic Neue, from Debian's font packages (see :data:`PACKAGES`);
* photos: the twelve nature photographs of Debian's ``mate-backgrounds`` and ten photographs of
  ``plasma-workspace-wallpapers``, as backgrounds and as text-free photos;
* texts: the French and English sentences of :data:`SENTENCES`, written for this set (news, campaigns,
  daily life and memes, with accents, apostrophes and a few digits and punctuation marks);
* its own ground and ink colours, canvas sizes, screenshot layout and seed (:data:`SEED`).

It keeps the kinds, the text sizes and the styles of the other set (captions of 20 to 48 px on plain
grounds and over photos, outlined or on a light band, at the top or the bottom; captions of 12 to 18 px
over photos; screenshots of 14 to 18 px text; photos without text), so its table reads like theirs.
The whole set is one evaluation: it is not split, and nothing may be tuned on it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SEED = "ocr-fresh-2026-12-05"
KINDS = ("caption_plain", "caption_photo", "caption_small", "screenshot", "photo")


@dataclass(frozen=True)
class Source:
    path: str
    package: str  # the Debian package that ships it


def _fonts(package: str, folder: str, names: Iterable[str]) -> tuple[Source, ...]:
    return tuple(Source(f"{folder}/{name}", package) for name in names)


_TRUETYPE = "/usr/share/fonts/truetype"
# Captions: regular, bold and black weights, serif and sans, condensed, mono and a hand-lettered face,
# as memes, posters and news cards use them.
CAPTION_FONTS = (
    *_fonts(
        "fonts-liberation2",
        f"{_TRUETYPE}/liberation2",
        (
            "LiberationSans-Regular.ttf",
            "LiberationSans-Bold.ttf",
            "LiberationSerif-Regular.ttf",
            "LiberationSerif-Bold.ttf",
            "LiberationMono-Regular.ttf",
        ),
    ),
    *_fonts("fonts-freefont-ttf", f"{_TRUETYPE}/freefont", ("FreeSansBold.ttf", "FreeSerif.ttf")),
    *_fonts("fonts-open-sans", f"{_TRUETYPE}/open-sans", ("OpenSans-Regular.ttf", "OpenSans-ExtraBold.ttf")),
    *_fonts("fonts-roboto-unhinted", f"{_TRUETYPE}/roboto/unhinted", ("RobotoTTF/Roboto-Black.ttf",)),
    *_fonts("fonts-roboto-unhinted", f"{_TRUETYPE}/roboto/unhinted", ("RobotoCondensed-Bold.ttf",)),
    *_fonts("fonts-lato", f"{_TRUETYPE}/lato", ("Lato-Regular.ttf", "Lato-Heavy.ttf")),
    *_fonts("fonts-crosextra-carlito", f"{_TRUETYPE}/crosextra", ("Carlito-Bold.ttf",)),
    *_fonts("fonts-comic-neue", "/usr/share/fonts/opentype/comic-neue", ("ComicNeue-Bold.otf",)),
)
# Screenshots: the faces of interfaces and documents, at reading weight.
SCREEN_FONTS = (
    *_fonts("fonts-roboto-unhinted", f"{_TRUETYPE}/roboto/unhinted", ("RobotoTTF/Roboto-Regular.ttf",)),
    *_fonts("fonts-open-sans", f"{_TRUETYPE}/open-sans", ("OpenSans-Regular.ttf",)),
    *_fonts("fonts-lato", f"{_TRUETYPE}/lato", ("Lato-Regular.ttf",)),
    *_fonts(
        "fonts-liberation2",
        f"{_TRUETYPE}/liberation2",
        ("LiberationSans-Regular.ttf", "LiberationSerif-Regular.ttf", "LiberationMono-Regular.ttf"),
    ),
    *_fonts("fonts-crosextra-carlito", f"{_TRUETYPE}/crosextra", ("Carlito-Regular.ttf",)),
    *_fonts("fonts-freefont-ttf", f"{_TRUETYPE}/freefont", ("FreeSans.ttf",)),
)
# Photographs only: the packages' drawings, gradients and logos are left out, and so is EveningGlow, whose boats
# carry a small painted label: none of these shows text, checked by eye at full size.
PHOTOS = tuple(
    Source(f"/usr/share/backgrounds/mate/nature/{name}.jpg", "mate-backgrounds")
    for name in (
        "Aqua",
        "Blinds",
        "Dune",
        "FreshFlower",
        "Garden",
        "GreenMeadow",
        "LadyBird",
        "RainDrops",
        "Storm",
        "TwoWings",
        "Wood",
        "YellowFlower",
    )
) + tuple(
    Source(f"/usr/share/wallpapers/{name}/contents/images/2560x1600.jpg", "plasma-workspace-wallpapers")
    for name in (
        "BytheWater",
        "ColdRipple",
        "ColorfulCups",
        "DarkestHour",
        "FallenLeaf",
        "Grey",
        "Kite",
        "OneStandsOut",
        "Path",
        "summer_1am",
    )
)
PACKAGES = tuple(sorted({source.package for source in (*CAPTION_FONTS, *SCREEN_FONTS, *PHOTOS)}))

# Written for this set; no sentence, and no run of three words, is taken from the other set's phrases.
SENTENCES = (
    # English
    "coffee first, questions later",
    "the bus is late again",
    "my plants are doing better than me",
    "we need more bike lanes downtown",
    "tickets on sale from friday",
    "hands off our public libraries",
    "when the wifi drops during the exam",
    "nobody reads the manual",
    "ten minutes of rain and the street floods",
    "fund the hospitals not the highways",
    "grandma learned to send memes",
    "open house at the fire station saturday",
    "the cat knocked it over on purpose",
    "sleep is a luxury now",
    "turn off the lights when you leave",
    "concert cancelled due to strong wind",
    "who left the milk out",
    "teachers deserve a raise",
    "the river is rising near the old bridge",
    "meet us at the square at 6 pm",
    "local bakery wins regional prize",
    "no more plastic in our oceans",
    "me pretending to work on a friday afternoon",
    "the printer jammed again",
    "march against hunger on 3 may",
    "it's not a phase, mom",
    "this meeting could have been an email",
    "weekend forecast: sunny with clouds",
    "farmers market every wednesday morning",
    "healthcare is a human right",
    "don't feed the seagulls",
    "power cut in the north district until noon",
    "my brain at three in the morning",
    "we want clean air for our kids",
    # French
    "été caniculaire dans toute la région",
    "non à la fermeture de la maternité",
    "le café avant tout le reste",
    "grève des éboueurs depuis mardi",
    "où sont passées mes clés",
    "fête de la musique place du marché",
    "la forêt brûle encore près de Marseille",
    "élève modèle le lundi, fantôme le vendredi",
    "mon cœur balance entre pizza et crêpes",
    "ralentissez près des écoles",
    "l'hôpital manque de soignants",
    "quand la réunion dure deux heures de trop",
    "rendez-vous à la gare à midi",
    "ça ira mieux demain",
    "le métro est encore en panne",
    "à la rentrée, tous à vélo",
    "qu'est-ce qu'on mange ce soir",
    "défendons nos services publics",
    "la boulangerie ferme à 13 heures",
    "même pas peur de la pluie",
    "fermeture exceptionnelle pour inventaire",
    "l'eau est un bien commun",
    "réveillé à 5 h pour rien",
    "élections municipales dimanche prochain",
    "mon chien a mangé mes devoirs",
    "trop de pub tue la pub",
    "château ouvert au public tout l'été",
    "soirée crêpes au foyer rural",
    "ne jetez rien dans la rivière",
    "août sans vacances, ça pique",
    "prêts pour la fête du village",
    "les naïfs y croient encore",
    "déjà vendredi, enfin",
    "où est passé l'été",
)
CANVASES = ((720, 720), (960, 540), (1080, 1080), (800, 1000), (1280, 720), (700, 525))
PLAIN_PAIRS = (  # ground, ink
    ((248, 248, 248), (17, 17, 17)),
    ((15, 60, 40), (245, 245, 220)),
    ((30, 90, 200), (255, 255, 255)),
    ((255, 243, 224), (106, 27, 154)),
    ((40, 40, 40), (255, 213, 79)),
    ((224, 247, 250), (0, 77, 64)),
)
OUTLINE_FILLS = ((255, 255, 255), (255, 221, 0))
BANDS = ((255, 255, 255), (250, 246, 236), (236, 236, 236))
BAND_INKS = ((0, 0, 0), (120, 20, 20), (10, 50, 110))
SCREEN_SIZES = ((900, 640), (1100, 760), (640, 960), (1280, 800))
Colour = tuple[int, int, int]
# A window's ground, ink and side panel: dark, then light.
SCREEN_THEMES: tuple[tuple[Colour, Colour, Colour], tuple[Colour, Colour, Colour]] = (
    ((24, 26, 32), (225, 228, 232), (36, 40, 48)),
    ((250, 250, 250), (33, 33, 33), (236, 239, 243)),
)
SCREEN_BARS = ((45, 45, 48), (0, 120, 110), (90, 60, 150), (200, 205, 210))


@dataclass(frozen=True)
class Design:
    """What a set is drawn from: its sources, colours, canvases and seed; the drawing itself is shared."""

    name: str
    seed: str
    caption_fonts: tuple[Source, ...]
    screen_fonts: tuple[Source, ...]
    photos: tuple[Source, ...]
    sentences: tuple[str, ...]
    canvases: tuple[tuple[int, int], ...]
    plain_pairs: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...]
    outline_fills: tuple[tuple[int, int, int], ...]
    bands: tuple[tuple[int, int, int], ...]
    band_inks: tuple[tuple[int, int, int], ...]
    screen_sizes: tuple[tuple[int, int], ...]
    screen_themes: tuple[tuple[Colour, Colour, Colour], tuple[Colour, Colour, Colour]]
    screen_bars: tuple[Colour, ...]

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(sorted({source.package for source in (*self.caption_fonts, *self.screen_fonts, *self.photos)}))


FRESH = Design(
    "fresh",
    SEED,
    CAPTION_FONTS,
    SCREEN_FONTS,
    PHOTOS,
    SENTENCES,
    CANVASES,
    PLAIN_PAIRS,
    OUTLINE_FILLS,
    BANDS,
    BAND_INKS,
    SCREEN_SIZES,
    SCREEN_THEMES,
    SCREEN_BARS,
)


@dataclass(frozen=True)
class Picture:
    kind: str
    index: int
    image: Image.Image
    text: str  # the ground truth, lines joined by newlines; empty for photos


def missing(design: Design = FRESH) -> list[Source]:
    """The sources not installed on this machine (the set is not built without all of them)."""
    sources = (*design.caption_fonts, *design.screen_fonts, *design.photos)
    return [s for s in dict.fromkeys(sources) if not Path(s.path).is_file()]


@cache
def photos(design: Design = FRESH) -> tuple[Image.Image, ...]:
    loaded = []
    for source in design.photos:
        with Image.open(source.path) as photo:
            image = photo.convert("RGB")
        # The wallpapers are 2.5 megapixels and more; a long side of 1920 keeps every crop sharp for less memory.
        image.thumbnail((1920, 1920), Image.Resampling.LANCZOS)
        loaded.append(image)
    return tuple(loaded)


@cache
def typeface(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def photo_crop(rng: random.Random, size: tuple[int, int], design: Design = FRESH) -> Image.Image:
    photo = rng.choice(photos(design))
    pw, ph = photo.size
    ratio = size[0] / size[1]
    cw = min(pw, ph * ratio) * rng.uniform(0.55, 1.0)
    ch = cw / ratio
    left, top = rng.uniform(0, pw - cw), rng.uniform(0, ph - ch)
    return photo.crop((int(left), int(top), int(left + cw), int(top + ch))).resize(size, Image.Resampling.BICUBIC)


def wrap(words: list[str], face: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """The words set in lines no wider than ``width`` in ``face`` (the halves' captions are wrapped alike)."""
    lines: list[str] = []
    for word in words:
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and face.getlength(candidate) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


def caption(
    img: Image.Image, rng: random.Random, size: int, style: str, ink: tuple[int, int, int], design: Design = FRESH
) -> str:
    """Draw a sentence centred at the top or the bottom; return the lines drawn."""
    face = typeface(rng.choice(design.caption_fonts).path, size)
    sentence = rng.choice(design.sentences)
    words = (sentence.upper() if rng.random() < 0.5 else sentence).split()
    width, height = img.size
    lines = wrap(words, face, width * rng.uniform(0.8, 0.92))
    draw = ImageDraw.Draw(img)
    line_height = int(size * rng.uniform(1.2, 1.35))
    margin = int(height * rng.uniform(0.04, 0.08))
    top = margin if rng.random() < 0.5 else height - line_height * len(lines) - margin
    if style == "band":
        band = rng.choice(design.bands)
        draw.rectangle((0, top - size // 4, width, top + line_height * len(lines) + size // 8), fill=band)
    for number, line in enumerate(lines):
        x = max(4, int((width - face.getlength(line)) / 2))
        y = top + number * line_height
        if style == "outline":
            draw.text((x, y), line, font=face, fill=ink, stroke_width=max(1, round(size / 11)), stroke_fill=(0, 0, 0))
        else:
            draw.text((x, y), line, font=face, fill=ink)
    return "\n".join(lines)


def over_photo(
    rng: random.Random, size: tuple[int, int], text_size: int, design: Design = FRESH
) -> tuple[Image.Image, str]:
    img = photo_crop(rng, size, design)
    if rng.random() < 2 / 3:
        return img, caption(img, rng, text_size, "outline", rng.choice(design.outline_fills), design)
    return img, caption(img, rng, text_size, "band", rng.choice(design.band_inks), design)


def screenshot(rng: random.Random, design: Design = FRESH) -> tuple[Image.Image, str]:
    """A window of a few lines of 14 to 18 px text under a bar without text, light or dark, with a side panel."""
    dark = rng.random() < 0.3
    ground, ink, panel = design.screen_themes[0] if dark else design.screen_themes[1]
    width, height = rng.choice(design.screen_sizes)
    img = Image.new("RGB", (width, height), ground)
    draw = ImageDraw.Draw(img)
    bar = rng.randrange(28, 48)
    draw.rectangle((0, 0, width, bar), fill=rng.choice(design.screen_bars))
    left = 16
    if width >= 900 and rng.random() < 0.6:  # an empty side panel, as mail and chat windows have
        left = rng.randrange(180, 260)
        draw.rectangle((0, bar, left - 12, height), fill=panel)
    size = rng.randrange(14, 19)
    face = typeface(rng.choice(design.screen_fonts).path, size)
    usable = width - left - 24
    lines: list[str] = []
    y = bar + rng.randrange(16, 40)
    while y < height - 3 * size and len(lines) < 12:
        words = rng.choice(design.sentences).split()
        words = words[: rng.randrange(min(3, len(words)), len(words) + 1)]
        while len(words) > 1 and face.getlength(" ".join(words)) > usable:
            words.pop()
        line = " ".join(words)
        draw.text((left, y), line, font=face, fill=ink)
        lines.append(line)
        y += int(size * rng.uniform(1.45, 1.75)) + (size if rng.random() < 0.25 else 0)
    return img, "\n".join(lines)


def make(kind: str, index: int, seed: str | None = None, design: Design = FRESH) -> Picture:
    """Picture ``index`` of ``kind``, drawn from ``design``'s sources with its seed (or ``seed``)."""
    rng = random.Random(f"{seed or design.seed}-{kind}-{index}")
    size = rng.choice(design.canvases)
    if kind == "photo":
        return Picture(kind, index, photo_crop(rng, size, design), "")
    if kind == "caption_plain":
        ground, ink = rng.choice(design.plain_pairs)
        img = Image.new("RGB", size, ground)
        return Picture(kind, index, img, caption(img, rng, rng.randrange(20, 49), "plain", ink, design))
    if kind in ("caption_photo", "caption_small"):
        text_size = rng.randrange(20, 49) if kind == "caption_photo" else rng.randrange(12, 19)
        img, text = over_photo(rng, size, text_size, design)
        return Picture(kind, index, img, text)
    if kind == "screenshot":
        img, text = screenshot(rng, design)
        return Picture(kind, index, img, text)
    raise ValueError(f"unknown kind {kind!r}")


def build(per_kind: int, seed: str | None = None, design: Design = FRESH) -> list[Picture]:
    return [make(kind, i, seed, design) for kind in KINDS for i in range(per_kind)]


def digest(pictures: Iterable[Picture]) -> str:
    """A fingerprint of the pictures and their texts: the same on every machine with the same packages."""
    h = hashlib.sha256()
    for picture in pictures:
        h.update(f"{picture.kind}\0{picture.index}\0{picture.text}\0{picture.image.size}\0".encode())
        h.update(picture.image.tobytes())
    return h.hexdigest()[:16]
