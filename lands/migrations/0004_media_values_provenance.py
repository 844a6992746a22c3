"""Existing media: the status of the latest attempt, and where their stored values come from.

Before this migration a failure after an earlier success kept ``done``, the
importer marked ``done`` any crawler row with a date and no error, and nothing
recorded which analysis computed the values. This maps existing rows to the
new rule, as closely as the stored columns allow:

* ``done`` with an error recorded (``error_class``): the latest attempt failed,
  so ``failed``; the values stay.
* ``done`` never attempted here (``attempts`` 0, so imported) without a real
  result (width and height above 0 and a format or MIME type): ``pending``, so
  the next job analyses it; the crawler's values stay.
* ``analysis_version``: 1 (this engine before imagehash) for values that a
  successful attempt here wrote, 0 for the crawler's values; none when the row
  holds no value.
* ``values_at``: ``analyzed_at``.

Approximations: which analysis wrote the values of a row that failed here after
an import is inferred (values are taken as ours when the row also holds a
perceptual hash, which the crawler never computed), and ``values_at`` of a row
whose latest attempt failed is the date of that failure, later than the values
themselves, because the date of the earlier success was not kept.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import F, Q

# Frozen here: the versions as they were when this migration was written.
CRAWLER_VERSION = 0
ENGINE_BEFORE_IMAGEHASH = 1

_VALUE_FIELDS = (
    "width",
    "height",
    "file_size",
    "format",
    "color_mode",
    "image_hash",
    "phash",
    "dhash",
    "ahash",
    "colorhash",
    "dominant_colors",
    "websafe_colors",
    "exif_data",
    "duration",
)
_HASH_FIELDS = ("phash", "dhash", "ahash", "colorhash")


def _any_not_null(names: tuple[str, ...]) -> Q:
    q = Q()
    for name in names:
        q |= Q(**{f"{name}__isnull": False})
    return q


def record_values_provenance(apps: Any, schema_editor: Any) -> None:
    Media = apps.get_model("lands", "Media")
    holds_values = _any_not_null(_VALUE_FIELDS)
    succeeded_here = Q(attempts__gt=0) & (
        (Q(analysis_status="done") & Q(error_class__isnull=True)) | _any_not_null(_HASH_FIELDS)
    )
    # Provenance first: it reads the statuses as they were.
    Media.objects.filter(holds_values & succeeded_here).update(
        analysis_version=ENGINE_BEFORE_IMAGEHASH, values_at=F("analyzed_at")
    )
    Media.objects.filter(holds_values & ~succeeded_here).update(
        analysis_version=CRAWLER_VERSION, values_at=F("analyzed_at")
    )
    Media.objects.filter(analysis_status="done", error_class__isnull=False).update(analysis_status="failed")
    real_result = (
        Q(width__gt=0) & Q(height__gt=0) & (Q(format__isnull=False) & ~Q(format="") | Q(mime_type__isnull=False))
    )
    Media.objects.filter(Q(analysis_status="done", attempts=0) & ~real_result).update(
        analysis_status="pending", is_processed=False
    )


class Migration(migrations.Migration):
    dependencies = [
        ("lands", "0003_media_analysis_version"),
    ]

    operations = [
        migrations.RunPython(record_values_provenance, migrations.RunPython.noop),
    ]
