"""The second fresh OCR evaluation set, drawn from sources that no other set uses.

The first fresh set (``bench/_ocr_fresh.py``) was read once and then tuned on, with the halves of
``bench/ocr.py``: it no longer says how the engine reads text it has not seen. This set is drawn the
same way (the same kinds, text sizes and styles, by the drawing code of ``_ocr_fresh``) from other
sources:

* typefaces: Cantarell, Inter, Caladea, Cabin, Quicksand, Dosis, Andika, Linux Libertine and
  Biolinum, Hack and B612, from Debian's font packages (none is the system's default face, so the
  project's pages draw as before);
* photos: twelve photographs of Debian's ``lomiri-wallpapers-16.04`` and ``lomiri-wallpapers-20.04``
  (a bridge, a nuthatch on bark, a fig, paint brushes, dogs at a window, a bird under lamps, a stream,
  mountains, dandelions, hills in autumn, a dragonfly in a tree, a textured print);
* texts: the sentences of :data:`SENTENCES`, written for this set;
* its own ground and ink colours, canvas sizes, window colours and seed.

It is one evaluation, read once on the final engine: it is not split, and nothing is tuned on it.
"""

from __future__ import annotations

from bench._ocr_fresh import Design, Source, _fonts

SEED = "ocr-fresh2-2026-12-05"

_OPENTYPE, _TRUETYPE = "/usr/share/fonts/opentype", "/usr/share/fonts/truetype"
# Captions: regular, bold and black weights, serif and sans, rounded, condensed, mono and a school hand.
CAPTION_FONTS = (
    *_fonts("fonts-cantarell", f"{_OPENTYPE}/cantarell", ("Cantarell-Bold.otf", "Cantarell-ExtraBold.otf")),
    *_fonts("fonts-inter", f"{_OPENTYPE}/inter", ("Inter-Regular.otf", "Inter-Black.otf")),
    *_fonts("fonts-crosextra-caladea", f"{_TRUETYPE}/crosextra", ("Caladea-Regular.ttf", "Caladea-Bold.ttf")),
    *_fonts("fonts-cabin", f"{_OPENTYPE}/cabin", ("Cabin-Bold.otf",)),
    *_fonts("fonts-quicksand", f"{_TRUETYPE}/quicksand", ("Quicksand-Bold.ttf",)),
    *_fonts("fonts-dosis", f"{_OPENTYPE}/dosis", ("Dosis-ExtraBold.otf",)),
    *_fonts("fonts-sil-andika", f"{_TRUETYPE}/andika", ("Andika-Bold.ttf",)),
    *_fonts(
        "fonts-linuxlibertine",
        f"{_OPENTYPE}/linux-libertine",
        ("LinLibertine_R.otf", "LinLibertine_RB.otf", "LinBiolinum_RB.otf"),
    ),
    *_fonts("fonts-hack", f"{_TRUETYPE}/hack", ("Hack-Bold.ttf",)),
    *_fonts("fonts-b612", f"{_OPENTYPE}/b612", ("B612-Bold.otf",)),
)
# Screenshots: interface and document faces at reading weight.
SCREEN_FONTS = (
    *_fonts("fonts-cantarell", f"{_OPENTYPE}/cantarell", ("Cantarell-Regular.otf",)),
    *_fonts("fonts-inter", f"{_OPENTYPE}/inter", ("Inter-Regular.otf",)),
    *_fonts("fonts-crosextra-caladea", f"{_TRUETYPE}/crosextra", ("Caladea-Regular.ttf",)),
    *_fonts("fonts-cabin", f"{_OPENTYPE}/cabin", ("Cabin-Regular.otf",)),
    *_fonts("fonts-sil-andika", f"{_TRUETYPE}/andika", ("Andika-Regular.ttf",)),
    *_fonts("fonts-linuxlibertine", f"{_OPENTYPE}/linux-libertine", ("LinLibertine_R.otf",)),
    *_fonts("fonts-hack", f"{_TRUETYPE}/hack", ("Hack-Regular.ttf",)),
    *_fonts("fonts-b612", f"{_OPENTYPE}/b612", ("B612-Regular.otf",)),
)
# Photographs only: the packages' drawings and renderings are left out, and so are Wine (its bottle has a
# printed label) and sunset (an orientation table engraved with marks); each photo kept was looked at and
# shows no text.
PHOTOS = (
    *(
        Source(f"/usr/share/backgrounds/{name}.jpg", "lomiri-wallpapers-16.04")
        for name in (
            "Bridge_by_Sander_Klootwijk",
            "Dragonfly_by_Bolly",
            "Picture_0B_by_freespace",
            "Picture_1A_by_freespace",
            "aitzgorri_by_Aitzol_Berasategi",
            "analogpattern_by_Peter_Nerlich",
            "free_by_Peter_Nerlich",
            "friends_by_Aitzol_Berasategi",
            "life_by_Aitzol_Berasategi",
            "picosdeeuropa_by_Aitzol_Berasategi",
            "seeding_by_Clements_Engelhardt",
        )
    ),
    Source("/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg", "lomiri-wallpapers-20.04"),
)

