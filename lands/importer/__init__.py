"""Import of legacy MyWebIntelligence databases (the crawler's peewee/SQLite files).

``import_legacy_database`` copies lands, their pages (expressions), domains,
links, tags, tagged content and media into our models. It is idempotent: rows
are identified by natural keys (a land by name, a domain by name, a page by
land and URL, a media by page and URL...), so a second run creates nothing and
only rewrites values that changed in the legacy file. A media keeps a digest of
the legacy row it was imported from (``Media.legacy_digest``): importing again
skips the rows whose digest is unchanged without reading or comparing their
values, so a file that changed little costs little to import again.

Each land is imported in its own transaction: a failure leaves no half land.
The legacy file is opened read-only and checked (SQLite, not damaged, the
crawler's tables and columns) before anything is written. Rows are read in
batches; new pages, links, media and tagged passages are written in bulk
(``context.insert_rows``: COPY on PostgreSQL, one prepared INSERT on SQLite),
other new rows with bulk_create, changed ones with bulk_update; legacy ids are
mapped to ours in dicts, so the number of queries depends on the number of
batches, not of rows. The media of a large new land are read and normalised
by a forked process of their own while this one writes them
(``media._read_in_child``): the two take a core each.

Modules, in the order an import goes through them: ``source`` opens and
checks the file, ``run`` drives the import of each land, ``land``, ``pages``,
``media`` and ``tags`` import one group of tables each (with what they share
in ``context``), ``report`` counts what happened, ``values`` parses legacy
values. Names with a leading underscore are private to the package.
"""

from lands.importer.report import ImportReport, LandReport, ProgressCallback, ProgressUpdate, TableCounts
from lands.importer.run import BATCH_SIZE, import_legacy_database
from lands.importer.source import list_legacy_lands

__all__ = [
    "BATCH_SIZE",
    "ImportReport",
    "LandReport",
    "ProgressCallback",
    "ProgressUpdate",
    "TableCounts",
    "import_legacy_database",
    "list_legacy_lands",
]
