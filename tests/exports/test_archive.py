"""The dataset archive: a zip of the mediacsv and the stored files its rows name, streamed."""

from __future__ import annotations

import hashlib
import io
import re
import tracemalloc
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command

from exports import services
from exports.zipstream import ZipStream
from lands.models import AnalysisStatus, Media
from media_analysis.stored import media_storage, save_original, save_thumbnail, thumbnail_key
from tests.exports.helpers import read_csv, run_export
from tests.factories import grant, make_expression, make_land

HASH_SHARED = "a" * 64
HASH_OTHER = "b" * 64


def jpeg_like(seed: str, size: int = 5000) -> bytes:
    """Bytes that do not compress, as a JPEG's do not."""
    out, block = bytearray(), seed.encode()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


@pytest.fixture
def storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "medianalyse": {
            "BACKEND": "media_analysis.stored.ContentAddressedFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "stored")},
        },
    }
    return media_storage()


@pytest.fixture
def stored_corpus(corpus, storage):
    """The corpus with m1's and m8's thumbnails stored, and m3 naming one that is gone from the storage."""
    thumbnails = {
        HASH_SHARED: save_thumbnail(HASH_SHARED, jpeg_like("red"), size=320, extension="jpg"),
        HASH_OTHER: save_thumbnail(HASH_OTHER, jpeg_like("broken"), size=320, extension="jpg"),
    }
    # m2 shares m1's file: the archive holds it once.
    Media.objects.filter(pk=corpus.media["m2"].pk).update(thumbnail_key=thumbnails[HASH_SHARED])
    Media.objects.filter(pk=corpus.media["m3"].pk).update(thumbnail_key=thumbnail_key(HASH_SHARED, 160, "webp"))
    return corpus


def open_archive(data: bytes) -> tuple[zipfile.ZipFile, list[str], list[dict[str, str]]]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None  # every member's CRC checks out
    header, rows = read_csv(archive.read(services.ARCHIVE_CSV_NAME))
    return archive, header, [dict(zip(header, row, strict=True)) for row in rows]


def check_round_trip(archive: zipfile.ZipFile, rows: list[dict[str, str]]) -> set[str]:
    """Every file a row names is in the zip, named by that row's SHA-256; return the names checked."""
    names = set(archive.namelist())
    named = set()
    for row in rows:
        if row["thumbnail_key"]:
            assert row["thumbnail_key"] in names, row["thumbnail_key"]
            assert row["thumbnail_file"] == row["thumbnail_key"].rsplit("/", 1)[1]
            assert row["thumbnail_file"].startswith(row["image_hash"] + ".")
            named.add(row["thumbnail_key"])
        # Originals, once archived, are the downloaded bytes: their SHA-256 is the row's image_hash.
        original = row.get(services.ORIGINAL_KEY_FIELD)
        if original:
            assert hashlib.sha256(archive.read(original)).hexdigest() == row["image_hash"]
            named.add(original)
    return named


def test_archive_round_trips(stored_corpus, storage):
    data, export = run_export(stored_corpus.land, "archive", minrel="all")
    archive, header, rows = open_archive(data)

    assert tuple(header) == services.media_csv_header()
    # The CSV inside is the mediacsv export of the same options.
    _, mediacsv_rows = read_csv(run_export(stored_corpus.land, "mediacsv", minrel="all")[0])
    assert [list(row.values()) for row in rows] == mediacsv_rows
    m3_missing_key = thumbnail_key(HASH_SHARED, 160, "webp")
    present = [row for row in rows if row["thumbnail_key"] != m3_missing_key]
    named = check_round_trip(archive, present)
    # m1 and m2 name the same file: one member. m8 failed: its kept thumbnail is not named, not archived.
    assert named == {thumbnail_key(HASH_SHARED, 320, "jpg")}
    stored_members = [name for name in archive.namelist() if name.startswith("thumbnails/")]
    assert stored_members == [thumbnail_key(HASH_SHARED, 320, "jpg")]
    with storage.open(thumbnail_key(HASH_SHARED, 320, "jpg")) as original:
        assert archive.read(stored_members[0]) == original.read()
    # Thumbnails are stored as they are (already compressed); the CSV is deflated.
    assert archive.getinfo(stored_members[0]).compress_type == zipfile.ZIP_STORED
    assert archive.getinfo(services.ARCHIVE_CSV_NAME).compress_type == zipfile.ZIP_DEFLATED

    # m3's file is gone from the storage: counted and said, not silently dropped.
    assert (export.counts.records, export.counts.files, export.counts.missing) == (len(rows), 1, 1)
    readme = archive.read(services.ARCHIVE_README_NAME).decode()
    assert "1 file(s) the CSV names could not be read from the storage" in readme
    assert archive.namelist()[0] == services.ARCHIVE_CSV_NAME
    assert archive.namelist()[-1] == services.ARCHIVE_README_NAME


