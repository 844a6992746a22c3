"""Stored thumbnails: content-addressed keys in any storage, concurrent writers, the batch, the serving view."""

from __future__ import annotations

import hashlib
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import Permission
from django.core.files.storage import InMemoryStorage
from django.test import Client
from PIL import Image

from lands.models import AnalysisStatus, Media
from media_analysis import stored
from media_analysis.jobs.batch import analyse_media
from media_analysis.stored import ContentAddressedFileSystemStorage, media_storage, save_thumbnail, thumbnail_key
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply

SHA = hashlib.sha256(b"a picture").hexdigest()
FILE_SYSTEM = "media_analysis.stored.ContentAddressedFileSystemStorage"
IN_MEMORY = "django.core.files.storage.InMemoryStorage"


def use_storage(settings, backend: str, **options) -> None:
    settings.STORAGES = {**settings.STORAGES, "medianalyse": {"BACKEND": backend, "OPTIONS": options}}


@pytest.fixture(params=["file_system", "in_memory"])
def storage(request, settings, tmp_path):
    """The storage alias on each of two real storage classes."""
    if request.param == "file_system":
        use_storage(settings, FILE_SYSTEM, location=str(tmp_path / "stored"))
    else:
        use_storage(settings, IN_MEMORY)
    return media_storage()


