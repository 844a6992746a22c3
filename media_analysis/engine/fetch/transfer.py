"""Fetching: ``download`` a whole body (images), ``probe`` the first bytes (video/audio), hop by hop."""

from __future__ import annotations

import http.client
import re
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn, overload
from urllib.parse import urldefrag, urljoin

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError

from media_analysis.engine.av_probe import probe_av
from media_analysis.engine.errors import (
    DownloadError,
    DownloadTimeout,
    HttpStatusError,
    InvalidUrl,
    MediaFailure,
    Throttled,
    TooLarge,
    TooManyRedirects,
)
from media_analysis.engine.fetch.addresses import check_url
from media_analysis.engine.fetch.deadline import deadline_scope, silence_scope, time_left
from media_analysis.engine.fetch.hosts import host_key
from media_analysis.engine.fetch.policy import (
    REDIRECT_STATUSES,
    RETRY_AFTER_LIMIT,
    THROTTLING_STATUSES,
    Downloaded,
    DownloadPolicy,
    NotModified,
    Probed,
    Validators,
    _short,
)
from media_analysis.engine.fetch.spool import Spool, SpooledBody, SpoolWriter
from media_analysis.engine.sniff import sniff_mime

_READ_SIZE = 64 * 1024


def _media_type(header: str | None) -> str | None:
    if not header:
        return None
    value = header.split(";", 1)[0].strip().lower()
    return value or None


_SECONDS = re.compile(r"-?[0-9]+")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds, or None when absent or unreadable.

    Delay seconds or an HTTP date (``now``: the current time, for tests); a date in the past or a negative
    delay is 0, and any wait is cut to ``RETRY_AFTER_LIMIT``.
    """
    if value is None:
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        if text.startswith("-"):
            return 0.0
        # Past nine digits the wait is over the limit anyway (and int() of a huge header is refused).
        digits = text.lstrip("0") or "0"
        seconds = float(digits) if len(digits) <= 9 else RETRY_AFTER_LIMIT
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            # "-0000" (and a missing zone) reads as naive; HTTP dates are always GMT.
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_LIMIT)


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    seen = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kinds):
            return True
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return False


def _is_timeout(exc: BaseException) -> bool:
    # urllib3's NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError: not a timeout.
    return _caused_by(exc, (ReadTimeoutError, TimeoutError)) or (
        _caused_by(exc, (ConnectTimeoutError,)) and not _caused_by(exc, (NewConnectionError,))
    )


def _past_deadline() -> bool:
    # Whatever broke at the deadline (a reset, a half-read line), the deadline is what ended the download.
    left = time_left()
    return left is not None and left <= 0


def _failure_note(exc: BaseException, session: requests.Session, url: str) -> str:
    """The end of a failure message: attempts made (as the session's retry configuration allows) and the cause."""
    total: bool | int | None = None
    if _caused_by(exc, (MaxRetryError,)):
        try:
            adapter = session.get_adapter(url)
        except requests.exceptions.InvalidSchema:
            adapter = None
        # Only an HTTPAdapter carries a retry configuration.
        if isinstance(adapter, HTTPAdapter):
            total = adapter.max_retries.total
    attempts = f" after {total + 1} attempts" if isinstance(total, int) else ""
    reason: BaseException = exc
    for _ in range(8):  # unwrap requests -> MaxRetryError -> urllib3 error, boundedly
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException) and reason.args and isinstance(reason.args[0], BaseException):
            inner = reason.args[0]
        if not isinstance(inner, BaseException):
            break
        reason = inner
    return f"{attempts}: {reason}"


def _get(session: requests.Session, url: str, policy: DownloadPolicy, headers: dict[str, str]) -> requests.Response:
    try:
        return session.get(
            url,
            headers=headers,
            timeout=(policy.connect_timeout, policy.timeout),
            stream=True,
            allow_redirects=False,
        )
    except DownloadTimeout as exc:
        # Raised by the session when the deadline leaves no time for another attempt.
        raise DownloadTimeout(f"GET {_short(url)}: {exc}") from exc
    except MediaFailure:
        raise
    except requests.exceptions.InvalidURL as exc:
        raise InvalidUrl(f"GET {_short(url)}: invalid URL: {exc}") from exc
    except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
        note = _failure_note(exc, session, url)
        if _past_deadline():
            raise DownloadTimeout(f"GET {_short(url)}: no answer within the download deadline{note}") from exc
        if isinstance(exc, requests.exceptions.Timeout) or _is_timeout(exc):
            raise DownloadTimeout(f"GET {_short(url)} timed out{note}") from exc
        raise DownloadError(f"GET {_short(url)} failed{note}") from exc
    except (requests.exceptions.RequestException, ValueError, UnicodeError) as exc:
        raise DownloadError(f"GET {_short(url)} failed: {exc}") from exc