def test_archive_carries_the_archived_originals_named_by_their_sha256(stored_corpus, storage):
    body = jpeg_like("the original", 20_000)
    digest = hashlib.sha256(body).hexdigest()
    key = save_original(body, "image/jpeg", sha256=digest)
    # m1 is a done media: its row names the original by its key, whose file name is the SHA-256 of its bytes.
    Media.objects.filter(pk=stored_corpus.media["m1"].pk).update(original_key=key, image_hash=digest)
    data, export = run_export(stored_corpus.land, "archive", minrel="all")
    archive, header, rows = open_archive(data)
    assert "original_key" in header
    (row,) = [row for row in rows if row["original_key"]]
    assert row["original_key"] == key
    assert key.startswith("originals/")
    assert key.rsplit("/", 1)[1].startswith(digest + ".")
    assert archive.read(key) == body
    assert hashlib.sha256(archive.read(key)).hexdigest() == row["image_hash"]
    assert export.counts.files == 2  # the shared thumbnail and the original


def test_archive_with_stale_values_carries_the_kept_thumbnails(stored_corpus):
    data, export = run_export(stored_corpus.land, "archive", stale_values="true", media_types="img")
    archive, _, rows = open_archive(data)
    named = check_round_trip(archive, [row for row in rows if row["thumbnail_key"].endswith(".jpg")])
    assert named == {thumbnail_key(HASH_SHARED, 320, "jpg"), thumbnail_key(HASH_OTHER, 320, "jpg")}
    assert {row["status"] for row in rows if row["image_hash"] == HASH_OTHER} == {AnalysisStatus.FAILED}
    assert export.counts.files == 2


def test_a_key_that_is_no_plain_path_is_never_read(stored_corpus, storage, tmp_path):
    (tmp_path / "secret.txt").write_text("not for export")
    Media.objects.filter(pk=stored_corpus.media["m1"].pk).update(thumbnail_key="../secret.txt")
    data, export = run_export(stored_corpus.land, "archive")
    archive, _, _ = open_archive(data)
    assert not [name for name in archive.namelist() if "secret" in name or name.startswith("/")]
    assert export.counts.missing >= 1


def test_archive_is_reachable_from_the_api_with_the_view_permission(stored_corpus, api_client, plain_user, settings):
    settings.ROOT_URLCONF = "tests.exports.urls"
    api_client.force_authenticate(plain_user)
    url = f"/api/lands/{stored_corpus.land.pk}/export/?type=archive&minrel=all"
    assert api_client.get(url).status_code == 403

    api_client.force_authenticate(grant(plain_user, "lands.view_land"))
    response = api_client.get(url)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert re.fullmatch(
        r'attachment; filename="export_land_Corpus_Ete_2024_test_archive_\d{8}_\d{6}\.zip"',
        response["Content-Disposition"],
    )
    archive, _, rows = open_archive(b"".join(response.streaming_content))
    assert len(rows) == 8
    assert thumbnail_key(HASH_SHARED, 320, "jpg") in archive.namelist()


