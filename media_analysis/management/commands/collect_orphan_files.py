"""Remove the stored files no media references any more."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from media_analysis.jobs import files


class Command(BaseCommand):
    help = (
        "List the medianalyse storage (thumbnails and originals) and remove every file no media references, "
        "leaving those written within the grace period (an analysis running now may not have saved its row yet)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List what would be removed; remove nothing")
        parser.add_argument(
            "--grace-hours",
            type=float,
            default=None,
            help="Keep unreferenced files younger than this (default MEDIA_ANALYSIS_ORPHAN_GRACE_HOURS)",
        )

    def handle(self, *args, **options) -> None:
        dry_run = options["dry_run"]
        grace = timedelta(hours=options["grace_hours"]) if options["grace_hours"] is not None else None
        verbose = options["verbosity"] > 1 or dry_run
        report = files.collect_orphans(
            dry_run=dry_run, grace=grace, on_key=(lambda key: self.stdout.write(key)) if verbose else None
        )
        for line in report.lines(dry_run):
            self.stdout.write(line)