def _response_attempts(response: requests.Response) -> int:
    retries = getattr(response.raw, "retries", None)
    history = getattr(retries, "history", None) or ()
    return len(history) + 1


def _open(
    session: requests.Session,
    url: str,
    policy: DownloadPolicy,
    headers: dict[str, str],
    deadline: float,
    *,
    conditional: bool = False,
    keep_alive: bool = True,
) -> tuple[requests.Response, str, int]:
    """GET ``url``, following redirects hop by hop; return the final 2xx response (streaming), its URL, hop count.

    A hop to another host than ``url``'s asks for ``Connection: close`` (as every hop does without
    ``keep_alive``): a caller's per-host limit counts ``url``'s host, so no connection to another host may stay
    open after the download.

    With ``conditional`` (the headers carry validators), a 304 is returned too.
    Every hop gets the headers: a server that redirects ignores the validators
    (RFC 9110, 13.2.1), so only the final response can answer 304. A 304 to a
    request without validators is a status failure like any other.
    """
    current = urldefrag(url)[0]
    origin = host_key(current)
    closing = {**headers, "Connection": "close"}
    for hops in range(policy.max_redirects + 1):
        if time.monotonic() > deadline:
            raise DownloadTimeout(f"GET {_short(url)}: no answer within {policy.deadline:g} s")
        check_url(current, policy)
        same_host = keep_alive and (hops == 0 or host_key(current) == origin)
        response = _get(session, current, policy, headers if same_host else closing)
        status = response.status_code
        location = response.headers.get("Location")
        if status in REDIRECT_STATUSES and location:
            response.close()
            if hops >= policy.max_redirects:
                raise TooManyRedirects(f"GET {_short(url)}: more than {policy.max_redirects} redirects")
            try:
                current = urldefrag(urljoin(current, location.strip()))[0]
            except ValueError as exc:
                raise InvalidUrl(f"GET {_short(url)}: redirect to an invalid URL {_short(location)}: {exc}") from exc
            continue
        if status == 304 and conditional:
            return response, current, hops
        if not 200 <= status < 300:
            attempts = _response_attempts(response)
            content_type = _media_type(response.headers.get("Content-Type"))
            retry_after = response.headers.get("Retry-After")
            response.close()
            note = f" after {attempts} attempts" if attempts > 1 else ""
            if policy.defer_throttling and status in THROTTLING_STATUSES:
                wait = retry_after_seconds(retry_after)
                asked = f", Retry-After {wait:g} s" if wait is not None else ""
                raise Throttled(
                    f"GET {_short(current)} answered HTTP {status}{note}{asked}",
                    status=status,
                    retry_after=wait,
                    mime_type=content_type,
                )
            raise HttpStatusError(
                f"GET {_short(current)} answered HTTP {status}{note}", status=status, mime_type=content_type
            )
        return response, current, hops
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


