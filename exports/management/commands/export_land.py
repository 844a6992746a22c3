"""python manage.py export_land --land-id N --type TYPE [--minrel R] [--depth D] ..."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exports.services import EXPORT_TYPES, NODE_MODES, prepare_export
from lands.models import Land, MediaType
from media_analysis.errors import InvalidParameters


class Command(BaseCommand):
    help = "Export a land as CSV or GEXF (the crawler's export types, plus mediacsv and mediagexf)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--land-id", type=int, required=True, help="Primary key of the land")
        # Values are checked by the export service, so the command and the API say the same thing.
        parser.add_argument("--type", required=True, help=f"One of: {', '.join(EXPORT_TYPES)}")
        parser.add_argument("--minrel", help="Minimum page relevance (default 1, as in the crawler)")
        parser.add_argument("--depth", help="Maximum page depth (default: any)")
        parser.add_argument(
            "--media-types", help=f"Comma-separated, among {','.join(MediaType.values)} (media exports only)"
        )
        parser.add_argument("--nodes", help=f"mediagexf holder nodes: {' or '.join(NODE_MODES)} (default page)")
        parser.add_argument(
            "--merge-clusters", action="store_true", help="mediagexf: one node per near-duplicate cluster"
        )
        parser.add_argument(
            "--stale-values",
            action="store_true",
            help="mediacsv: also write the values kept from an earlier attempt of media whose latest attempt failed "
            "or is still to come (default: analysis values of current successes only)",
        )
        parser.add_argument(
            "--output",
            help="File to write, or an existing directory to write the default file name into "
            "(default: export_land_<land>_<type>_<YYYYmmdd_HHMMSS>.<ext> in the current directory)",
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
            )
        except InvalidParameters as error:
            raise CommandError(str(error)) from None

        target = Path(options["output"]) if options["output"] else Path.cwd() / export.filename
        if target.is_dir():
            target = target / export.filename
        if not target.parent.is_dir():
            raise CommandError(f"Directory {target.parent} does not exist")

        # Written beside the target and renamed at the end, so a failed export never
        # leaves a truncated file under the expected name.
        partial = target.with_name(target.name + ".part")
        try:
            with partial.open("wb") as stream:
                counts = export.write_to(stream)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

        edges = f" and {counts.edges} edges" if export.spec.extension == "gexf" else ""
        self.stdout.write(
            f"Exported {counts.records} records{edges} of land {land.name!r} ({export.spec.name}) to {target.resolve()}"
        )
