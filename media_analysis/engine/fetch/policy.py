"""What a download may do (``DownloadPolicy``), what it may send (``Validators``) and what it returns.

A fetch returns ``Downloaded`` (a whole body), ``Probed`` (the first bytes of a
video or audio file) or, for a conditional request the server answered with
304, ``NotModified``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from media_analysis.engine.fetch.spool import SpooledBody

RETRY_STATUSES = (429, 500, 502, 503, 504)
# The statuses by which a server asks to be left alone for a while; see ``DownloadPolicy.defer_throttling``.
THROTTLING_STATUSES = (429, 503)
# Longest Retry-After taken from a server when the caller handles throttling: a longer wait is cut to this.
RETRY_AFTER_LIMIT = 3600.0
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class DownloadPolicy:
    timeout: float = 15.0  # read timeout: the longest silence between two bytes
    # The longest silence between a response's headers and the first bytes of its body (0: the read timeout).
    # A server that has sent its headers has its answer ready; one that then says nothing is far more often
    # stalled than slow, and waiting the whole read timeout for it holds the end of a job.
    body_start_timeout: float = 0.0
    connect_timeout: float = 5.0
    max_bytes: int = 10 * 1024 * 1024
    max_retries: int = 3
    backoff_factor: float = 0.5
    max_redirects: int = 5
    user_agent: str = "medianalyse/1.0"
    allow_private: tuple[str, ...] = ()  # host names, IP addresses or CIDR networks
    probe_bytes: int = 256 * 1024
    # Longest wait between two attempts, whether from the backoff or from Retry-After.
    backoff_max: float = 30.0
    # Wall-clock bound of one download: connecting, headers, body, every hop,
    # retry and wait (see fetch.deadline). A server that trickles one byte per
    # read timeout cannot hold a worker past it.
    deadline: float = 120.0
    # When set, 429 and 503 are not retried by the session: ``download`` and ``probe`` raise ``Throttled`` at
    # once, carrying the server's Retry-After, so that the caller pauses that host and tries the media again
    # later instead of holding a thread asleep. Other retries stay in the session. Build the session
    # (``build_session``) from a policy with the same flag.
    defer_throttling: bool = False

    def __post_init__(self) -> None:
        # Accept the comma-separated text of an environment variable as well as any sequence.
        entries = self.allow_private.split(",") if isinstance(self.allow_private, str) else self.allow_private
        object.__setattr__(self, "allow_private", tuple(e.strip() for e in entries if e and e.strip()))

    @classmethod
    def from_settings(cls, settings_obj: Any) -> DownloadPolicy:
        """Build from an object carrying ``MEDIA_ANALYSIS_*`` attributes (Django's settings or any namespace)."""
        # Every field has a plain default, so no entry is ``MISSING``.
        defaults: dict[str, Any] = {f.name: f.default for f in fields(cls)}
        names = {
            "timeout": "MEDIA_ANALYSIS_TIMEOUT",
            "body_start_timeout": "MEDIA_ANALYSIS_BODY_START_TIMEOUT",
            "connect_timeout": "MEDIA_ANALYSIS_CONNECT_TIMEOUT",
            "max_bytes": "MEDIA_ANALYSIS_MAX_FILE_SIZE",
            "max_retries": "MEDIA_ANALYSIS_MAX_RETRIES",
            "backoff_factor": "MEDIA_ANALYSIS_BACKOFF_FACTOR",
            "max_redirects": "MEDIA_ANALYSIS_MAX_REDIRECTS",
            "user_agent": "MEDIA_ANALYSIS_USER_AGENT",
            "allow_private": "MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS",
            "probe_bytes": "MEDIA_ANALYSIS_AV_PROBE_BYTES",
            "backoff_max": "MEDIA_ANALYSIS_BACKOFF_MAX",
            "deadline": "MEDIA_ANALYSIS_DOWNLOAD_DEADLINE",
        }
        values = {field: getattr(settings_obj, setting, defaults[field]) for field, setting in names.items()}
        values["allow_private"] = values["allow_private"] or ()
        return cls(**values)


# Longer values are dropped, not cut: a cut ETag never matches and a cut date
# means nothing. lands.models.Media stores them in columns of this length.
MAX_VALIDATOR_LENGTH = 255


@dataclass(frozen=True)
class Validators:
    """A response's ``ETag`` and ``Last-Modified``, kept to make the next request conditional.

    The values are the strings as the server sent them (a weak ETag keeps its
    ``W/``): a conditional request must echo them verbatim.
    """

    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)

    def request_headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers

    def updated_by(self, newer: Validators) -> Validators:
        """These validators refreshed by those of a 304, which may carry either, both or none."""
        return Validators(newer.etag or self.etag, newer.last_modified or self.last_modified)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Validators:
        return cls(_validator(headers.get("ETag")), _validator(headers.get("Last-Modified")))


def _validator(value: str | None) -> str | None:
    """A header value fit to be stored and sent back: no control characters, bounded, else none."""
    if value is None:
        return None
    cleaned = "".join(ch for ch in value if unicodedata.category(ch) != "Cc").strip()
    if not cleaned or len(cleaned) > MAX_VALIDATOR_LENGTH:
        return None
    return cleaned


@dataclass
class Downloaded:
    url: str
    final_url: str
    status: int
    content_type: str | None  # media type from the header, lower-case, without parameters
    content: bytes
    elapsed: float  # seconds, retries and redirects included
    redirects: int
    truncated: bool = False  # ``download(..., truncate=True)`` cut the body at the byte cap
    validators: Validators = Validators()  # the final response's ETag and Last-Modified
    # The body on disk, when it passed the spool's threshold (``content`` is then empty); its owner removes it.
    spooled: SpooledBody | None = None

    @property
    def size(self) -> int:
        """The body's size, in memory or on disk."""
        return self.spooled.size if self.spooled is not None else len(self.content)


@dataclass
class NotModified:
    """A conditional request answered 304: the stored bytes' values still hold; no body was read."""

    url: str
    final_url: str
    validators: Validators  # what the 304 carried (either may be missing)
    elapsed: float
    redirects: int
    status: int = 304


@dataclass
class Probed:
    url: str
    final_url: str
    mime_type: str | None
    size: int | None  # whole file, from Content-Range or Content-Length
    head: bytes
    duration: float | None
    width: int | None
    height: int | None
    content_type: str | None = None  # as the server declared it
    ranged: bool = False  # the server answered the Range request with 206
    validators: Validators = Validators()


def _short(url: str, limit: int = 200) -> str:
    return url if len(url) <= limit else url[: limit - 3] + "..."
