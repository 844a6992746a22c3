"""Files kept from an analysis (thumbnails today), in one Django storage, by content.

The storage is the ``STORAGES["medianalyse"]`` alias: ``ContentAddressedFileSystemStorage``
under the var directory on one machine, any Django storage class (django-storages' S3
for many machines) through ``MEDIA_ANALYSIS_STORAGE_BACKEND``. Keys are content-addressed:
``thumbnails/<size>/<ab>/<cd>/<sha256 of the original>.<ext>``, so a picture met on 500
pages is one file, and a file, once written, never changes (pages may cache it forever).
Every write and read of a stored file goes through this module.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.urls import reverse

STORAGE_ALIAS = "medianalyse"
THUMBNAIL_EXTENSIONS = {"jpg": "image/jpeg", "webp": "image/webp"}

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
# The only keys the serving view opens: no other path of the storage is reachable through it.
THUMBNAIL_KEY_RE = re.compile(
    r"thumbnails/(?P<size>[1-9][0-9]{0,4})/(?P<a>[0-9a-f]{2})/(?P<b>[0-9a-f]{2})/"
    r"(?P<sha>[0-9a-f]{64})\.(?P<ext>jpg|webp)"
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
    key = thumbnail_key(sha256, size, extension)
    storage = media_storage()
    if storage.exists(key):
        return key
    saved = storage.save(key, ContentFile(data))
    if saved != key:
        storage.delete(saved)
    return key


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
