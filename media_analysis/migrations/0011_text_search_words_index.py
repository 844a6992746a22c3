"""PostgreSQL's full-text index on the words of the text, as the word rule reads them.

The index of migration 0010 parsed the text as it is, and PostgreSQL's parser reads some
strings whole ("www.example.org", "3.14", "red.car"), so a word inside them was found on
SQLite (the stored words) and not on PostgreSQL. The document is now parsed with every
character that is not a letter or a digit made a space (``models.TEXT_DOCUMENT``); this
replaces the index with one on that document. Other databases get nothing here.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations, models

OLD_NAME = "mediatext_text_search"
NAME = "mediatext_words_search"


def _old_index() -> GinIndex:
    return GinIndex(SearchVector("text", config="simple"), name=OLD_NAME)


def _index() -> GinIndex:
    # Written out rather than imported from the model: a migration keeps the expression it was made with.
    words = models.Func(
        models.F("text"),
        models.Value(r"(\W|_)+"),
        models.Value(" "),
        models.Value("g"),
        function="regexp_replace",
        output_field=models.TextField(),
    )
    return GinIndex(SearchVector(words, config="simple"), name=NAME)


def replace_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        model = apps.get_model("media_analysis", "MediaText")
        schema_editor.add_index(model, _index())
        schema_editor.remove_index(model, _old_index())


def restore_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        model = apps.get_model("media_analysis", "MediaText")
        schema_editor.add_index(model, _old_index())
        schema_editor.remove_index(model, _index())


class Migration(migrations.Migration):
    dependencies = [
        ("media_analysis", "0010_text_search_index"),
    ]

    operations = [
        migrations.RunPython(replace_index, restore_index, elidable=False),
    ]
