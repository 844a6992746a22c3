"""Bodies past a size go on into files of a spool: the same bytes, no file left behind, the disk cap held.

A real HTTP server on 127.0.0.1 serves the bodies; the spool is a real directory.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from media_analysis.engine.errors import DownloadError, TooLarge
from media_analysis.engine.fetch import download
from media_analysis.engine.fetch.spool import Spool, SpooledBody, sweep
from tests.support.http_server import Reply

THRESHOLD = 64 * 1024


def _bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _files(spool: Spool) -> list[Path]:
    return [path for path in spool.directory.iterdir() if path.name != ".lock"]


@pytest.fixture
def spool(tmp_path):
    spool = Spool(tmp_path / "bodies", THRESHOLD, 8 * 1024 * 1024)
    yield spool
    spool.close()


def test_a_body_past_the_threshold_is_kept_in_a_private_file_with_the_same_bytes(http_server, session, policy, spool):
    body = _bytes(600_000)
    url = http_server.route("/large.bin", Reply(body=body))
    memory: list[int] = []
    result = download(session, url, policy, spool=spool, on_memory=memory.append)
    assert result.content == b""
    assert isinstance(result.spooled, SpooledBody)
    assert result.size == result.spooled.size == len(body)
    assert result.spooled.read_bytes() == body
    (path,) = _files(spool)
    assert path == result.spooled.path
    assert "large" not in path.name  # names owe nothing to the URL
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(spool.directory.stat().st_mode) == 0o700
    assert (spool.in_use, spool.files) == (len(body), 1)
    # What was held in memory moved to the file: nothing of it is counted there at the end, and never more
    # than the threshold and one piece at once.
    running = 0
    highest = 0
    for change in memory:
        running += change
        highest = max(highest, running)
    assert running == 0
    assert highest <= THRESHOLD + 64 * 1024
    result.spooled.discard()
    result.spooled.discard()  # once only
    assert _files(spool) == []
    assert (spool.in_use, spool.files) == (0, 0)


def test_a_small_body_stays_in_memory(http_server, session, policy, spool):
    body = _bytes(THRESHOLD - 1)
    url = http_server.route("/small.bin", Reply(body=body, framing="chunked"))
    memory: list[int] = []
    result = download(session, url, policy, spool=spool, on_memory=memory.append)
    assert (result.content, result.spooled, result.size) == (body, None, len(body))
    assert sum(memory) == len(body)
    assert _files(spool) == []
    assert spool.in_use == 0


def test_a_compressed_body_is_spooled_decoded(http_server, session, policy, spool):
    body = bytes(range(256)) * 2000  # compresses well: the decoded bytes pass the threshold, the encoded do not
    url = http_server.route(
        "/gz.bin", Reply(body=gzip.compress(body), headers={"Content-Encoding": "gzip"}, framing="chunked")
    )
    result = download(session, url, policy, spool=spool)
    assert result.spooled is not None
    assert result.spooled.read_bytes() == body
    # Hashed as it was written, and the same read from the file.
    assert result.spooled.digest == hashlib.sha256(body).hexdigest()
    assert dataclasses.replace(result.spooled, digest="").sha256() == result.spooled.digest
    result.spooled.discard()


def test_a_body_over_the_byte_cap_fails_and_leaves_no_file(http_server, session, spool):
    from tests.download.conftest import local_policy

    policy = local_policy(max_bytes=300_000)
    # No Content-Length: the cap is met while streaming, after the body went to the file.
    url = http_server.route("/huge.bin", Reply(body=_bytes(900_000), framing="chunked"))
    with pytest.raises(TooLarge):
        download(session, url, policy, spool=spool)
    assert _files(spool) == []
    assert (spool.in_use, spool.files) == (0, 0)


def test_a_body_cut_off_leaves_no_file(http_server, session, policy, spool):
    body = _bytes(500_000)
    # A Content-Length larger than what is sent, then the connection closes: the body is interrupted.
    url = http_server.route("/cut.bin", Reply(body=body, headers={"Content-Length": str(len(body) + 1000)}))
    with pytest.raises(DownloadError):
        download(session, url, policy, spool=spool)
    assert _files(spool) == []
    assert (spool.in_use, spool.files) == (0, 0)


def test_past_the_disk_cap_a_body_goes_on_in_memory_and_the_cap_holds(http_server, session, policy, tmp_path):
    spool = Spool(tmp_path / "capped", THRESHOLD, 400_000)
    try:
        first_body, second_body = _bytes(300_000, 1), _bytes(300_000, 2)
        first = download(session, http_server.route("/1.bin", Reply(body=first_body)), policy, spool=spool)
        assert first.spooled is not None
        assert spool.in_use == len(first_body)
        memory: list[int] = []
        second = download(
            session, http_server.route("/2.bin", Reply(body=second_body)), policy, spool=spool, on_memory=memory.append
        )
        # The second body did not fit beside the first: it came back into memory, whole, and its file is gone.
        assert (second.spooled, second.content) == (None, second_body)
        assert sum(memory) == len(second_body)
        assert spool.in_use == len(first_body) <= spool.max_bytes
        assert len(_files(spool)) == 1
        first.spooled.discard()
        third = download(session, http_server.route("/3.bin", Reply(body=second_body)), policy, spool=spool)
        assert third.spooled is not None  # room again
        third.spooled.discard()
        assert (spool.in_use, spool.files) == (0, 0)
    finally:
        spool.close()


def test_without_a_file_to_be_had_a_body_stays_in_memory(http_server, session, policy, tmp_path):
    spool = Spool(tmp_path / "gone", THRESHOLD, 8 * 1024 * 1024)
    shutil.rmtree(spool.directory)  # a disk that refuses new files, as far as the download can tell
    try:
        body = _bytes(400_000, 5)
        memory: list[int] = []
        result = download(
            session, http_server.route("/kept.bin", Reply(body=body)), policy, spool=spool, on_memory=memory.append
        )
        assert (result.spooled, result.content) == (None, body)
        assert sum(memory) == len(body)
        assert (spool.in_use, spool.files) == (0, 0)
    finally:
        spool.close()


@pytest.mark.slow
def test_the_files_of_a_killed_process_are_removed_at_the_next_start_and_a_live_ones_kept(tmp_path):
    root = tmp_path / "bodies"
    live = Spool(root, THRESHOLD, 1 << 20)
    handle, live_file = live.create()
    handle.close()
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from media_analysis.engine.fetch.spool import Spool
        spool = Spool(Path({str(root)!r}), 1, 1 << 20)
        handle, path = spool.create()
        handle.write(b"x" * 1000)
        handle.flush()
        print(spool.directory, flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2]
    )
    try:
        assert child.stdout is not None
        dead_directory = Path(child.stdout.readline().strip())
        assert any(dead_directory.iterdir())
        assert sweep(root) == 0  # alive: its lock is held
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    # The next process to start a spool under the same root removes the dead one's directory, not the live one's.
    again = Spool(root, THRESHOLD, 1 << 20)
    try:
        assert not dead_directory.exists()
        assert live_file.exists()
        directories = sorted(path.name for path in root.iterdir() if path.is_dir())
        assert directories == sorted([live.directory.name, again.directory.name])
    finally:
        again.close()
        live.close()
    assert [path for path in root.iterdir() if path.is_dir()] == []
