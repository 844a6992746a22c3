"""Huey task that keeps a land's near-duplicate clusters up to date (see media_analysis.clusters).

Enqueued once an analysis job of the land has completed. Idempotent: running it
twice, or after a newer run, changes nothing.
"""

from __future__ import annotations

import logging

from huey.contrib.djhuey import db_task

from lands.models import Land
from media_analysis import clusters

logger = logging.getLogger("medianalyse.tasks")


@db_task()
def cluster_land_task(land_id: int, media_ids: list[int] | None = None) -> None:
    """Cluster the given media of the land, or (None) those analysed since its last clustering run."""
    try:
        clusters.cluster_land(land_id, media_ids)
    except Land.DoesNotExist:
        # The land was deleted after the job ended: nothing left to cluster.
        logger.info("land %s no longer exists; clustering skipped", land_id)
