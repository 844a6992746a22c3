"""Import of legacy MyWebIntelligence databases (the crawler's peewee/SQLite files)."""

from lands.importer.run import (
    BATCH_SIZE,
    ImportReport,
    LandReport,
    ProgressCallback,
    ProgressUpdate,
    TableCounts,
    import_legacy_database,
    list_legacy_lands,
)

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
