"""The third fresh OCR evaluation set, drawn from sources that no other set uses.

The first and second fresh sets (``bench/_ocr_fresh.py``, ``bench/_ocr_fresh2.py``) were each read
once and are now tuning material, with the halves of ``bench/ocr.py``. This set is drawn the same way
(the same kinds, text sizes and styles, by the drawing code of ``_ocr_fresh``) from other sources:

* typefaces: Gentium Plus, Karla, Manrope, JetBrains Mono, League Spartan, Vollkorn, Oxygen,
  Comfortaa, Roboto Slab, the Go fonts, Sora and Clear Sans, from Debian's font packages (none is the
  system's default face, so the project's pages draw as before);
* photos: the five photographs of Debian's ``palapeli-data`` jigsaw collection (a castle, a bridge at
  night, citrus slices, a bee on an aster, a chameleon) and ten photographs among the sample pictures
  of ``opencv-doc`` (an aloe, an office block, a cobbled street, two aerial views, a butterfly, a
  squirrel, a baboon, fruit, a palace against the sky);
* texts: the sentences of :data:`SENTENCES`, written for this set;
* its own ground and ink colours, outline fills, bands, canvas sizes, window colours and seed.

It is one evaluation, read once on the final engine: it is not split, and nothing is tuned on it.
"""

from __future__ import annotations

from bench._ocr_fresh import Design, Source, _fonts

SEED = "ocr-fresh3-2026-12-05"

_OPENTYPE, _TRUETYPE = "/usr/share/fonts/opentype", "/usr/share/fonts/truetype"
# Captions: regular, bold and black weights, serif, slab and sans, geometric, rounded and mono.
CAPTION_FONTS = (
    *_fonts("fonts-sil-gentiumplus", f"{_TRUETYPE}/gentiumplus", ("GentiumPlus-Regular.ttf", "GentiumPlus-Bold.ttf")),
    *_fonts("fonts-karla", f"{_TRUETYPE}/karla", ("Karla-Bold.otf", "Karla-ExtraBold.otf")),
    *_fonts("fonts-manrope", f"{_TRUETYPE}/manrope", ("Manrope-Regular.ttf", "Manrope-ExtraBold.ttf")),
    *_fonts("fonts-jetbrains-mono", f"{_TRUETYPE}/jetbrains-mono", ("JetBrainsMono-Bold.ttf",)),
    *_fonts(
        "fonts-league-spartan", f"{_OPENTYPE}/league-spartan", ("LeagueSpartan-Bold.otf", "LeagueSpartan-Black.otf")
    ),
    *_fonts("fonts-vollkorn", f"{_TRUETYPE}/vollkorn", ("Vollkorn-Regular.ttf", "Vollkorn-Black.ttf")),
    *_fonts("fonts-oxygen", f"{_TRUETYPE}/oxygen", ("Oxygen-Sans-Bold.ttf",)),
    *_fonts("fonts-comfortaa", f"{_TRUETYPE}/comfortaa", ("Comfortaa-Bold.ttf",)),
    *_fonts("fonts-roboto-slab", f"{_OPENTYPE}/roboto/slab", ("RobotoSlab-Bold.otf",)),
    *_fonts("fonts-go", "/usr/share/fonts/fonts-go", ("Go-Bold.ttf", "Go-Mono-Bold.ttf")),
    *_fonts("fonts-sora", f"{_OPENTYPE}/sora", ("Sora-ExtraBold.otf",)),
    *_fonts("fonts-clear-sans", f"{_TRUETYPE}/clear-sans", ("ClearSans-Bold.ttf",)),
)
# Screenshots: interface and document faces at reading weight.
SCREEN_FONTS = (
    *_fonts("fonts-sil-gentiumplus", f"{_TRUETYPE}/gentiumplus", ("GentiumPlus-Regular.ttf",)),
    *_fonts("fonts-karla", f"{_TRUETYPE}/karla", ("Karla-Regular.otf",)),
    *_fonts("fonts-manrope", f"{_TRUETYPE}/manrope", ("Manrope-Medium.ttf",)),
    *_fonts("fonts-jetbrains-mono", f"{_TRUETYPE}/jetbrains-mono", ("JetBrainsMono-Regular.ttf",)),
    *_fonts("fonts-vollkorn", f"{_TRUETYPE}/vollkorn", ("Vollkorn-Regular.ttf",)),
    *_fonts("fonts-comfortaa", f"{_TRUETYPE}/comfortaa", ("Comfortaa-Regular.ttf",)),
    *_fonts("fonts-roboto-slab", f"{_OPENTYPE}/roboto/slab", ("RobotoSlab-Regular.otf",)),
    *_fonts("fonts-go", "/usr/share/fonts/fonts-go", ("Go-Regular.ttf", "Go-Mono.ttf")),
    *_fonts("fonts-sora", f"{_OPENTYPE}/sora", ("Sora-Regular.otf",)),
    *_fonts("fonts-clear-sans", f"{_TRUETYPE}/clear-sans", ("ClearSans-Regular.ttf",)),
)
_OPENCV = "/usr/share/doc/opencv-doc/examples/data"
# Photographs only: the packages' drawings, synthetic pictures, chessboards and scenes with text are left out,
# and so are a potted plant with a price tag, foam letters and a desk whose lighter may carry a brand; each
# photo kept was looked at and shows no text.
PHOTOS = (
    *(
        Source(f"/usr/share/palapeli/collection/{name}.jpg", "palapeli-data")
        for name in (
            "castle-maintenon",
            "cincinnati-bridge",
            "citrus-fruits",
            "european-honey-bee",
            "panther-chameleon-female",
        )
    ),
    *(
        Source(f"{_OPENCV}/{name}.jpg", "opencv-doc")
        for name in (
            "aloeL",
            "building",
            "leuvenA",
            "aero1",
            "aero3",
            "butterfly",
            "squirrel_cls",
            "baboon",
            "fruits",
            "home",
        )
    ),
)

