"""The admin's export form in a real browser: options ticked, files downloaded and read back.

Daphne serves the admin on the test database; Chromium (Playwright) selects a
land in the land list, runs the "Export" action, fills the form with options
and downloads the file the API streams. The media graph is read with networkx
(dynamic, failed media kept, every page), the dataset zip is unpacked and each
thumbnail its CSV names is found in it.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connections

from lands.models import AnalysisStatus, Land
from media_analysis.stored import save_thumbnail
from tests.exports.helpers import read_csv
from tests.factories import make_domain, make_expression, make_land, make_media
from tests.support.browser import save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-password-3"


@pytest.fixture(autouse=True)
def fast_password_hashing():
    """The server checks the password with the production hasher: keep it."""


@pytest.fixture
def land(transactional_db, settings, tmp_path) -> Land:
    """Two dated pages (one of relevance 0), three analysed images with stored thumbnails, one failed."""
    settings.STORAGES = {
        **settings.STORAGES,
        "medianalyse": {
            "BACKEND": "media_analysis.stored.ContentAddressedFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "var" / "stored")},  # the server's VAR_DIR (child_env)
        },
    }
    land = make_land("Circulation")
    early = make_expression(
        land, make_domain("early.example"), relevance=2, depth=0, published_at=datetime(2023, 5, 1, tzinfo=UTC)
    )
    late = make_expression(
        land, make_domain("late.example"), relevance=0, depth=1, fetched_at=datetime(2024, 2, 1, tzinfo=UTC)
    )
    done: dict[str, Any] = {"analysis_status": AnalysisStatus.DONE, "is_processed": True, "format": "JPEG", "width": 64}
    for index, (page, seed) in enumerate([(early, "shared"), (late, "shared"), (late, "own")]):
        sha = hashlib.sha256(seed.encode()).hexdigest()
        key = save_thumbnail(sha, f"thumbnail of {seed}".encode() * 50, size=320, extension="jpg")
        make_media(page, f"https://cdn.example/{seed}-{index}.jpg", image_hash=sha, thumbnail_key=key, **done)
    make_media(
        late,
        "https://late.example/error-page.jpg",
        analysis_status=AnalysisStatus.FAILED,
        is_processed=True,
        error_class="not_an_image",
    )
    return land


def test_export_form_with_options_downloads_what_was_asked(
    land,
    server,
    browser,
    tmp_path,
):
    try:
        export_in_browser(land, server, browser, tmp_path)
    finally:
        connections.close_all()


def open_export_form(page, base: str, land: Land) -> None:
    page.goto(f"{base}/admin/lands/land/")
    page.check(f'input[name="_selected_action"][value="{land.pk}"]')
    page.select_option('select[name="action"]', "export_land_action")
    page.click('button[name="index"]')
    page.wait_for_selector("#id_type")


def download(page, folder: Path, name: str) -> bytes:
    with page.expect_download() as started:
        page.click('input[name="apply"]')
    path = folder / name
    started.value.save_as(path)
    assert started.value.failure() is None
    return path.read_bytes()


def export_in_browser(land: Land, base: str, chromium, tmp_path: Path) -> None:
    hasher = PBKDF2PasswordHasher()
    admin = get_user_model().objects.create_superuser("exporter", "exporter@example.org", None)
    admin.password = hasher.encode(PASSWORD, hasher.salt())
    admin.save(update_fields=["password"])
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "exporter")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()

    # The media graph: every page (minimum relevance left empty), failed media kept, dynamic, by domain.
    open_export_form(page, base, land)
    assert page.locator("#id_type option[value=archive]").inner_text().startswith("Media dataset (zip)")
    page.select_option("#id_type", "mediagexf")
    page.fill("#id_minrel", "")
    page.select_option("#id_nodes", "domain")
    page.check("#id_include_failed")
    page.check("#id_dynamic")
    save_screenshot(page, "export-form.png")
    graph = nx.read_gexf(io.BytesIO(download(page, tmp_path, "graph.gexf")), version="1.3")
    assert graph.graph["mode"] == "dynamic"
    domains = {data["label"]: node for node, data in graph.nodes(data=True) if data.get("kind") == "domain"}
    # late.example's page has relevance 0: there because the form asked for every page.
    assert set(domains) == {"early.example", "late.example"}
    assert graph.nodes[domains["early.example"]]["start"] == "2023-05-01"
    assert graph.nodes[domains["late.example"]]["start"] == "2024-02-01"
    statuses = {data.get("status") for data in graph.nodes.values() if data.get("kind") == "media"}
    assert "failed" in statuses
    shared = "sha256-" + hashlib.sha256(b"shared").hexdigest()
    assert graph.nodes[shared]["start"] == "2023-05-01"

    # The dataset: a zip whose CSV names thumbnails that are in it.
    open_export_form(page, base, land)
    page.select_option("#id_type", "archive")
    page.fill("#id_minrel", "")
    archive = zipfile.ZipFile(io.BytesIO(download(page, tmp_path, "dataset.zip")))
    assert archive.testzip() is None
    header, rows = read_csv(archive.read("media.csv"))
    records = [dict(zip(header, row, strict=True)) for row in rows]
    assert len(records) == 4
    keys = {record["thumbnail_key"] for record in records if record["thumbnail_key"]}
    assert len(keys) == 2
    for record in records:
        if record["thumbnail_key"]:
            assert record["thumbnail_file"].startswith(record["image_hash"])
            assert archive.read(record["thumbnail_key"]).startswith(b"thumbnail of ")
    assert "media.csv" in archive.read("README.txt").decode()
    context.close()
