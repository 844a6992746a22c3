"""Word search, a land's frequent words and the text exports on a land of N media whose pictures carry text.

Builds, with bulk inserts, one land of N media (bench/pages.py's land: 10 per page,
400 sites) where a share of the pictures (``--with-text``) carry a text of 8 to 24
words drawn from a Zipf-like vocabulary of 20,000 words, with their stored words;
and 20 small lands. SQLite in a temporary MEDIANALYSE_VAR_DIR, or the PostgreSQL
database of DATABASE_URL when it is set (its tables are emptied first: give it a
scratch database). Then times the requests a researcher makes in the gallery, the
admin list and the API, by words and by quoted phrases (median of ``--repeat`` after a
warm-up), the queries each costs, and the text exports (``--no-exports`` leaves them).

    .venv/bin/python bench/text_search.py [--media 200000] [--with-text 0.3] [--repeat 5] [--keep DIR] [--no-exports]

``--keep DIR`` keeps the SQLite database in DIR (on PostgreSQL: leaves the tables as
they are) and measures again without building when it already holds the land.

docs/benchmarks/text_search.md keeps the results.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pages import BATCH, SITES, SMALL_LANDS, build_land, time_request  # noqa: E402

VOCABULARY = 20_000


def vocabulary_word(rank: int) -> str:
    """A distinct pronounceable word per rank (letters only, as OCR reads a caption)."""
    syllables = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "fi")
    letters = []
    rank += 1
    while rank:
        rank, digit = divmod(rank, len(syllables))
        letters.append(syllables[digit])
    return "".join(letters)


def add_texts(land_id: int, share: float, seed: int = 5) -> tuple[int, int]:
    """Texts (and their stored words) on ``share`` of the land's media: (texts, word rows) written."""
    from lands.models import Media
    from media_analysis.engine.text.words import words
    from media_analysis.models import MediaText, MediaWord

    rng = random.Random(seed)
    ranks = list(range(VOCABULARY))
    weights = [1 / (rank + 1) for rank in ranks]  # Zipf: a few words everywhere, most words rare
    ids = list(Media.objects.of_land(land_id).order_by("pk").values_list("pk", flat=True))
    chosen = [media_id for media_id in ids if rng.random() < share]
    texts = rows = 0
    for start in range(0, len(chosen), BATCH):
        records: list[MediaText] = []
        word_rows: list[MediaWord] = []
        for media_id in chosen[start : start + BATCH]:
            drawn = rng.choices(ranks, weights, k=rng.randint(8, 24))
            text = " ".join(vocabulary_word(rank) for rank in drawn).capitalize()
            records.append(MediaText(media_id=media_id, status="text", text=text, language="eng", confidence=90.0))
            word_rows.extend(MediaWord(media_id=media_id, word=w, count=n) for w, n in words(text).items())
        MediaText.objects.bulk_create(records)
        MediaWord.objects.bulk_create(word_rows, batch_size=BATCH)
        texts += len(records)
        rows += len(word_rows)
    return texts, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=int, default=200_000, help="media of the large land")
    parser.add_argument("--with-text", type=float, default=0.3, help="share of its media whose picture has text")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="keep the database (SQLite: in this folder) and reuse it")
    parser.add_argument("--no-exports", action="store_true", help="time the requests only")
    args = parser.parse_args()

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="medianalyse-bench-text-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.pop("REDIS_URL", None)
    os.environ.update(
        MEDIANALYSE_VAR_DIR=str(workdir), DJANGO_SETTINGS_MODULE="medianalyse_site.settings", DJANGO_DEBUG="0"
    )
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch database, nothing signed
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.urls import reverse

    from exports.services import prepare_export
    from lands.aggregates import refresh_land_aggregates
    from lands.models import Domain, Land, Media
    from media_analysis.models import MediaWord

    call_command("migrate", verbosity=0)
    reuse = args.keep is not None and Land.objects.filter(name="large").exists()
    if connection.vendor == "postgresql" and not reuse:
        call_command("flush", interactive=False, verbosity=0)
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.MEDIANALYSE_REQUEST_STATEMENT_TIMEOUT = 0  # measure, do not cut
    print(f"{connection.vendor}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.media:,} media")
    try:
        if reuse:
            land_id = Land.objects.get(name="large").pk
            print(f"<!-- reused: {Media.objects.of_land(land_id).count():,} media -->")
        else:
            started = time.perf_counter()
            domains = Domain.objects.bulk_create(Domain(name=f"site{i}.bench.invalid") for i in range(SITES))
            land_id = build_land("large", args.media, domains)
            texts, rows = add_texts(land_id, args.with_text)
            for index in range(SMALL_LANDS):
                small = build_land(f"small-{index:02d}", 200 + 50 * index, domains, seed=index)
                add_texts(small, args.with_text, seed=index)
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("VACUUM ANALYZE")
            for land in Land.objects.all():
                refresh_land_aggregates(land.pk)
            print(f"<!-- built in {time.perf_counter() - started:.1f} s: {texts:,} texts, {rows:,} word rows -->")
        get_user_model().objects.filter(username="bench").delete()

        per_word = (
            MediaWord.objects.filter(media__expression__land_id=land_id)
            .values("word")
            .annotate(n=Count("id"))
            .values_list("word", "n")
        )
        counts = Counter(dict(per_word))
        ranked = [word for word, _ in counts.most_common()]
        common, second, middling, rare = ranked[0], ranked[1], ranked[len(ranked) // 10], ranked[-1]
        print(
            f"<!-- words searched: common {common!r} in {counts[common]:,} pictures, middling {middling!r} in "
            f"{counts[middling]:,}, rare {rare!r} in {counts[rare]:,}; second most common {second!r} in "
            f"{counts[second]:,} -->"
        )

        user = get_user_model().objects.create_superuser("bench", "bench@bench.invalid", "bench")
        client = Client()
        client.force_login(user)
        gallery = reverse("medianalyse:land-gallery", args=[land_id])
        api = reverse("media-list")
        phrase, phrase_middling = f'"{common} {second}"', f'"{common} {middling}"'
        media_list = reverse("admin:lands_media_changelist") + f"?expression__land__id__exact={land_id}&"
        steps = [
            ("gallery, no search", gallery),
            *(
                (f"gallery, {label} word", f"{gallery}?{urlencode({'text': word})}")
                for label, word in (("common", common), ("middling", middling), ("rare", rare))
            ),
            ("gallery, two words (common + middling)", f"{gallery}?{urlencode({'text': f'{common} {middling}'})}"),
            ("gallery, a word no picture has", f"{gallery}?text=absentword"),
            ("gallery, two most common words", f"{gallery}?{urlencode({'text': f'{common} {second}'})}"),
            ("gallery, phrase of the two most common words", f"{gallery}?{urlencode({'text': phrase})}"),
            ("gallery, phrase common + middling", f"{gallery}?{urlencode({'text': phrase_middling})}"),
            ("media list of the land (admin), middling word", media_list + urlencode({"text": middling})),
            ("land analysis page (frequent words and phrases)", reverse("medianalyse:land-analysis", args=[land_id])),
            ("API media of the land, no search", f"{api}?land={land_id}"),
            *(
                (f"API media of the land, {label}", f"{api}?{urlencode({'land': land_id, 'text': text})}")
                for label, text in (
                    ("common word", common),
                    ("middling word", middling),
                    ("rare word", rare),
                    ("phrase of the two most common words", phrase),
                )
            ),
            ("API all media, middling word", f"{api}?{urlencode({'text': middling})}"),
            ("API all media, phrase of the two most common words", f"{api}?{urlencode({'text': phrase})}"),
        ]
        print()
        print("| request | status | queries | median s | CPU s of this process |")
        print("|---|---:|---:|---:|---:|")
        for label, url in steps:
            # The process's CPU time per request (the mean over the warm-up and the runs) says what the request
            # costs whatever the load: all of it on SQLite, only the Python side on PostgreSQL.
            cpu_started = time.process_time()
            seconds, status, queries = time_request(client, url, args.repeat)
            cpu = (time.process_time() - cpu_started) / (args.repeat + 1)
            print(f"| {label} | {status} | {queries} | {seconds:.3f} | {cpu:.3f} |", flush=True)

        if args.no_exports:
            return
        land = Land.objects.get(pk=land_id)
        print()
        print("| export | records | edges | s |")
        print("|---|---:|---:|---:|")
        for export_type, params in (("textcsv", {}), ("textgexf", {}), ("textgexf", {"merge_clusters": True})):
            export = prepare_export(land, export_type, minrel="all", **params)
            started = time.perf_counter()
            size = sum(len(chunk) for chunk in export.chunks())
            label = export_type + (" merge_clusters" if params else "")
            print(
                f"| {label} ({size / 1e6:.0f} MB) | {export.counts.records:,} | {export.counts.edges:,} | "
                f"{time.perf_counter() - started:.1f} |",
                flush=True,
            )
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
