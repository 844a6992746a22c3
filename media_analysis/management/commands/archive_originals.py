"""Archive a land's originals (and make its missing thumbnails) after its analysis."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from lands.models import Land
from media_analysis.jobs import files


class Command(BaseCommand):
    help = (
        "Keep the original files of a land's analysed images in the medianalyse storage, downloading each content "
        "once through the analysis's fetch path and keeping it only if its SHA-256 is the one analysed (a file "
        "changed since is reported, not kept). With --thumbnails, also make the thumbnails images lack (analysed "
        "before thumbnails existed, or kept by a 304). Media holding their files are left alone: run it again at will."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--land-id", type=int, required=True)
        parser.add_argument("--thumbnails", action="store_true", help="Also make the missing thumbnails")
        parser.add_argument(
            "--no-originals", action="store_true", help="Only make the missing thumbnails (with --thumbnails)"
        )
        parser.add_argument("--concurrency", type=int, default=4, help="Downloads at once (default 4)")

    def handle(self, *args, **options) -> None:
        land_id = options["land_id"]
        if not Land.objects.filter(pk=land_id).exists():
            raise CommandError(f"No land with id {land_id}")
        if options["no_originals"] and not options["thumbnails"]:
            raise CommandError("--no-originals leaves nothing to do without --thumbnails")
        step = {"last": 0}

        def progress(done: int, total: int) -> None:
            if done == total or done - step["last"] >= max(1, total // 20):
                step["last"] = done
                self.stdout.write(f"{done}/{total} contents")

        report = files.archive_land(
            land_id,
            originals=not options["no_originals"],
            thumbnails=options["thumbnails"],
            concurrency=options["concurrency"],
            on_progress=progress,
        )
        for line in report.lines():
            self.stdout.write(line)
