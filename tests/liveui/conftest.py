"""Users with the three levels of access the admin pages distinguish, and a small land."""

from __future__ import annotations

from typing import Any

import pytest

from lands.models import AnalysisStatus, Land
from media_analysis.engine.version import ANALYSIS_VERSION
from tests.factories import CORPUS_READER, make_expression, make_land, make_media, make_staff, stored_key
from tests.support.browser import browser, server, static_root  # noqa: F401 (fixtures of the browser tests)


@pytest.fixture
def viewer(db):
    """Staff who may read lands, media and jobs, without the run_analysis permission: may look, not act."""
    return make_staff("viewer", *CORPUS_READER, "media_analysis.view_analysisjob")


@pytest.fixture
def runner(db):
    """Staff who may read the corpus and holds media_analysis.run_analysis (not a superuser)."""
    return make_staff("runner", *CORPUS_READER, "media_analysis.run_analysis")


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def land(db) -> Land:
    """Six media: four analysed (JPEG x3, PNG), one failed, one pending."""
    land = make_land("Oceans")
    page = make_expression(land, depth=0, relevance=3)
    other = make_expression(land, depth=2, relevance=1)
    done: dict[str, Any] = {
        "analysis_status": AnalysisStatus.DONE,
        "is_processed": True,
        "analysis_version": ANALYSIS_VERSION,
    }
    make_media(
        page,
        format="JPEG",
        width=640,
        height=480,
        file_size=60_000,
        is_conforming=True,
        dominant_colors=[{"rgb": [255, 0, 0], "hex": "#ff0000", "percentage": 60.0}],
        websafe_colors={"#ff0000": 60.0, "#0000ff": 40.0},
        thumbnail_key=stored_key("oceans jpeg"),
        **done,
    )
    make_media(
        page,
        format="JPEG",
        width=1024,
        height=768,
        file_size=300_000,
        is_conforming=True,
        websafe_colors={"#ff0000": 100.0},
        **done,
    )
    make_media(
        other, format="JPEG", width=150, height=90, file_size=5_000, is_conforming=False, websafe_colors={}, **done
    )
    make_media(other, format="PNG", width=300, height=300, file_size=20_000, is_conforming=True, **done)
    make_media(
        other,
        analysis_status=AnalysisStatus.FAILED,
        is_processed=True,
        error_class="timeout",
        analysis_error="read timed out after 15 s",
    )
    make_media(page)
    return land
