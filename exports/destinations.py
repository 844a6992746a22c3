"""Where ``export_land --output`` writes: a regular file replaced atomically, or a stream written as given.

Plain Python, no Django. A regular file is written under a temporary name
beside it and renamed at the end, so a failed export never leaves a truncated
file under the expected name. A FIFO or a character device (a terminal,
``/dev/null``) is not a place to rename onto: replacing it would turn the
device or the pipe into a plain file, so it is opened and written as given.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

R = TypeVar("R")

STDOUT = "-"
# Named as the standard output by users and scripts; it is the process's own descriptor 1.
_STDOUT_NAMES = frozenset({STDOUT, "/dev/stdout"})


class DestinationRefused(Exception):
    """The output names something an export must not be written to; the message says why."""


@dataclass(frozen=True)
class Destination:
    """``path`` is None for the standard output; ``atomic`` for a regular file (temporary name, then rename)."""

    path: Path | None
    atomic: bool

    @property
    def is_stdout(self) -> bool:
        if self.path is None:
            return True
        # /dev/fd/1 or /proc/self/fd/1 is the standard output too, by another name.
        try:
            return os.path.samestat(os.stat(self.path), os.fstat(sys.stdout.fileno()))
        except (OSError, ValueError, AttributeError):
            return False

    def describe(self) -> str:
        return "standard output" if self.path is None else str(self.path.absolute())


def resolve_destination(output: str | None, default_name: str, cwd: Path) -> Destination:
    """Where to write, or ``DestinationRefused``.

    No output: ``default_name`` in ``cwd``. ``-`` or ``/dev/stdout``: the standard
    output. An existing directory: ``default_name`` inside it. An existing FIFO or
    character device (symlinks followed): written as given. A symlink to a regular
    file is refused: the rename would replace the link, and following it would let
    whoever owns the link choose which file is replaced. Any other existing
    non-regular file (socket, block device) is refused.
    """
    if output in _STDOUT_NAMES:
        return Destination(None, atomic=False)
    target = Path(output) if output else cwd / default_name
    if target.is_dir():
        target = target / default_name
    try:
        link = target.lstat()
    except FileNotFoundError:
        if not target.parent.is_dir():
            raise DestinationRefused(f"Directory {target.parent} does not exist") from None
        return Destination(target, atomic=True)
    if stat.S_ISREG(link.st_mode):
        return Destination(target, atomic=True)
    try:
        mode = target.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        return Destination(target, atomic=False)
    if stat.S_ISLNK(link.st_mode):
        points_to = "a missing file" if mode is None else _kind(mode)
        raise DestinationRefused(
            f"{target} is a symbolic link to {points_to}: give the file's own path ({os.path.realpath(target)})"
        )
    raise DestinationRefused(
        f"{target} is {_kind(link.st_mode)}: write to a regular file, a directory, a FIFO, "
        "a character device or - (standard output)"
    )


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def write_to(destination: Destination, write: Callable[[IO[bytes]], R]) -> R:
    """Call ``write`` with a binary stream open on the destination, and return what it returns."""
    with _open(destination) as stream:
        result = write(stream)
        stream.flush()
    return result


@contextmanager
def _open(destination: Destination) -> Iterator[IO[bytes]]:
    if destination.path is None:
        sys.stdout.flush()
        yield sys.stdout.buffer
        return
    if not destination.atomic:
        with destination.path.open("wb") as stream:
            yield stream
        return
    target = destination.path
    # A unique, exclusively created name: a leftover or a planted ``.part`` (a
    # symlink elsewhere) is never opened.
    fd, partial = tempfile.mkstemp(prefix=f"{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(stream.fileno(), 0o666 & ~_umask())  # what an ordinary new file gets, not mkstemp's 0600
            yield stream
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