def test_export_land_command_writes_the_archive(stored_corpus, tmp_path):
    out = StringIO()
    target = tmp_path / "dataset.zip"
    call_command(
        "export_land", "--land-id", str(stored_corpus.land.pk), "--type", "archive", "--output", str(target), stdout=out
    )
    archive, _, rows = open_archive(target.read_bytes())
    check_round_trip(archive, [row for row in rows if row["thumbnail_key"].endswith(".jpg")])
    assert out.getvalue().startswith(f"Exported {len(rows)} records and 1 stored files (1 missing) of land")


def test_zip_entries_leave_as_they_are_written():
    """The archive's bytes come out while an entry is still being written, not once it is complete."""
    produced = []

    def big_entry():
        for number in range(40):
            produced.append(number)
            yield jpeg_like(str(number), 64 * 1024)

    archive = ZipStream()
    out = io.BytesIO()
    seen_before_end = 0
    for chunk in archive.add("big.bin", big_entry(), compress=False):
        out.write(chunk)
        if len(produced) < 40:
            seen_before_end = out.tell()
    for chunk in archive.close():
        out.write(chunk)
    assert seen_before_end > 30 * 64 * 1024
    with zipfile.ZipFile(out) as reread:
        assert reread.read("big.bin") == b"".join(jpeg_like(str(n), 64 * 1024) for n in range(40))


def archive_peak(land, monkeypatch) -> int:
    """The peak of Python allocations while the whole archive streams (its bytes discarded)."""
    monkeypatch.setattr(services, "CHUNK_SIZE", 200)
    export = services.prepare_export(land, "archive", minrel="all")
    tracemalloc.start()
    try:
        for _chunk in export.chunks():
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def build_land(name: str, n_media: int, n_files: int) -> object:
    land = make_land(name)
    pages = [make_expression(land, relevance=1, depth=0) for _ in range(10)]
    keys = []
    for number in range(n_files):
        sha = hashlib.sha256(f"{name}-{number}".encode()).hexdigest()
        keys.append(save_thumbnail(sha, jpeg_like(sha, 20_000), size=320, extension="jpg"))
    Media.objects.bulk_create(
        Media(
            expression=pages[number % 10],
            url=f"https://cdn.example/{name}/{number}.jpg",
            analysis_status=AnalysisStatus.DONE,
            is_processed=True,
            width=320,
            height=240,
            image_hash=keys[number % n_files].rsplit("/", 1)[1].split(".")[0],
            thumbnail_key=keys[number % n_files],
            exif_make="x" * 200,
        )
        for number in range(n_media)
    )
    return land


def test_memory_stays_flat_with_many_media(storage, monkeypatch, db):
    # Five times the media and their CSV rows, the same number of files: the peak must not follow the rows.
    small = archive_peak(build_land("small", 1000, 40), monkeypatch)
    large = archive_peak(build_land("large", 5000, 40), monkeypatch)
    assert large < small * 1.5, (small, large)


def test_archive_options_follow_the_media_csv(corpus):
    with pytest.raises(services.InvalidParameters) as caught:
        services.prepare_export(corpus.land, "archive", nodes="domain")
    assert "nodes" in caught.value.errors
    # The CSV inside is written raw on request, as mediacsv is.
    assert services.prepare_export(corpus.land, "archive", raw=True).options.raw


def test_readme_says_what_the_archive_holds(stored_corpus):
    archive, _, _ = open_archive(run_export(stored_corpus.land, "archive")[0])
    readme = archive.read(services.ARCHIVE_README_NAME).decode()
    assert f"Land {stored_corpus.land.name!r}" in readme
    assert "relevance >= 1" in readme
    assert "1 stored file(s) in the archive" in readme


def test_archive_query_count_does_not_depend_on_size(stored_corpus, monkeypatch, django_assert_num_queries):
    # Chunks of 2 rows: a query per chunk or per file would show as more queries.
    monkeypatch.setattr(services, "CHUNK_SIZE", 2)
    # The CSV's rows, the distinct thumbnail keys, the distinct original keys.
    with django_assert_num_queries(3):
        data, export = run_export(stored_corpus.land, "archive", minrel="all", stale_values=True)
    assert export.counts.records >= 3
    assert export.counts.files == 2
    open_archive(data)
