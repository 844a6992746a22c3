"""A land holding one large cluster, written in bulk: the cluster pages' paging and drawn timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lands.models import AnalysisStatus, Domain, Expression, Land, Media
from media_analysis.clusters import compute
from media_analysis.models import ImageCluster
from tests.factories import make_land, stored_key


def build_big_cluster(size: int = 520, domains: int = 12, name: str | None = None) -> tuple[Land, ImageCluster]:
    """``size`` near-identical images (pHash one bit apart at most) on pages of ``domains`` sites.

    Every third page has a publication date, the others only a fetch date.
    """
    land = make_land(name)
    sites = [Domain.objects.create(name=f"big{land.pk}-{i}.example") for i in range(domains)]
    start = datetime(2021, 1, 1, tzinfo=UTC)
    pages = Expression.objects.bulk_create(
        Expression(
            land=land,
            domain=sites[i % domains],
            url=f"https://{sites[i % domains].name}/page-{i}",
            title=f"Page {i}",
            **(
                {"published_at": start + timedelta(days=i)} if i % 3 == 0 else {"fetched_at": start + timedelta(days=i)}
            ),
        )
        for i in range(size)
    )
    base = 0x9F3A5C7E1B2D4F60
    Media.objects.bulk_create(
        Media(
            expression=page,
            url=f"https://cdn{i % domains}.example/img-{land.pk}-{i}.jpg",
            type="img",
            analysis_status=AnalysisStatus.DONE,
            is_processed=True,
            analyzed_at=start,
            image_hash=f"{i:064x}",
            phash=f"{base ^ (1 << (i % 64)) if i % 2 else base:016x}",
            dhash=f"{base:016x}",
            width=100 + i,
            height=100,
            file_size=10_000 + i,
            format="JPEG",
            thumbnail_key=stored_key(f"big-{i}"),
        )
        for i, page in enumerate(pages)
    )
    compute.recluster_land(land.pk)
    return land, ImageCluster.objects.get(land=land)
