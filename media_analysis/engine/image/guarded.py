"""Analysis in worker processes that are killed at the time limit.

Pillow's C decoders cannot be interrupted from a thread: a decode that runs long
can only be ended with the process doing it. ``GuardedAnalyser`` keeps a few
worker processes, one analysis at a time each; a caller takes an idle worker,
sends it the bytes and waits at most ``timeout`` seconds for the result. On
time-out the worker is killed (the caller gets ``AnalysisTimeout``) and a fresh
one is started for the next caller. Each worker's address space is capped
(``RLIMIT_AS``): an allocation past the cap fails inside the worker and is
reported as ``DecompressionBomb``, as a MemoryError is in process.

Workers are fresh interpreters talking over a socket pair: no worker inherits the
caller's threads, sockets or database connections, and a daemonic caller (a Huey
process worker, which multiprocessing forbids to have children) can start them
too. A worker decodes hostile bytes, so what it answers is JSON, never a pickle:
a decoder exploited inside it gains no way into the caller. A thumbnail travels
base64-encoded in that JSON, and the caller checks it before use (its type, its
byte cap, its dimensions: ``thumbnail.checked_thumbnail``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, fields
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from media_analysis.engine.errors import (
    AnalysisTimeout,
    CorruptImage,
    DecompressionBomb,
    MediaFailure,
    NotAnImage,
    TooComplex,
    UnsupportedFormat,
)
from media_analysis.engine.image.colours import warm_up
from media_analysis.engine.image.thumbnail import MAX_THUMBNAIL_BYTES, Thumbnail, checked_thumbnail
from media_analysis.engine.text import TextReading

# Bytes per pixel that one analysis may hold at once, in the worst case: a 16-bit
# greyscale image (two bytes a pixel) is normalised through three float64 arrays
# (eight bytes each) and an 8-bit result, besides the decoded image and its copies.
# RGB images need a fraction of this. docs/benchmarks/analysis.md has the peaks.
BYTES_PER_PIXEL = 40
# Address space of a worker before it decodes anything: the interpreter, numpy,
# Pillow, numba with LLVM (the compiled k-means) and their libraries reserve more
# than they touch.
BASE_ADDRESS_SPACE = 768 * 1024 * 1024
# A worker that has not set itself up by then is taken for broken.
START_TIMEOUT = 60.0
# A reply is an analysis's fields (EXIF included) and a thumbnail: anything larger is not one.
_MAX_REPLY = 16 * 1024 * 1024 + 2 * MAX_THUMBNAIL_BYTES
# The failures an analysis raises, by the class name a worker reports.
_FAILURES: dict[str, type[MediaFailure]] = {
    failure.error_class: failure
    for failure in (NotAnImage, UnsupportedFormat, CorruptImage, DecompressionBomb, TooComplex)
}


def memory_limit(max_pixels: int) -> int:
    """The address-space cap of a worker analysing images of at most ``max_pixels``."""
    return BASE_ADDRESS_SPACE + max_pixels * BYTES_PER_PIXEL


def _worker_main(connection: Connection, address_space: int | None) -> None:
    """Analyse the images sent on ``connection`` until it closes."""
    if address_space:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    # One BLAS and OpenMP thread per worker: the workers themselves are the parallelism.
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except ImportError:  # optional: only a question of speed
        pass
    from media_analysis.engine.image.analyse import analyse_in_process

    warm_up()
    # Ready: what the start cost (the compiled k-means included) is not counted against the first image's limit.
    connection.send("ready")
    while True:
        try:
            content, options = connection.recv()
        except EOFError:
            return
        try:
            result = analyse_in_process(content, options)
            reply: dict[str, Any] = {"fields": result.as_fields()}
            if result.text is not None:
                reply["text"] = asdict(result.text)
            if result.thumbnail is not None:
                reply["thumbnail"] = {
                    "mime_type": result.thumbnail.mime_type,
                    "data": base64.b64encode(result.thumbnail.data).decode("ascii"),
                }
        except MediaFailure as failure:
            reply = {"failure": failure.error_class, "message": str(failure), "mime_type": failure.mime_type}
        except Exception as exc:  # a bug: the caller reports it as one, with its type
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        connection.send_bytes(json.dumps(reply).encode())


def _reply_thumbnail(reply: dict[str, Any], options: Any, size: int) -> Thumbnail | None:
    sent = reply.get("thumbnail")
    wanted = int(getattr(options, "thumbnail_size", 0) or 0)
    if sent is None:
        return None
    try:
        if not wanted or not isinstance(sent, dict):
            raise ValueError("a thumbnail nobody asked for")
        encoded = sent.get("data")
        if not isinstance(encoded, str) or len(encoded) > (MAX_THUMBNAIL_BYTES * 4) // 3 + 4:
            raise ValueError("thumbnail data missing or too long")
        data = base64.b64decode(encoded, validate=True)
        return checked_thumbnail(data, str(sent.get("mime_type")), wanted)
    except (ValueError, binascii.Error) as exc:
        raise CorruptImage(f"the analysis process sent an invalid thumbnail ({exc})", size=size) from exc


def _reply_text(reply: dict[str, Any], options: Any) -> TextReading | None:
    """The worker's text reading, keeping only the fields a reading has, of the types it has them."""
    sent = reply.get("text")
    if getattr(options, "text", None) is None or not isinstance(sent, dict):
        return None
    values: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = sent.get(name)
        if isinstance(value, str):
            values[name] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values[name] = float(value)
    if values.get("status") not in ("text", "empty", "skipped", "failed"):
        return TextReading("failed", error="the analysis process sent no valid text reading")
    return TextReading(**values)


