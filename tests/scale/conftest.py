"""A land of 50,000 media built with bulk inserts, and two small lands beside it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import connection

from lands.models import AnalysisStatus, Domain, Expression, Land, Media

BIG_PAGES = 5_000
MEDIA_PER_PAGE = 10
BATCH = 5_000


@dataclass
class ScaleCorpus:
    big: Land
    small: Land
    tiny: Land


def fill_land(land: Land, pages: int, media_per_page: int, domains: list[Domain]) -> None:
    expressions = Expression.objects.bulk_create(
        Expression(land=land, domain=domains[i % len(domains)], url=f"https://{land.name}.test/{i}", depth=i % 3)
        for i in range(pages)
    )
    statuses = (AnalysisStatus.DONE, AnalysisStatus.DONE, AnalysisStatus.FAILED, AnalysisStatus.PENDING)
    rows = (
        Media(
            expression=page,
            url=f"https://cdn.test/{land.name}/{page.pk}/{index}.jpg",
            analysis_status=statuses[index % len(statuses)],
            format="JPEG" if index % 2 else "PNG",
            width=100 * (index + 1),
            height=80 * (index + 1),
            file_size=1_000 * (index + 1),
            websafe_colors={"#336699": 60.0, "#ffffff": 40.0},
        )
        for page in expressions
        for index in range(media_per_page)
    )
    Media.objects.bulk_create(rows, batch_size=BATCH)


@pytest.fixture(scope="package")
def _scale_rows(django_db_setup, django_db_blocker) -> Iterator[ScaleCorpus]:
    # Built once for this folder, outside the tests' transactions (each test's own writes roll back), and
    # removed at the end so that other modules see an empty database.
    with django_db_blocker.unblock():
        domains = Domain.objects.bulk_create(Domain(name=f"site{i}.scale.test") for i in range(40))
        big = Land.objects.create(name="Big", lang="fr")
        small = Land.objects.create(name="Small", lang="en")
        tiny = Land.objects.create(name="Tiny", lang="de")
        fill_land(big, BIG_PAGES, MEDIA_PER_PAGE, domains)
        fill_land(small, 30, 3, domains)
        fill_land(tiny, 2, 7, domains)
        if connection.vendor == "postgresql":
            # Statistics as a production database has them: bulk-inserted tables are not analysed yet, and the
            # planner's guesses for them vary with when autovacuum last passed.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE lands_media, lands_expression, lands_land, lands_domain")
    yield ScaleCorpus(big, small, tiny)
    with django_db_blocker.unblock():
        Land.objects.filter(pk__in=[big.pk, small.pk, tiny.pk]).delete()
        Domain.objects.filter(pk__in=[domain.pk for domain in domains]).delete()


@pytest.fixture
def scale_corpus(_scale_rows, db) -> ScaleCorpus:
    return _scale_rows
