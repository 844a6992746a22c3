"""PostgreSQL's full-text index on the text read in pictures.

A GIN index on the very document ``MediaTextQuerySet.matching_all`` searches
(``models.TEXT_DOCUMENT``, the "simple" configuration), so that a word is found
from the index rather than by reading every text. Other databases search the
stored words (``MediaWord``) and get nothing here. The index is not declared on
the model, whose state must stay valid on every database.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

INDEX_NAME = "mediatext_text_search"


def _index() -> GinIndex:
    # Written out rather than imported from the model: a migration keeps the expression it was made with.
    return GinIndex(SearchVector("text", config="simple"), name=INDEX_NAME)


def add_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("media_analysis", "MediaText"), _index())


def remove_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("media_analysis", "MediaText"), _index())


class Migration(migrations.Migration):
    dependencies = [
        ("media_analysis", "0009_ocr_text"),
    ]

    operations = [
        migrations.RunPython(add_index, remove_index, elidable=False),
    ]