_TEXT_FIELDS = tuple(f.name for f in fields(TextReading))


def main() -> None:
    """Entry point of a worker process, given its socket's descriptor and its address-space cap."""
    descriptor, address_space = int(sys.argv[1]), int(sys.argv[2])
    _worker_main(Connection(descriptor), address_space or None)


_PROJECT = str(Path(__file__).resolve().parents[3])
_WORKER_COMMAND = "from media_analysis.engine.image.guarded import main; main()"


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    connection: Connection


class GuardedAnalyser:
    """A set of worker processes that analyse one image each at a time, killed at ``timeout``."""

    def __init__(self, *, timeout: float, address_space: int | None) -> None:
        self.timeout = timeout
        self.address_space = address_space
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def analyse(self, content: bytes, options: Any) -> tuple[dict[str, Any], Thumbnail | None]:
        """The fields and thumbnail of the analysis of ``content`` by a worker, ``AnalysisTimeout`` past the limit."""
        fields, thumbnail, _ = self.analyse_with_text(content, options)
        return fields, thumbnail

    def analyse_with_text(
        self, content: bytes, options: Any
    ) -> tuple[dict[str, Any], Thumbnail | None, TextReading | None]:
        """``analyse``, and the text read in the picture when the options ask for it.

        A thumbnail that is not what was asked for (type, size, dimensions) makes the
        reply a failure: whatever the worker answers is untrusted.
        """
        worker = self._take()
        try:
            worker.connection.send((content, options))
            if not worker.connection.poll(self.timeout):
                self._kill(worker)
                raise AnalysisTimeout(
                    f"analysis ran past {self.timeout:g} s and was stopped", mime_type=None, size=len(content)
                )
            reply = json.loads(worker.connection.recv_bytes(_MAX_REPLY))
        except (EOFError, OSError, ValueError) as exc:
            self._kill(worker)
            code = worker.process.returncode
            raise CorruptImage(f"the analysis process ended ({code})", size=len(content)) from exc
        except BaseException:
            self._kill(worker)
            raise
        self._give_back(worker)
        if "fields" in reply:
            return reply["fields"], _reply_thumbnail(reply, options, len(content)), _reply_text(reply, options)
        if "failure" in reply:
            failure_type = _FAILURES.get(reply["failure"], CorruptImage)
            raise failure_type(str(reply["message"]), mime_type=reply.get("mime_type"), size=len(content))
        raise RuntimeError(str(reply.get("error")))

    def close(self) -> None:
        """Stop every idle worker (busy ones stop when their caller gives them back)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.connection.close()
            try:
                worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._kill(worker)

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.process.poll() is None:
                    return worker
                worker.connection.close()
        # The compiled k-means is compiled here if it has to be (the first time on a machine, for
        # tens of seconds), not in a worker that has START_TIMEOUT to get ready: workers load it.
        warm_up()
        ours, theirs = socket.socketpair()
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [_PROJECT, environment.get("PYTHONPATH")]))
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_COMMAND, str(theirs.fileno()), str(self.address_space or 0)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=environment,
            )
        finally:
            theirs.close()
        worker = _Worker(process, Connection(ours.detach()))
        try:
            ready = worker.connection.poll(START_TIMEOUT) and worker.connection.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self._kill(worker)
            raise RuntimeError(f"no analysis process started within {START_TIMEOUT:g} s")
        return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)

    @staticmethod
    def _kill(worker: _Worker) -> None:
        worker.process.kill()
        worker.process.wait()
        worker.connection.close()


_analysers: dict[tuple[float, int | None], GuardedAnalyser] = {}
_analysers_lock = threading.Lock()


def guarded_analyser(timeout: float, address_space: int | None) -> GuardedAnalyser:
    """The process's analyser for these limits (workers are kept between images)."""
    key = (timeout, address_space)
    with _analysers_lock:
        analyser = _analysers.get(key)
        if analyser is None:
            analyser = _analysers[key] = GuardedAnalyser(timeout=timeout, address_space=address_space)
        return analyser