# Written for this set; none is a sentence of the other sets, and none shares a run of three words with them.
SENTENCES = (
    # English
    "the ferry leaves at half past nine",
    "hands off the village post office",
    "our street party needs volunteers",
    "my laptop froze during the thesis defence",
    "bees need wild flowers too",
    "farmers market moved to saturday",
    "the heating broke in january",
    "protect the wetlands from developers",
    "my cactus survived another week",
    "free entry for pensioners on tuesdays",
    "bus drivers deserve better pay",
    "the canal towpath reopens in april",
    "someone ate the last biscuit",
    "teachers strike over class sizes",
    "the museum is free this weekend",
    "plant 3000 trees before autumn",
    "honestly, mondays should be optional",
    "stop dumping rubbish in rivers",
    "the new tunnel costs 40 million",
    "roller skating every friday night",
    "decent housing for every family",
    "my neighbour's parrot sings at dawn",
    "wildfire smoke drifts over town",
    "ban private jets, tax the rich",
    "the lighthouse tour is sold out",
    "chess club meets in room 12",
    "we found a hedgehog in the shed",
    "slow down, children crossing",
    "solar panels on every school roof",
    "the band played until midnight",
    "grandma's recipe wins the contest",
    "keep the allotments green",
    "rain, wind and more rain tomorrow",
    "forty years of the village choir",
    # French
    "fermeture annuelle du fournil en août",
    "sauvez les haies du bocage",
    "mon vélo a encore crevé ce matin",
    "concert gratuit au kiosque à 18 h",
    "les infirmières réclament des renforts",
    "on a retrouvé le chien du voisin",
    "fête du quartier, apportez vos chaises",
    "le marché bio déménage place Carnot",
    "zéro pesticide dans nos assiettes",
    "l'école du hameau doit rester ouverte",
    "été pourri, moral en berne",
    "les trains régionaux sont supprimés",
    "vide-grenier au profit des sinistrés",
    "la rivière déborde après l'orage",
    "élections municipales : tous aux urnes",
    "descente en canoë samedi prochain",
    "atelier tricot chaque mercredi",
    "la patinoire rouvre le 3 décembre",
    "protégeons les forêts de chênes",
    "un café suspendu pour un inconnu",
    "non au péage sur la rocade",
    "le garçon a gagné la dictée",
    "le festival affiche complet",
    "les éboueurs manifestent depuis lundi",
    "soutien aux agriculteurs du plateau",
    "ma grand-mère fait les meilleures gaufres",
    "trop de voitures devant l'école",
    "cœur de ville piéton dès juin",
    "la médiathèque prête des outils",
    "gâteaux maison à la kermesse",
    "débat public sur l'éolien jeudi soir",
    "qui a mangé le dernier croissant",
    "balade nocturne au château",
    "naïf ou pas, on y croit encore",
)

FRESH3 = Design(
    name="fresh3",
    seed=SEED,
    caption_fonts=CAPTION_FONTS,
    screen_fonts=SCREEN_FONTS,
    photos=PHOTOS,
    sentences=SENTENCES,
    canvases=((1200, 675), (800, 800), (900, 1200), (1280, 960), (1600, 900), (600, 750)),
    plain_pairs=(  # ground, ink
        ((250, 235, 215), (25, 25, 112)),
        ((90, 20, 30), (255, 230, 200)),
        ((0, 150, 136), (255, 255, 255)),
        ((255, 205, 210), (80, 0, 0)),
        ((190, 190, 190), (20, 20, 60)),
        ((38, 50, 56), (128, 222, 234)),
    ),
    outline_fills=((240, 240, 240), (255, 204, 128), (200, 230, 201)),
    bands=((230, 240, 255), (255, 235, 205), (255, 250, 240)),
    band_inks=((0, 0, 80), (70, 40, 0), (50, 50, 50)),
    screen_sizes=((1024, 768), (1280, 1024), (800, 1200), (1440, 900)),
    screen_themes=(
        ((40, 44, 52), (171, 178, 191), (33, 37, 43)),
        ((253, 246, 227), (88, 110, 117), (238, 232, 213)),
    ),
    screen_bars=((60, 63, 65), (0, 90, 158), (136, 57, 239), (235, 235, 235)),
)
