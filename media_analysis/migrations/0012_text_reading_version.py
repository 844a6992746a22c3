from django.db import migrations, models


class Migration(migrations.Migration):
    """The version of the OCR step on each reading; the readings made before it was recorded are version 1."""

    dependencies = [
        ("media_analysis", "0011_text_search_words_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="mediatext",
            name="version",
            field=models.PositiveSmallIntegerField(
                default=1,
                help_text=(
                    "Version of the OCR step that read it (TEXT_VERSION); older readings are read again by a job "
                    "with OCR"
                ),
            ),
            preserve_default=False,
        ),
    ]
