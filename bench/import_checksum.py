"""Counts and a checksum of what ``import_mywi`` wrote, table by table, to compare two imports of one file.

    MEDIANALYSE_VAR_DIR=... [DATABASE_URL=...] .venv/bin/python bench/import_checksum.py

Reads the database the settings name (SQLite under MEDIANALYSE_VAR_DIR, or DATABASE_URL) and prints, for every
table the importer fills, its row count and a BLAKE2b of its rows in key order, every column but the times an
import takes from the clock (creation and refresh times). Two databases that imported the same file with two
versions of the importer print the same lines when the imported values are identical (the same database kind:
SQLite and PostgreSQL spell dates and JSON differently).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medianalyse_site.settings")

# Set by the import from the clock (a row without a legacy date takes the import's time).
CLOCK_COLUMNS = {"created_at", "refreshed_at"}


def main() -> None:
    import django

    django.setup()
    from django.apps import apps
    from django.db import connection

    names = ("Land", "LandAggregates", "Domain", "Expression", "ExpressionLink", "Tag", "TaggedContent", "Media")
    models = [apps.get_model("lands", name) for name in names]
    quote = connection.ops.quote_name
    for model in models:
        columns = [field.column for field in model._meta.concrete_fields if field.column not in CLOCK_COLUMNS]
        key = quote(model._meta.pk.column)
        digest = hashlib.blake2b(digest_size=16)
        count = 0
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(quote(column) for column in columns)} FROM {quote(model._meta.db_table)} "
                f"ORDER BY {key}"
            )
            while batch := cursor.fetchmany(5000):
                for row in batch:
                    digest.update(repr(row).encode("utf-8", "surrogatepass"))
                count += len(batch)
        print(f"{model._meta.db_table}: {count} rows, {digest.hexdigest()}")


if __name__ == "__main__":
    main()