def jpeg(colour=(200, 30, 30), size=(400, 300)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


# --- Keys and writes ---------------------------------------------------------------------------


def test_keys_are_content_addressed_and_checked():
    assert thumbnail_key(SHA, 320, "jpg") == f"thumbnails/320/{SHA[:2]}/{SHA[2:4]}/{SHA}.jpg"
    assert stored.is_thumbnail_key(thumbnail_key(SHA, 320, "webp"))
    for bad in ("../etc/passwd", SHA.upper(), SHA[:63], ""):
        with pytest.raises(ValueError):
            thumbnail_key(bad, 320, "jpg")
    with pytest.raises(ValueError):
        thumbnail_key(SHA, 320, "png")
    for key in (f"thumbnails/320/{SHA[:2]}/{SHA[2:4]}/{SHA}.jpg/../x", f"other/{SHA}.jpg", "thumbnails/320/../x.jpg"):
        assert not stored.is_thumbnail_key(key)


def test_the_same_picture_is_one_file_written_once(storage):
    first = save_thumbnail(SHA, b"first bytes", size=320, extension="jpg")
    second = save_thumbnail(SHA, b"other bytes", size=320, extension="jpg")
    assert first == second == thumbnail_key(SHA, 320, "jpg")
    with storage.open(first) as handle:
        assert handle.read() == b"first bytes"  # written only when absent: never changes once there
    assert storage.listdir(f"thumbnails/320/{SHA[:2]}/{SHA[2:4]}") == ([], [f"{SHA}.jpg"])


def test_another_size_or_format_is_another_file(storage):
    keys = {
        save_thumbnail(SHA, b"a", size=320, extension="jpg"),
        save_thumbnail(SHA, b"b", size=160, extension="jpg"),
        save_thumbnail(SHA, b"c", size=320, extension="webp"),
    }
    assert len(keys) == 3
    assert all(storage.exists(key) for key in keys)


@pytest.mark.parametrize("backend", [FILE_SYSTEM, "django.core.files.storage.FileSystemStorage", IN_MEMORY])
def test_concurrent_writers_of_one_key_leave_one_whole_file(settings, tmp_path, backend):
    # Django's own file system storage renames on collision: the extra names are removed.
    use_storage(settings, backend, **({} if backend == IN_MEMORY else {"location": str(tmp_path)}))
    data = bytes(range(256)) * 200
    writers = 8
    barrier = threading.Barrier(writers)

    def write(_: int) -> str:
        barrier.wait()
        return save_thumbnail(SHA, data, size=320, extension="jpg")

    with ThreadPoolExecutor(writers) as pool:
        keys = set(pool.map(write, range(writers)))
    storage = media_storage()
    assert keys == {thumbnail_key(SHA, 320, "jpg")}
    with storage.open(keys.pop()) as handle:
        assert handle.read() == data
    assert storage.listdir(f"thumbnails/320/{SHA[:2]}/{SHA[2:4]}") == ([], [f"{SHA}.jpg"])


def test_the_file_system_storage_never_shows_a_partial_file(tmp_path):
    storage = ContentAddressedFileSystemStorage(location=str(tmp_path))
    key = thumbnail_key(SHA, 320, "jpg")
    assert storage.save(key, io.BytesIO(b"whole")) == key
    assert storage.save(key, io.BytesIO(b"again")) == key  # never renamed, never overwritten
    directory = tmp_path / "thumbnails" / "320" / SHA[:2] / SHA[2:4]
    assert [p.name for p in directory.iterdir()] == [f"{SHA}.jpg"]  # no temporary file left
    assert (directory / f"{SHA}.jpg").read_bytes() == b"whole"


def test_the_default_storage_is_a_directory_under_the_var_directory():
    from django.conf import settings

    options = settings.STORAGES["medianalyse"]["OPTIONS"]
    assert settings.STORAGES["medianalyse"]["BACKEND"] == FILE_SYSTEM
    assert options["location"] == str(settings.VAR_DIR / "stored")


# --- The batch stores them ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db
def test_a_job_stores_thumbnails_and_rows_keep_their_keys(storage, settings, http_server):
    settings.MEDIA_ANALYSIS_THUMBNAIL_SIZE = 200
    red, blue = jpeg((200, 30, 30)), jpeg((30, 30, 200))
    page = make_expression(make_land())
    urls = {
        "red": http_server.route("/red.jpg", Reply(body=red, content_type="image/jpeg")),
        "red-again": http_server.route("/copy/red.jpg", Reply(body=red, content_type="image/jpeg")),
        "blue": http_server.route("/blue.jpg", Reply(body=blue, content_type="image/jpeg")),
        "html": http_server.route("/page.jpg", Reply(body=b"<!doctype html>", content_type="image/jpeg")),
    }
    media = {name: make_media(page, url=url) for name, url in urls.items()}

    result = analyse_media([m.pk for m in media.values()])

    # The second copy of the red picture copies the first one's analysis.
    assert (result.analysed, result.reused, result.failed) == (2, 1, 1)
    rows = {name: Media.objects.get(pk=m.pk) for name, m in media.items()}
    assert (
        rows["red"].thumbnail_key
        == rows["red-again"].thumbnail_key
        == thumbnail_key(hashlib.sha256(red).hexdigest(), 200, "jpg")
    )
    assert rows["blue"].thumbnail_key not in (None, rows["red"].thumbnail_key)
    assert rows["html"].thumbnail_key is None
    with storage.open(rows["blue"].thumbnail_key) as handle:
        thumb = Image.open(io.BytesIO(handle.read()))
        assert (thumb.format, thumb.size) == ("JPEG", (200, 150))
        assert thumb.convert("RGB").getpixel((100, 75))[2] > 150

    # A later failure keeps the key, as it keeps the values.
    http_server.route("/blue.jpg", Reply(status=404, body=b"gone"))
    analyse_media([media["blue"].pk])
    blue_row = Media.objects.get(pk=media["blue"].pk)
    assert blue_row.analysis_status == AnalysisStatus.FAILED
    assert blue_row.thumbnail_key == rows["blue"].thumbnail_key


@pytest.mark.slow
@pytest.mark.django_db
def test_no_thumbnail_when_the_size_is_zero(storage, settings, http_server):
    settings.MEDIA_ANALYSIS_THUMBNAIL_SIZE = 0
    url = http_server.route("/red.jpg", Reply(body=jpeg(), content_type="image/jpeg"))
    media = make_media(make_expression(make_land()), url=url)
    assert analyse_media([media.pk]).analysed == 1
    assert Media.objects.get(pk=media.pk).thumbnail_key is None


class _BrokenStorage(InMemoryStorage):
    def _save(self, name, content):
        raise OSError("disk full")


@pytest.mark.slow
@pytest.mark.django_db
def test_a_storage_that_fails_costs_the_thumbnail_not_the_analysis(settings, http_server):
    use_storage(settings, f"{__name__}._BrokenStorage")
    url = http_server.route("/red.jpg", Reply(body=jpeg(), content_type="image/jpeg"))
    media = make_media(make_expression(make_land()), url=url)
    assert analyse_media([media.pk]).analysed == 1
    row = Media.objects.get(pk=media.pk)
    assert (row.analysis_status, row.thumbnail_key) == (AnalysisStatus.DONE, None)


# --- The serving view ----------------------------------------------------------------------------


def view_url(key: str) -> str:
    return f"/admin/medianalyse/stored/{key}"


@pytest.fixture
def saved(storage) -> str:
    return save_thumbnail(SHA, jpeg(size=(32, 24)), size=320, extension="jpg")


@pytest.mark.django_db
def test_the_view_serves_a_stored_thumbnail_for_a_year(admin_client, saved):
    response = admin_client.get(view_url(saved))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == jpeg(size=(32, 24))


@pytest.mark.django_db
def test_the_view_needs_the_permission_to_view_lands(django_user_model, saved):
    client = Client()
    assert client.get(view_url(saved)).status_code == 302  # to the login page
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(view_url(saved)).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_land", content_type__app_label="lands"))
    staff = django_user_model.objects.get(pk=staff.pk)  # permissions are cached per instance
    client.force_login(staff)
    assert client.get(view_url(saved)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "key",
    [
        f"thumbnails/320/{SHA[:2]}/{SHA[2:4]}/{'0' * 64}.jpg",  # well-formed, absent
        f"thumbnails/320/{SHA[:2]}/{SHA[2:4]}/{SHA}.png",
        "thumbnails/../../secret_key",
        "secret_key",
    ],
)
def test_the_view_opens_only_stored_thumbnail_keys(admin_client, saved, key):
    assert admin_client.get(view_url(key)).status_code == 404


@pytest.mark.django_db
def test_pages_may_use_the_storage_urls_instead(settings, saved):
    settings.MEDIA_ANALYSIS_STORAGE_URLS = True
    use_storage(settings, IN_MEMORY, base_url="https://bucket.example/")
    assert stored.thumbnail_url(saved) == f"https://bucket.example/{saved}"
    settings.MEDIA_ANALYSIS_STORAGE_URLS = False
    assert stored.thumbnail_url(saved) == view_url(saved)
    assert stored.thumbnail_url("../../etc/passwd") is None
