"""export_land --output on what is not a plain new file: FIFOs, devices, standard output, symlinks, sockets."""

from __future__ import annotations

import os
import socket
import stat
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.exports.helpers import read_csv, run_export


def export(land_pk: int, output: str, stderr: StringIO | None = None) -> str:
    out = StringIO()
    call_command(
        "export_land", "--land-id", str(land_pk), "--type", "pagecsv", "--output", output, stdout=out, stderr=stderr
    )
    return out.getvalue()


def expected(corpus) -> bytes:
    return run_export(corpus.land, "pagecsv")[0]


def char_device(tmp_path: Path, name: str, minor: int) -> Path:
    """A character device of the memory driver (3 is null, 7 is full), made in tmp_path when running as root.

    As root an export that renames onto its target would replace the system's
    /dev/null, so root gets its own node; others use /dev, which they cannot replace.
    """
    if os.geteuid() != 0:
        return Path("/dev") / name
    path = tmp_path / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        with path.open("wb"):
            pass
    except OSError as error:
        pytest.skip(f"cannot make a device node here ({error})")
    return path


def test_a_fifo_is_written_into_as_given(corpus, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()

    summary = export(corpus.land.pk, str(fifo))
    reader.join(timeout=30)

    assert received == [expected(corpus)]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert summary.rstrip().endswith(f"to {fifo}")
    assert list(tmp_path.iterdir()) == [fifo]


def test_a_symlink_to_a_fifo_is_followed_and_kept(corpus, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()

    export(corpus.land.pk, str(link))
    reader.join(timeout=30)

    assert received == [expected(corpus)]
    assert link.is_symlink()


def test_a_character_device_stays_a_device(corpus, tmp_path):
    null = char_device(tmp_path, "null", 3)

    summary = export(corpus.land.pk, str(null))

    assert stat.S_ISCHR(null.lstat().st_mode)
    assert summary.startswith("Exported 4 records")


def test_a_full_device_is_a_command_error_and_stays_a_device(corpus, tmp_path):
    full = char_device(tmp_path, "full", 7)

    with pytest.raises(CommandError, match=f"Cannot write {full}: No space left on device"):
        export(corpus.land.pk, str(full))

    assert stat.S_ISCHR(full.lstat().st_mode)


@pytest.mark.parametrize("output", ["-", "/dev/stdout"])
def test_standard_output_gets_the_export_and_stderr_the_summary(corpus, capsysbinary, output):
    call_command("export_land", "--land-id", str(corpus.land.pk), "--type", "pagecsv", "--output", output)

    captured = capsysbinary.readouterr()
    assert captured.out == expected(corpus)
    assert read_csv(captured.out)[0][0] == "id"
    assert captured.err.decode().startswith("Exported 4 records")
    assert captured.err.decode().rstrip().endswith("to standard output")


def test_a_symlink_to_a_regular_file_is_refused_and_left_alone(corpus, tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("keep me")
    link = tmp_path / "link.csv"
    link.symlink_to(real)

    with pytest.raises(CommandError, match=r"link\.csv is a symbolic link to a regular file: give the file's own path"):
        export(corpus.land.pk, str(link))

    assert link.is_symlink()
    assert real.read_text() == "keep me"


def test_a_dangling_symlink_is_refused(corpus, tmp_path):
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "nowhere" / "x.csv")

    with pytest.raises(CommandError, match="is a symbolic link to a missing file"):
        export(corpus.land.pk, str(link))

    assert not (tmp_path / "nowhere").exists()


def test_a_socket_is_refused(corpus, tmp_path):
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        with pytest.raises(CommandError, match=r"sock is a socket: write to a regular file, a directory, a FIFO"):
            export(corpus.land.pk, str(path))
        assert stat.S_ISSOCK(path.lstat().st_mode)
    finally:
        server.close()


def test_a_regular_file_is_replaced_whole_with_an_ordinary_mode(corpus, tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old content, longer than nothing")
    old_umask = os.umask(0o022)
    try:
        export(corpus.land.pk, str(target))
    finally:
        os.umask(old_umask)

    assert target.read_bytes() == expected(corpus)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert list(tmp_path.iterdir()) == [target]


def test_a_planted_part_file_is_not_written_through(corpus, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (tmp_path / "out.csv.part").symlink_to(victim)

    export(corpus.land.pk, str(tmp_path / "out.csv"))

    assert victim.read_text() == "untouched"
    assert not (tmp_path / "out.csv").is_symlink()
    assert (tmp_path / "out.csv").read_bytes() == expected(corpus)
