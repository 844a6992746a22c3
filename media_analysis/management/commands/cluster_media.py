"""Cluster a land's images into near-duplicates, in the foreground."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from lands.models import Land
from media_analysis import clusters


class Command(BaseCommand):
    help = (
        "Group a land's analysed images into near-duplicate clusters. By default only the images analysed since "
        "the land's last clustering run are added (the first run is complete); --full recomputes the whole land."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--land-id", type=int, required=True)
        parser.add_argument("--full", action="store_true", help="Recompute every cluster of the land from its hashes")

    def handle(self, *args, **options) -> None:
        try:
            report = clusters.cluster_land(options["land_id"], full=options["full"])
        except Land.DoesNotExist:
            raise CommandError(f"No land with id {options['land_id']}") from None
        for line in report.lines():
            self.stdout.write(line)