class _Decoder:
    """Undo a Content-Encoding with a bounded output, whatever the compression ratio."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._zlib: Any = None
        self._pending = b""
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decode(self, data: bytes, room: int) -> bytes:
        """Decode ``data``, returning at most ``room`` bytes (more input than that is left pending)."""
        if self.encoding == "deflate" and self._zlib is None:
            self._pending += data
            if len(self._pending) < 2:
                return b""
            data, self._pending = self._pending, b""
            # "deflate" should be zlib-wrapped; some servers send a raw stream.
            wrapped = (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        try:
            return self._zlib.decompress(self._zlib.unconsumed_tail + data, max(room, 1))
        except zlib.error as exc:
            raise DownloadError(f"corrupt {self.encoding} content: {exc}") from exc

    def finish(self, room: int) -> bytes:
        if self._zlib is None:
            return self.decode(b"", room) if self._pending else b""
        if self._zlib.unconsumed_tail:
            return self.decode(b"", room)
        try:
            return self._zlib.flush()[: max(room, 1)]
        except zlib.error as exc:
            raise DownloadError(f"corrupt {self.encoding} content: {exc}") from exc


def _decoder_for(response: requests.Response) -> _Decoder | None:
    encodings = [e.strip().lower() for e in response.headers.get("Content-Encoding", "").split(",") if e.strip()]
    encodings = [e for e in encodings if e != "identity"]
    if not encodings:
        return None
    if len(encodings) == 1 and encodings[0] in ("gzip", "x-gzip", "deflate"):
        return _Decoder(encodings[0])
    raise DownloadError(f"unsupported Content-Encoding {', '.join(encodings)}")


class _Body:
    """The decoded body as it comes: pieces in memory, then, past the spool's threshold, a file."""

    def __init__(self, spool: Spool | None, on_bytes: Callable[[int], None] | None) -> None:
        # The pieces as they come, joined once at the end: a buffer grown by reallocation, with hundreds of
        # bodies being received at once, leaves the allocator free blocks of every size, and is copied once more.
        self.parts: list[bytes] = []
        self.size = 0
        self._in_memory = 0
        self._spool = spool
        self._writer: SpoolWriter | None = None
        self._on_bytes = on_bytes

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self._writer is None and self._spool is not None and self._in_memory + len(piece) > self._spool.threshold:
            self._start_file()
        if self._writer is not None:
            try:
                if self._writer.write(piece):
                    return
            except OSError:
                pass  # a disk full or failing costs the file, not the download
            # The spool's cap is reached (or its disk failed): this body goes on in memory, where the byte budget
            # counts it.
            self._back_to_memory()
        self.parts.append(piece)
        self._in_memory += len(piece)
        if self._on_bytes is not None:
            self._on_bytes(len(piece))

    def _start_file(self) -> None:
        assert self._spool is not None
        spool, self._spool = self._spool, None  # one file per body at most: once back in memory it stays there
        try:
            writer = SpoolWriter(spool)
        except OSError:
            return  # no file to be had (a disk full or failing): the body stays in memory
        try:
            written = writer.write(b"".join(self.parts))
        except OSError:
            written = False
        except BaseException:
            writer.abandon()
            raise
        if not written:
            writer.abandon()
            return
        self._writer = writer
        self.parts = []
        moved, self._in_memory = self._in_memory, 0
        if self._on_bytes is not None and moved:
            self._on_bytes(-moved)

    def _back_to_memory(self) -> None:
        assert self._writer is not None
        writer, self._writer = self._writer, None
        data = writer.back_to_memory()
        self.parts = [data]
        self._in_memory = len(data)
        if self._on_bytes is not None:
            self._on_bytes(len(data))

    def result(self) -> bytes | SpooledBody:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                return writer.finish()
            except BaseException:
                writer.abandon()
                raise
        return b"".join(self.parts)

    def abandon(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.abandon()


def _read_body(
    response: requests.Response,
    limit: int,
    deadline: float,
    url: str,
    *,
    truncate: bool,
    on_bytes: Callable[[int], None] | None = None,
    start_timeout: float = 0.0,
    spool: Spool | None = None,
    on_memory: Callable[[int], None] | None = None,
) -> bytes | SpooledBody:
    """Read at most ``limit`` bytes of decoded body; past it, raise ``TooLarge`` or (``truncate``) stop.

    The first bytes must come within ``start_timeout`` seconds (when shorter than the read timeout).
    With ``spool`` (never with ``truncate``), a body past the spool's threshold goes on into a file of it, and a
    ``SpooledBody`` is returned; the file is removed here if the download fails. ``on_memory`` is told how the
    decoded bytes held in memory change (up as pieces are kept, down when they move to the file).
    """
    decoder = _decoder_for(response)
    raw = response.raw
    body = _Body(None if truncate else spool, on_memory)
    size = 0
    received = 0
    started = False
    try:
        while True:
            if time.monotonic() > deadline:
                raise DownloadTimeout(f"GET {_short(url)}: body not received within the download deadline")
            # read1 returns what one socket read brings, so a trickling server is noticed between reads.
            if started:
                chunk = raw.read1(_READ_SIZE, decode_content=False)
            else:
                with silence_scope(start_timeout):
                    chunk = raw.read1(_READ_SIZE, decode_content=False)
                started = True
            if not chunk:
                if decoder is not None:
                    piece = decoder.finish(limit - size + 1)
                    size += len(piece)
                    if size > limit and not truncate:
                        raise TooLarge(f"GET {_short(url)}: body larger than {limit} bytes")
                    body.add(piece)
                break
            received += len(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
            if decoder is None:
                piece = chunk
            else:
                if received > limit and not truncate:
                    raise TooLarge(f"GET {_short(url)}: encoded body larger than {limit} bytes")
                piece = decoder.decode(chunk, limit - size + 1)
            size += len(piece)
            if size > limit and not truncate:
                raise TooLarge(f"GET {_short(url)}: body larger than {limit} bytes")
            body.add(piece)
            if truncate and size >= limit:
                # Enough: waiting for one more byte could cost a whole read timeout.
                break
    except BaseException as exc:
        body.abandon()
        if isinstance(exc, MediaFailure) or not isinstance(
            exc, (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError)
        ):
            raise
        _body_failure(exc, url, started, start_timeout)
    result = body.result()
    if isinstance(result, SpooledBody):
        return result
    return result[:limit] if truncate and size > limit else result


def _body_failure(exc: BaseException, url: str, started: bool, start_timeout: float) -> NoReturn:
    """Raise the failure a broken body read means (``exc``: a transport or decoding error)."""
    if _past_deadline():
        raise DownloadTimeout(f"GET {_short(url)}: body not received within the download deadline") from exc
    if _is_timeout(exc):
        if not started and start_timeout:
            raise DownloadTimeout(f"GET {_short(url)}: headers, then no body: {exc}") from exc
        raise DownloadTimeout(f"GET {_short(url)}: read timed out in the body: {exc}") from exc
    raise DownloadError(f"GET {_short(url)}: body interrupted: {exc}") from exc


def _declared_length(response: requests.Response) -> int | None:
    try:
        value = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _release(response: requests.Response) -> None:
    """Read the empty body of a 304 so that its connection goes back to the pool instead of being closed."""
    try:
        response.raw.read(1, decode_content=False)
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError):
        pass  # the connection is then closed with the response: nothing was lost


def _not_modified(response: requests.Response, url: str, final_url: str, started: float, redirects: int) -> NotModified:
    _release(response)
    return NotModified(
        url=url,
        final_url=final_url,
        validators=Validators.from_headers(response.headers),
        elapsed=time.monotonic() - started,
        redirects=redirects,
    )


@overload
def download(
    session: requests.Session,
    url: str,
    policy: DownloadPolicy,
    validators: None = None,
    *,
    truncate: bool = False,
    on_bytes: Callable[[int], None] | None = None,
    spool: Spool | None = None,
    on_memory: Callable[[int], None] | None = None,
    keep_alive: bool = True,
) -> Downloaded: ...


@overload
def download(
    session: requests.Session,
    url: str,
    policy: DownloadPolicy,
    validators: Validators,
    *,
    truncate: bool = False,
    on_bytes: Callable[[int], None] | None = None,
    spool: Spool | None = None,
    on_memory: Callable[[int], None] | None = None,
    keep_alive: bool = True,
) -> Downloaded | NotModified: ...


def download(
    session: requests.Session,
    url: str,
    policy: DownloadPolicy,
    validators: Validators | None = None,
    *,
    truncate: bool = False,
    on_bytes: Callable[[int], None] | None = None,
    spool: Spool | None = None,
    on_memory: Callable[[int], None] | None = None,
    keep_alive: bool = True,
) -> Downloaded | NotModified:
    """Fetch the whole body of ``url`` (at most ``policy.max_bytes`` decoded bytes).

    ``on_bytes`` is told the size of every piece of body received, as it arrives
    (a caller keeping a budget of bytes in memory counts them).
    With ``spool`` (not with ``truncate``), a body past the spool's threshold is kept in a file of it
    (``Downloaded.spooled``, ``content`` then empty), which the caller removes once done with it
    (``SpooledBody.discard``); a failed download leaves no file. ``on_memory`` is told, as they change, the
    decoded bytes of the body held in memory (negative when they move to the file).

    The declared content type is returned as seen; whether the bytes are an
    image is for the caller to decide (``media_analysis.engine.sniff``).
    A body over the cap fails as ``TooLarge``, unless ``truncate`` asks for
    its first ``policy.max_bytes`` bytes instead (``Downloaded.truncated``).
    With ``validators`` (of an earlier download of this URL) the request is
    conditional, and a 304 returns ``NotModified`` without reading a body.
    Without ``keep_alive`` every request asks for ``Connection: close``, so that none stays open in the session
    afterwards; with it, only those of hops to another host than ``url``'s do.
    """
    started = time.monotonic()
    conditional = bool(validators)
    headers = validators.request_headers() if validators else {}
    with deadline_scope(policy.deadline) as budget:
        response, final_url, redirects = _open(
            session, url, policy, headers, budget.ends_at, conditional=conditional, keep_alive=keep_alive
        )
        try:
            if response.status_code == 304:
                return _not_modified(response, url, final_url, started, redirects)
            content_type = _media_type(response.headers.get("Content-Type"))
            declared = _declared_length(response)
            if declared is not None and declared > policy.max_bytes and not truncate:
                raise TooLarge(
                    f"GET {_short(final_url)}: Content-Length {declared} over the {policy.max_bytes} bytes limit",
                    size=declared,
                    mime_type=content_type,
                )
            body = _read_body(
                response,
                policy.max_bytes,
                budget.ends_at,
                final_url,
                truncate=truncate,
                on_bytes=on_bytes,
                start_timeout=policy.body_start_timeout,
                spool=spool,
                on_memory=on_memory,
            )
        finally:
            response.close()
    spooled = body if isinstance(body, SpooledBody) else None
    content = body if isinstance(body, bytes) else b""
    return Downloaded(
        url=url,
        final_url=final_url,
        status=response.status_code,
        content_type=content_type,
        content=content,
        elapsed=time.monotonic() - started,
        redirects=redirects,
        truncated=truncate and len(content) >= policy.max_bytes,
        validators=Validators.from_headers(response.headers),
        spooled=spooled,
    )


def _range_total(content_range: str | None) -> int | None:
    # "bytes 0-1023/4096" -> 4096; "bytes 0-1023/*" -> unknown
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


@overload
def probe(session: requests.Session, url: str, policy: DownloadPolicy, validators: None = None) -> Probed: ...


@overload
def probe(
    session: requests.Session, url: str, policy: DownloadPolicy, validators: Validators
) -> Probed | NotModified: ...


def probe(
    session: requests.Session, url: str, policy: DownloadPolicy, validators: Validators | None = None
) -> Probed | NotModified:
    """Fetch only the first ``policy.probe_bytes`` of a video/audio file and read what they tell.

    ``validators`` make the request conditional as in ``download``. A 206 or
    200 carries the validators of the whole file (RFC 9110, 15.3.7), so those
    of a probe are those a later probe or download may send.
    """
    started = time.monotonic()
    headers = {
        "Range": f"bytes=0-{max(policy.probe_bytes, 1) - 1}",
        # Byte ranges of an encoded body are meaningless to the parsers.
        "Accept-Encoding": "identity",
    }
    conditional = bool(validators)
    if validators:
        headers.update(validators.request_headers())
    with deadline_scope(policy.deadline) as budget:
        response, final_url, redirects = _open(session, url, policy, headers, budget.ends_at, conditional=conditional)
        try:
            if response.status_code == 304:
                return _not_modified(response, url, final_url, started, redirects)
            content_type = _media_type(response.headers.get("Content-Type"))
            ranged = response.status_code == 206
            if ranged:
                size = _range_total(response.headers.get("Content-Range"))
            elif "Content-Encoding" not in response.headers:
                size = _declared_length(response)
            else:
                size = None
            # A server ignoring Range streams the whole file: read its first bytes, then hang up.
            head = _read_body(
                response,
                policy.probe_bytes,
                budget.ends_at,
                final_url,
                truncate=True,
                start_timeout=policy.body_start_timeout,
            )
            assert isinstance(head, bytes)  # no spool: a probe's head stays in memory
        finally:
            response.close()
    info = probe_av(head, size)
    sniffed = sniff_mime(head)
    return Probed(
        url=url,
        final_url=final_url,
        mime_type=info.mime_type or sniffed or content_type,
        size=size,
        head=head,
        duration=info.duration,
        width=info.width,
        height=info.height,
        content_type=content_type,
        ranged=ranged,
        validators=Validators.from_headers(response.headers),
    )
