"""Originals archived (at analysis time and afterwards), missing thumbnails made, orphan files collected."""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from PIL import Image

from lands.models import AnalysisStatus, Land, Media
from media_analysis import stored
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.jobs import files
from media_analysis.jobs.batch import analyse_media
from media_analysis.stored import media_storage, original_key, save_original, save_thumbnail, thumbnail_key
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply

FILE_SYSTEM = "media_analysis.stored.ContentAddressedFileSystemStorage"


@pytest.fixture
def storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "medianalyse": {"BACKEND": FILE_SYSTEM, "OPTIONS": {"location": str(tmp_path / "stored")}},
    }
    return media_storage()


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (400, 300)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read(key: str) -> bytes:
    with media_storage().open(key) as handle:
        return handle.read()


# --- Keys ----------------------------------------------------------------------------------------


def test_original_keys_are_content_addressed_and_checked(storage):
    data = jpeg((10, 20, 30))
    key = save_original(data, "image/jpeg")
    assert key == f"originals/{sha(data)[:2]}/{sha(data)[2:4]}/{sha(data)}.jpg" == original_key(sha(data), "image/jpeg")
    assert stored.is_original_key(key)
    assert stored.is_stored_key(key)
    assert original_key(sha(data), "application/x-unknown").endswith(".bin")
    assert read(key) == data
    with pytest.raises(ValueError, match="SHA-256"):
        save_original(data, "image/jpeg", sha256="0" * 64)
    for bad in ("originals/../secret_key", f"originals/{sha(data)}.jpg", "secret_key"):
        assert not stored.is_stored_key(bad)
    with pytest.raises(ValueError):
        stored.delete_file("secret_key")


# --- At analysis time ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db
def test_an_analysis_archives_originals_within_their_cap(storage, settings, http_server):
    settings.MEDIA_ANALYSIS_ARCHIVE_ORIGINALS = True
    small, large = jpeg((200, 30, 30)), jpeg((30, 30, 200), size=(1200, 900))
    settings.MEDIA_ANALYSIS_ARCHIVE_MAX_BYTES = len(small)
    page = make_expression(make_land())
    media = {
        name: make_media(page, url=http_server.route(path, Reply(body=body, content_type="image/jpeg")))
        for name, path, body in (("small", "/s.jpg", small), ("copy", "/copy/s.jpg", small), ("large", "/l.jpg", large))
    }

    result = analyse_media([m.pk for m in media.values()])

    assert (result.analysed, result.reused, result.failed) == (2, 1, 0)
    rows = {name: Media.objects.get(pk=m.pk) for name, m in media.items()}
    assert rows["small"].original_key == rows["copy"].original_key == original_key(sha(small), "image/jpeg")
    assert read(rows["small"].original_key) == small
    assert rows["large"].original_key is None  # over the cap: analysed, not kept


@pytest.mark.slow
@pytest.mark.django_db
def test_archiving_is_off_by_default(storage, http_server):
    url = http_server.route("/off.jpg", Reply(body=jpeg((1, 2, 3)), content_type="image/jpeg"))
    media = make_media(make_expression(make_land()), url=url)
    assert analyse_media([media.pk]).analysed == 1
    assert Media.objects.get(pk=media.pk).original_key is None


# --- Afterwards: the archive command -------------------------------------------------------------


def analysed_media(land: Land, url: str, data: bytes, **fields) -> Media:
    values = dict(
        image_hash=sha(data),
        mime_type="image/jpeg",
        analysis_status=AnalysisStatus.DONE,
        analysis_version=ANALYSIS_VERSION,
    )
    return make_media(make_expression(land), url=url, **{**values, **fields})