# Written for this set; none is a sentence of the other sets, and none shares a run of three words with them.
SENTENCES = (
    # English
    "the lift is out of order today",
    "free soup for everyone this evening",
    "our rent went up twice this year",
    "keep calm and water the tomatoes",
    "the dog ate my sandwich again",
    "library closed for painting works",
    "vote yes for safer crossings",
    "who parked on the cycle path",
    "spring cleaning at the community garden",
    "my code compiles, nobody knows why",
    "the train was cancelled, as usual",
    "save our swimming pool",
    "quiet please, exams in progress",
    "fresh bread out of the oven at 7",
    "stop cutting the old oak trees",
    "lost cat answers to pickles",
    "the queue starts behind the bakery",
    "raise the minimum wage now",
    "sunday brunch is fully booked",
    "please return your trays",
    "this road floods every winter",
    "students march for their future",
    "the boss said it was urgent",
    "jazz night at the harbour on 14 june",
    "recycling goes out on thursday",
    "my weekend plans: nothing at all",
    "bring back the night buses",
    "the heatwave is not over yet",
    "we're out of oat milk",
    "neighbours against the new car park",
    "mind the gap between the platform",
    "coffee machine broken, send help",
    "trust me, I'm almost an expert",
    "clean beaches start with you",
    # French
    "la piscine rouvre enfin samedi",
    "non aux coupes dans l'éducation",
    "marché de noël sur la grand-place",
    "j'ai oublié mon parapluie, évidemment",
    "la cantine passe au bio",
    "travaux sur le pont jusqu'en février",
    "où se cache le soleil cet hiver",
    "grève générale jeudi à 14 h",
    "sœurs et frères, tous solidaires",
    "pas de réseau dans la vallée",
    "les loyers flambent, les salaires non",
    "brocante géante dimanche matin",
    "il pleut encore sur la côte",
    "les bibliothèques ne sont pas à vendre",
    "bientôt les vacances, courage",
    "rénovation de l'église du bourg",
    "mon réveil n'a pas sonné",
    "à bas la voiture en centre-ville",
    "goûter offert aux enfants du quartier",
    "la crèche manque de places",
    "fermé pour cause de chaleur",
    "c'est l'heure de l'apéro",
    "vélos volés près de la gare",
    "un arbre planté pour chaque naissance",
    "sauvons le cinéma de la place",
    "première neige sur les hauteurs",
    "le bus 12 ne passe plus par ici",
    "votez pour le budget participatif",
    "les abeilles disparaissent, agissons",
    "dîner dansant à la salle des fêtes",
    "ça suffit, les embouteillages",
    "hôtel de ville fermé lundi",
    "même le chat s'ennuie",
    "où sont les toilettes publiques",
)

FRESH2 = Design(
    name="fresh2",
    seed=SEED,
    caption_fonts=CAPTION_FONTS,
    screen_fonts=SCREEN_FONTS,
    photos=PHOTOS,
    sentences=SENTENCES,
    canvases=((1000, 1000), (1200, 630), (750, 750), (1080, 1350), (1024, 576), (640, 800)),
    plain_pairs=(  # ground, ink
        ((255, 255, 255), (0, 51, 102)),
        ((10, 10, 10), (240, 240, 240)),
        ((255, 87, 34), (255, 255, 255)),
        ((232, 245, 233), (27, 94, 32)),
        ((69, 39, 160), (255, 235, 238)),
        ((255, 249, 196), (62, 39, 35)),
    ),
    outline_fills=((255, 255, 255), (255, 241, 118), (178, 235, 242)),
    bands=((255, 255, 255), (245, 240, 225)),
    band_inks=((0, 0, 0), (0, 60, 30), (90, 0, 70)),
    screen_sizes=((1000, 700), (1200, 800), (720, 1000), (1366, 768)),
    screen_themes=(
        ((18, 18, 18), (235, 235, 235), (30, 30, 30)),
        ((255, 255, 255), (20, 20, 20), (243, 243, 238)),
    ),
    screen_bars=((30, 30, 30), (180, 40, 40), (20, 100, 180), (220, 220, 220)),
)
