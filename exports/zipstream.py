"""A zip file written as a stream of byte chunks, with the standard library's ``zipfile``.

Plain Python, no Django. ``zipfile`` writes to any object with a ``write``
method; given one that cannot seek or tell, it writes each entry's sizes and
checksum after its data (a data descriptor) instead of going back to fill in
the local header, so nothing already written is ever revisited. The
``_Outbox`` below is such an object: whatever ``zipfile`` writes is collected
and handed to the caller as soon as the current write returns, so memory holds
at most one entry's pending chunk, however large the archive. The central
directory at the end lists every entry: it is the one part that grows with the
number of files (one small record each), never with their size.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO

# Compressed entries: text (CSV, README). Stored entries: files already compressed (JPEG, WebP thumbnails), which
# deflate would only slow down.
DEFLATED = zipfile.ZIP_DEFLATED
STORED = zipfile.ZIP_STORED


class _Outbox:
    """A write-only, non-seekable stream: ``zipfile`` writes into it, the generator takes the bytes out."""

    def __init__(self) -> None:
        # One growing buffer rather than a list of the pieces: the central directory is written as three small
        # pieces per entry, and as separate objects they would cost more than their bytes.
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


class ZipStream:
    """Entries added one at a time, each yielding the archive's bytes as they are produced.

    ``add`` and ``close`` are generators: the caller yields from them (``yield from zip.add(...)``)
    and passes each chunk on (an HTTP response, a file).
    """

    def __init__(self, when: time.struct_time | None = None) -> None:
        self._outbox = _Outbox()
        # mode "w" on an object without tell(): zipfile switches to its streaming (data descriptor) layout.
        self._zip = zipfile.ZipFile(self._outbox, mode="w", allowZip64=True)
        self._date_time = (when or time.gmtime())[:6]

    def add(self, name: str, chunks: Iterable[bytes], *, compress: bool = True) -> Iterator[bytes]:
        """Write the entry ``name`` from ``chunks``; yield the archive's bytes as each chunk is written."""
        info = zipfile.ZipInfo(name, date_time=self._date_time)
        info.compress_type = DEFLATED if compress else STORED
        info.external_attr = 0o644 << 16  # a regular file readable by all, once extracted
        # The size is unknown until the end: zip64 sizes from the start, so an entry may pass 4 GiB.
        with self._zip.open(info, mode="w", force_zip64=True) as entry:
            yield from self._drain()
            for chunk in chunks:
                entry.write(chunk)
                if data := self._outbox.take():
                    yield data
        yield from self._drain()

    def close(self) -> Iterator[bytes]:
        """Write the central directory; the archive is complete after the last chunk."""
        self._zip.close()
        yield from self._drain()

    def _drain(self) -> Iterator[bytes]:
        if data := self._outbox.take():
            yield data


def read_chunks(stream: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """A binary stream's content in chunks of ``size`` bytes."""
    while chunk := stream.read(size):
        yield chunk
