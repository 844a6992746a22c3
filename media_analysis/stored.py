"""Files kept from an analysis (thumbnails, and originals when archived), in one Django storage, by content.

The storage is the ``STORAGES["medianalyse"]`` alias: ``ContentAddressedFileSystemStorage``
under the var directory on one machine, any Django storage class (django-storages' S3
for many machines) through ``MEDIA_ANALYSIS_STORAGE_BACKEND``. Keys are content-addressed:
``thumbnails/<size>/<ab>/<cd>/<sha256 of the original>.<ext>`` and
``originals/<ab>/<cd>/<sha256>.<ext>``, so a picture met on 500 pages is one file, and
a file, once written, never changes (pages may cache it forever). Files no media
references any more are removed by ``collect_orphan_files`` (and when a land is deleted).
Every write and read of a stored file goes through this module.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.urls import reverse

STORAGE_ALIAS = "medianalyse"
THUMBNAIL_EXTENSIONS = {"jpg": "image/jpeg", "webp": "image/webp"}
# The file name extension of an archived original, by the type the analysis found; "bin" for any other.
ORIGINAL_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/bmp": "bmp",
    "image/tiff": "tif",
    "image/x-icon": "ico",
    "image/vnd.microsoft.icon": "ico",
    "image/jp2": "jp2",
    "image/x-tga": "tga",
    "image/vnd.adobe.photoshop": "psd",
    "image/qoi": "qoi",
}
# Where each kind of file lives: nothing outside these prefixes is ever listed or removed.
STORED_PREFIXES = ("thumbnails/", "originals/")

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
# The only keys the serving view opens: no other path of the storage is reachable through it.
THUMBNAIL_KEY_RE = re.compile(
    r"thumbnails/(?P<size>[1-9][0-9]{0,4})/(?P<a>[0-9a-f]{2})/(?P<b>[0-9a-f]{2})/"
    r"(?P<sha>[0-9a-f]{64})\.(?P<ext>jpg|webp)"
)
ORIGINAL_KEY_RE = re.compile(
    r"originals/(?P<a>[0-9a-f]{2})/(?P<b>[0-9a-f]{2})/(?P<sha>[0-9a-f]{64})\.(?P<ext>[a-z0-9]{1,5})"
)


def media_storage() -> Storage:
    return storages[STORAGE_ALIAS]


def thumbnail_key(sha256: str, size: int, extension: str) -> str:
    """The key of the thumbnail of ``size`` px of the file whose SHA-256 is ``sha256``."""
    if not _SHA256_RE.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
    if extension not in THUMBNAIL_EXTENSIONS:
        raise ValueError(f"not a thumbnail extension: {extension!r}")
    if not 0 < size < 100_000:
        raise ValueError(f"not a thumbnail size: {size}")
    return f"thumbnails/{size}/{sha256[:2]}/{sha256[2:4]}/{sha256}.{extension}"


def save_thumbnail(sha256: str, data: bytes, *, size: int, extension: str) -> str:
    """Store a thumbnail unless its key already holds one; return the key.

    Safe with concurrent writers: the content is the same for a key, so whichever
    write lands first is kept. A storage that renames on collision
    (Django's file system storage) leaves a second name, removed here.
    """
    return _save_once(thumbnail_key(sha256, size, extension), data)


def original_extension(mime_type: str | None) -> str:
    return ORIGINAL_EXTENSIONS.get((mime_type or "").lower(), "bin")


def original_key(sha256: str, mime_type: str | None) -> str:
    """The key of the archived original whose SHA-256 is ``sha256``."""
    if not _SHA256_RE.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
    return f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}.{original_extension(mime_type)}"


def save_original(data: bytes, mime_type: str | None, *, sha256: str | None = None) -> str:
    """Archive an original file unless its key already holds it; return the key.

    The key is the SHA-256 of ``data``, computed here: a caller that names the
    digest it expects gets a ValueError when the bytes are not those.
    """
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise ValueError(f"the bytes have SHA-256 {digest}, not {sha256}")
    return _save_once(original_key(digest, mime_type), data)


def _save_once(key: str, data: bytes) -> str:
    storage = media_storage()
    if storage.exists(key):
        return key
    saved = storage.save(key, ContentFile(data))
    if saved != key:
        storage.delete(saved)
    return key


def is_original_key(key: str | None) -> bool:
    return bool(key) and ORIGINAL_KEY_RE.fullmatch(key or "") is not None


def is_stored_key(key: str | None) -> bool:
    """A key this module writes: the only files listing and removal ever touch."""
    return is_thumbnail_key(key) or is_original_key(key)


def stored_keys(prefix: str) -> Iterator[str]:
    """Every key under ``prefix`` (one of STORED_PREFIXES), walking the storage's directories."""
    if prefix not in STORED_PREFIXES:
        raise ValueError(f"not a prefix of stored files: {prefix!r}")
    storage = media_storage()
    pending = [prefix.rstrip("/")]
    while pending:
        directory = pending.pop()
        try:
            directories, files = storage.listdir(directory)
        except FileNotFoundError:
            continue
        pending.extend(f"{directory}/{name}" for name in directories)
        for name in files:
            key = f"{directory}/{name}"
            if is_stored_key(key):
                yield key


def modified_at(key: str) -> datetime | None:
    """When the file was written, or None when the storage cannot tell."""
    try:
        return media_storage().get_modified_time(key)
    except (NotImplementedError, FileNotFoundError):
        return None


def delete_file(key: str) -> None:
    if not is_stored_key(key):
        raise ValueError(f"not a stored file: {key!r}")
    media_storage().delete(key)


def open_stored(key: str) -> File:
    """A stored file opened for reading in binary (an export copies it); ``OSError`` when it is gone."""
    return media_storage().open(key, "rb")


def is_thumbnail_key(key: str | None) -> bool:
    return bool(key) and THUMBNAIL_KEY_RE.fullmatch(key or "") is not None


def thumbnail_url(key: str | None) -> str | None:
    """Where a page loads a stored thumbnail: this site's checked view, or the storage's own (signed) URL."""
    if not key or not is_thumbnail_key(key):
        return None
    if settings.MEDIA_ANALYSIS_STORAGE_URLS:
        return media_storage().url(key)
    return reverse("medianalyse:stored-thumbnail", kwargs={"key": key})


def content_type(key: str) -> str:
    return THUMBNAIL_EXTENSIONS[key.rsplit(".", 1)[-1]]


class ContentAddressedFileSystemStorage(FileSystemStorage):
    """A file system storage whose files appear whole or not at all, never renamed.

    Each file is written to a temporary name in its directory and linked to its
    key: a reader never meets half a file, and a second writer of the same key
    finds the link taken and keeps the first file (both hold the same content).
    """

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return name  # content-addressed: the name is the content, never another one

    def _save(self, name: str, content: Any) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, mode=self.directory_permissions_mode or 0o777, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".partial-")
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk)
            if self.file_permissions_mode is not None:
                os.chmod(temporary, self.file_permissions_mode)
            try:
                os.link(temporary, full_path)
            except FileExistsError:
                pass  # written meanwhile by another process: the same content
        finally:
            os.unlink(temporary)
        return name
