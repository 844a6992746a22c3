"""Bodies kept on disk past a size: what a process holds in memory then no longer depends on which bodies coincide.

A ``Spool`` owns one directory of its own under a root of the caller's (one per process: ``<root>/<pid>-<random>``,
mode 0700, held by an exclusive ``flock`` on a lock file inside for the process's life). A download whose body
passes ``threshold`` bytes goes on into a file there (``mkstemp``: a random name, mode 0600, never derived from the
URL), within ``max_bytes`` on disk for the whole spool: a piece that would pass that cap brings the body back into
memory instead, so the cap holds exactly and no download fails for it. The caller removes each file once its body
is analysed or dropped (``SpooledBody.discard``); ``sweep`` removes the directories of processes that died without
doing so (their lock is free), at the next start of any process using the same root.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

LOCK_NAME = ".lock"
ROOT_LOCK_NAME = ".sweep.lock"  # held while a directory is created or swept
# Files are read back and hashed in blocks of this size: a body is never held twice to hash it.
READ_BLOCK = 1024 * 1024


class Spool:
    """One process's directory of bodies on disk, and the count of its bytes there, within ``max_bytes``."""

    def __init__(self, root: Path, threshold: int, max_bytes: int) -> None:
        self.root = Path(root)
        self.threshold = threshold
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._in_use = 0
        self._files = 0
        self._pid = os.getpid()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Under the root's lock, so that no other process's sweep finds this directory between its creation
        # and the lock that says it is alive.
        with _root_locked(self.root):
            _sweep_locked(self.root)
            self.directory = self.root / f"{self._pid}-{secrets.token_hex(4)}"
            self.directory.mkdir(mode=0o700)
            self._lock_fd = os.open(self.directory / LOCK_NAME, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    @property
    def in_use(self) -> int:
        """Bytes of bodies on disk now."""
        return self._in_use

    @property
    def files(self) -> int:
        """Bodies on disk now (files being written included)."""
        return self._files

    def take(self, size: int) -> bool:
        """Count ``size`` more bytes on disk, if the cap allows them."""
        with self._lock:
            if self._in_use + size > self.max_bytes:
                return False
            self._in_use += size
            return True

    def give_back(self, size: int) -> None:
        with self._lock:
            self._in_use -= size

    def create(self) -> tuple[BinaryIO, Path]:
        """A new file of this spool, open for writing (mode 0600, a random name)."""
        fd, name = tempfile.mkstemp(prefix="body-", dir=self.directory)
        with self._lock:
            self._files += 1
        return os.fdopen(fd, "wb", buffering=0), Path(name)

    def removed(self, path: Path, size: int) -> None:
        """Remove a file of this spool holding ``size`` counted bytes (gone already: nothing more to do)."""
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        with self._lock:
            self._in_use -= size
            self._files -= 1

    def close(self) -> None:
        """Remove this spool's directory and whatever it still holds (at a process's end, or in tests).

        Only in the process that created it: a forked child inherits the object, not the directory.
        """
        if os.getpid() != self._pid or self._lock_fd < 0:
            return
        shutil.rmtree(self.directory, ignore_errors=True)
        os.close(self._lock_fd)
        self._lock_fd = -1
        with self._lock:
            self._in_use = 0
            self._files = 0


@contextmanager
def _root_locked(root: Path) -> Iterator[None]:
    fd = os.open(root / ROOT_LOCK_NAME, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def sweep(root: Path) -> int:
    """Remove the directories under ``root`` whose process is gone (their lock can be taken): how many."""
    if not root.is_dir():
        return 0
    with _root_locked(root):
        return _sweep_locked(root)


def _sweep_locked(root: Path) -> int:
    removed = 0
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        lock_path = Path(entry.path) / LOCK_NAME
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # not a spool's: directories are created with their lock, under the root's lock
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live process's
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
        finally:
            os.close(fd)
    return removed


@dataclass(eq=False)
class SpooledBody:
    """A body on disk: its file, its size, and the spool that counts it."""

    path: Path
    size: int
    spool: Spool = field(repr=False)
    digest: str = ""  # the SHA-256 (hex) taken as the body was written, when it was
    _discarded: bool = field(default=False, repr=False)

    def read_bytes(self) -> bytes:
        with open(self.path, "rb") as handle:
            return handle.read()

    def sha256(self) -> str:
        """The body's SHA-256 (hex): taken as it was written, or else read from the file."""
        if self.digest:
            return self.digest
        digest = hashlib.sha256()
        with open(self.path, "rb") as handle:
            while block := handle.read(READ_BLOCK):
                digest.update(block)
        return digest.hexdigest()

    def discard(self) -> None:
        """Remove the file and count its bytes off the spool; once only, whoever calls it again."""
        with self.spool._lock:
            if self._discarded:
                return
            self._discarded = True
        self.spool.removed(self.path, self.size)


class SpoolWriter:
    """A body being received past the threshold: its file, and the bytes counted on disk for it."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.handle, self.path = spool.create()
        self.size = 0
        # Hashed as written: the file is not read once more for the key of reuse by content.
        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> bool:
        """Append ``data`` if the spool's cap allows it; False (nothing written) otherwise."""
        if not data:
            return True
        if not self.spool.take(len(data)):
            return False
        try:
            # A raw file may write less than it is given; what a failed write left past ``size`` is never read.
            view = memoryview(data)
            while view:
                written = self.handle.write(view)
                if not written:
                    raise OSError(errno.EIO, "the spool's file took no bytes")
                view = view[written:]
        except BaseException:
            self.spool.give_back(len(data))
            raise
        self._digest.update(data)
        self.size += len(data)
        return True

    def finish(self) -> SpooledBody:
        self.handle.close()
        return SpooledBody(self.path, self.size, self.spool, self._digest.hexdigest())

    def back_to_memory(self) -> bytes:
        """What was written, read back; the file is removed and its bytes counted off."""
        try:
            self.handle.close()
            with open(self.path, "rb") as handle:
                data = handle.read(self.size)
        finally:
            self.spool.removed(self.path, self.size)
        return data

    def abandon(self) -> None:
        """Remove the file of a body that failed or was cut off."""
        try:
            self.handle.close()
        finally:
            self.spool.removed(self.path, self.size)
