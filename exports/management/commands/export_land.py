"""python manage.py export_land --land-id N --type TYPE [--minrel R] [--depth D] ..."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exports.destinations import DestinationRefused, resolve_destination, write_to
from exports.services import EXPORT_TYPES, NODE_MODES, prepare_export
from lands.models import Land, MediaType
from media_analysis.errors import InvalidParameters


class Command(BaseCommand):
    help = (
        "Export a land as CSV or GEXF (the crawler's export types, plus mediacsv, mediagexf and clustercsv), "
        "or as a zip dataset (archive: mediacsv and the stored thumbnails)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--land-id", type=int, required=True, help="Primary key of the land")
        # Values are checked by the export service, so the command and the API say the same thing.
        parser.add_argument("--type", required=True, help=f"One of: {', '.join(EXPORT_TYPES)}")
        parser.add_argument(
            "--minrel", help="Minimum page relevance (default 1, as in the crawler), or all: every page, scored or not"
        )
        parser.add_argument("--depth", help="Maximum page depth (default: any)")
        parser.add_argument(
            "--media-types", help=f"Comma-separated, among {','.join(MediaType.values)} (media exports only)"
        )
        parser.add_argument("--nodes", help=f"mediagexf holder nodes: {' or '.join(NODE_MODES)} (default page)")
        parser.add_argument(
            "--merge-clusters", action="store_true", help="mediagexf, textgexf: one node per near-duplicate cluster"
        )
        parser.add_argument(
            "--stale-values",
            action="store_true",
            help="mediacsv: also write the values kept from an earlier attempt of media whose latest attempt failed "
            "or is still to come (default: analysis values of current successes only)",
        )
        parser.add_argument(
            "--raw",
            action="store_true",
            help="CSV: write text as stored, even cells a spreadsheet would run as formulas (for scripts)",
        )
        parser.add_argument(
            "--dates",
            action="store_true",
            help="pagecsv, fullpagecsv, pagegexf: append the page's published_at and fetched_at after the crawler's "
            "columns",
        )
        parser.add_argument(
            "--include-failed",
            action="store_true",
            help="mediagexf: keep the media whose latest attempt failed (default: left out)",
        )
        parser.add_argument(
            "--dynamic",
            action="store_true",
            help="mediagexf: a dynamic graph whose nodes and edges start at their first appearance (Gephi's timeline)",
        )
        parser.add_argument(
            "--output",
            help="File to write (replaced at the end), an existing directory to write the default file name into, "
            "a FIFO or character device to write into as given, or - for standard output "
            "(default: export_land_<land>_<type>_<YYYYmmdd_HHMMSS>.<csv|gexf|zip> in the current directory)",
        )

    def handle(self, *args, **options) -> None:
        try:
            land = Land.objects.get(pk=options["land_id"])
        except Land.DoesNotExist:
            raise CommandError(f"Land {options['land_id']} does not exist") from None
        try:
            export = prepare_export(
                land,
                options["type"],
                minrel=options["minrel"],
                depth=options["depth"],
                media_types=options["media_types"],
                merge_clusters=options["merge_clusters"],
                nodes=options["nodes"],
                stale_values=options["stale_values"],
                raw=options["raw"],
                dates=options["dates"],
                include_failed=options["include_failed"],
                dynamic=options["dynamic"],
            )
        except InvalidParameters as error:
            raise CommandError(str(error)) from None

        try:
            destination = resolve_destination(options["output"], export.filename, Path.cwd())
        except (DestinationRefused, OSError) as error:
            raise CommandError(str(error)) from None
        try:
            counts = write_to(destination, export.write_to)
        except OSError as error:
            raise CommandError(f"Cannot write {destination.describe()}: {error.strerror or error}") from None

        edges = f" and {counts.edges} edges" if export.spec.extension == "gexf" else ""
        if export.spec.extension == "zip":
            edges = f" and {counts.files} stored files" + (f" ({counts.missing} missing)" if counts.missing else "")
        summary = (
            f"Exported {counts.records} records{edges} of land {land.name!r} ({export.spec.name}) "
            f"to {destination.describe()}"
        )
        # On the standard output the export itself is the output; the summary must not follow it there.
        (self.stderr if destination.is_stdout else self.stdout).write(summary, style_func=str)