@pytest.mark.slow
@pytest.mark.django_db
def test_the_archive_command_keeps_what_was_analysed_and_reports_what_changed(storage, settings, http_server):
    settings.MEDIA_ANALYSIS_THUMBNAIL_SIZE = 64
    land = make_land()
    red, green, blue = jpeg((200, 0, 0)), jpeg((0, 200, 0)), jpeg((0, 0, 200))
    same = analysed_media(land, http_server.route("/red.jpg", Reply(body=red, content_type="image/jpeg")), red)
    copy = analysed_media(land, http_server.route("/red-copy.jpg", Reply(body=red, content_type="image/jpeg")), red)
    # Analysed as green; the server now sends blue.
    now_blue = http_server.route("/now-blue.jpg", Reply(body=blue, content_type="image/jpeg"))
    changed = analysed_media(land, now_blue, green)
    refused = analysed_media(land, "http://10.1.2.3/private.jpg", jpeg((5, 5, 5)))
    out = io.StringIO()

    call_command("archive_originals", land_id=land.pk, thumbnails=True, stdout=out)

    text = out.getvalue()
    rows = {m.pk: Media.objects.get(pk=m.pk) for m in (same, copy, changed, refused)}
    key = original_key(sha(red), "image/jpeg")
    assert rows[same.pk].original_key == rows[copy.pk].original_key == key
    assert read(key) == red
    assert http_server.hits("/red.jpg") + http_server.hits("/red-copy.jpg") == 1  # one content, one download
    assert rows[same.pk].thumbnail_key == thumbnail_key(sha(red), 64, "jpg")
    assert Image.open(io.BytesIO(read(rows[same.pk].thumbnail_key))).size == (64, 48)
    assert rows[changed.pk].original_key is None
    assert rows[changed.pk].thumbnail_key is None
    assert f"now SHA-256 {sha(blue)}, analysed {sha(green)}" in text
    assert "1 changed since their analysis" in text
    assert rows[refused.pk].original_key is None
    assert "refused_address" in text
    assert "4 media: 2 originals archived" in text

    again = io.StringIO()
    call_command("archive_originals", land_id=land.pk, stdout=again)
    assert "0 originals archived, 2 already archived" in again.getvalue()
    assert http_server.hits("/red.jpg") + http_server.hits("/red-copy.jpg") == 1  # nothing downloaded again


@pytest.mark.slow
@pytest.mark.django_db
def test_missing_thumbnails_are_made_from_an_archived_original_without_downloading(storage, settings, http_server):
    settings.MEDIA_ANALYSIS_THUMBNAIL_SIZE = 32
    data = jpeg((10, 120, 10))
    land = make_land()
    url = http_server.route("/gone.jpg", Reply(status=404))
    media = analysed_media(land, url, data, original_key=save_original(data, "image/jpeg"))

    call_command("archive_originals", land_id=land.pk, thumbnails=True, no_originals=True, stdout=io.StringIO())

    assert Media.objects.get(pk=media.pk).thumbnail_key == thumbnail_key(sha(data), 32, "jpg")
    assert http_server.hits("/gone.jpg") == 0


# --- Orphans and deleted lands -------------------------------------------------------------------


def age(key: str, hours: float) -> None:
    path = media_storage().path(key)
    past = time.time() - hours * 3600
    os.utime(path, (past, past))


@pytest.mark.django_db
def test_collect_orphan_files_removes_only_old_unreferenced_files(storage):
    page = make_expression(make_land())
    kept_thumbnail = save_thumbnail("1" * 64, b"a", size=320, extension="jpg")
    kept_original = save_original(b"kept original", "image/png")
    orphan_thumbnail = save_thumbnail("2" * 64, b"b", size=320, extension="jpg")
    orphan_original = save_original(b"orphan original", "image/png")
    young_orphan = save_thumbnail("3" * 64, b"c", size=160, extension="webp")
    make_media(page, thumbnail_key=kept_thumbnail, original_key=kept_original)
    for key in (kept_thumbnail, kept_original, orphan_thumbnail, orphan_original):
        age(key, 48)
    storage.save("unrelated/file.txt", io.BytesIO(b"not ours"))
    age("unrelated/file.txt", 48)

    out = io.StringIO()
    call_command("collect_orphan_files", dry_run=True, stdout=out)
    assert set(out.getvalue().splitlines()[:-1]) == {orphan_thumbnail, orphan_original}
    assert "5 files listed, 2 referenced, 1 unreferenced but recent, would remove 2." in out.getvalue()
    assert all(storage.exists(k) for k in (orphan_thumbnail, orphan_original, young_orphan))

    call_command("collect_orphan_files", stdout=io.StringIO())
    assert not storage.exists(orphan_thumbnail)
    assert not storage.exists(orphan_original)
    assert all(storage.exists(k) for k in (kept_thumbnail, kept_original, young_orphan, "unrelated/file.txt"))

    report = files.collect_orphans(grace=timedelta(0))
    assert report.removed_keys == [young_orphan]


@pytest.mark.django_db
def test_deleting_a_land_removes_the_files_no_other_land_references(storage, django_capture_on_commit_callbacks):
    own = save_thumbnail("4" * 64, b"own", size=320, extension="jpg")
    own_original = save_original(b"own original", "image/jpeg")
    shared = save_thumbnail("5" * 64, b"shared", size=320, extension="jpg")
    doomed, other = make_land(), make_land()
    make_media(make_expression(doomed), thumbnail_key=own, original_key=own_original)
    make_media(make_expression(doomed), thumbnail_key=shared)
    make_media(make_expression(other), thumbnail_key=shared)

    with django_capture_on_commit_callbacks(execute=True):
        doomed.delete()

    assert not storage.exists(own)
    assert not storage.exists(own_original)
    assert storage.exists(shared)
