"""The importer's bulk path writes what bulk_create would write, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.forms.models import model_to_dict

from lands.importer.context import insert_rows
from lands.importer.values import JsonText
from lands.models import AnalysisStatus, Media
from tests.factories import make_expression, make_land

pytestmark = pytest.mark.django_db

VALUES = [
    {
        "url": "https://cdn.example/a.jpg",
        "type": "img",
        "width": 640,
        "height": 480,
        "file_size": 2**40,
        "format": "JPEG",
        "has_transparency": False,
        "aspect_ratio": 1.3333,
        "dominant_colors": [{"rgb": [1, 2, 3], "hex": "#010203", "percentage": 41.5}],
        "websafe_colors": {"#003333": 58.5},
        "exif_data": {"Make": "Canon", "ImageWidth": 640, "Note": "quote ' and \" and é"},
        "content_tags": [],
        "analyzed_at": datetime(2024, 3, 3, 9, 15, 0, 500000, tzinfo=UTC),
        "values_at": datetime(2024, 3, 3, 9, 15, tzinfo=UTC),
        "analysis_status": AnalysisStatus.DONE,
        "is_processed": True,
    },
    # Left to the defaults; JSON columns given None stay SQL NULL, not JSON null.
    {"url": "https://cdn.example/b.gif", "dominant_colors": None, "exif_data": None},
]


def test_rows_written_in_bulk_read_back_as_bulk_create_writes_them():
    land = make_land()
    bulk_page, fast_page = make_expression(land), make_expression(land)
    Media.objects.bulk_create(Media(expression=bulk_page, **values) for values in VALUES)
    insert_rows(Media, [{"expression_id": fast_page.pk, **values} for values in VALUES])

    def stored(page):
        rows = []
        for media in Media.objects.filter(expression=page).order_by("url"):
            row = model_to_dict(media)
            del row["id"], row["expression"]
            rows.append(row)
        return rows

    assert stored(fast_page) == stored(bulk_page)
    assert len(stored(fast_page)) == 2
    assert Media.objects.filter(expression=fast_page, exif_data__isnull=True).count() == 1


def test_json_text_is_stored_as_the_value_it_spells():
    """The importer's ready JSON text (``JsonText``) reads back as the Python value written by bulk_create."""
    land = make_land()
    bulk_page, text_page = make_expression(land), make_expression(land)
    colours = [{"rgb": [201, 180, 141], "hex": "#c9b48d", "percentage": 41.5}, {"rgb": [0, 0, 0], "hex": "#000000",
               "percentage": -0.0}]  # fmt: skip
    websafe = {"#003333": 58.5, "#cccc99": 41.5}
    Media.objects.create(expression=bulk_page, url="u", dominant_colors=colours, websafe_colors=websafe)
    insert_rows(
        Media,
        [
            {
                "expression_id": text_page.pk,
                "url": "u",
                "dominant_colors": JsonText(json.dumps(colours)),
                "websafe_colors": JsonText(json.dumps(websafe)),
            }
        ],
    )
    bulk, text = Media.objects.get(expression=bulk_page), Media.objects.get(expression=text_page)
    assert (
        (text.dominant_colors, text.websafe_colors)
        == (bulk.dominant_colors, bulk.websafe_colors)
        == (
            colours,
            websafe,
        )
    )
    assert list(text.websafe_colors) == ["#003333", "#cccc99"]
    # Stored as JSON, not as a JSON string holding it.
    assert Media.objects.filter(expression=text_page, websafe_colors__has_key="#003333").exists()
