"""What a download may do (``DownloadPolicy``) and what it returns (``Downloaded``, ``Probed``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

RETRY_STATUSES = (429, 500, 502, 503, 504)
THROTTLE_STATUSES = (429, 503)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class DownloadPolicy:
    timeout: float = 15.0  # read timeout: the longest silence between two bytes
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
    # A 429 or 503 raises ``Throttled`` at once instead of being waited for and retried
    # here: the caller pauses the host for every download, not just this one.
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


@dataclass
class Downloaded:
    url: str
    final_url: str
    status: int
    content_type: str | None  # media type from the header, lower-case, without parameters
    content: bytes
    elapsed: float  # seconds, retries and redirects included
    redirects: int


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


def _short(url: str, limit: int = 200) -> str:
    return url if len(url) <= limit else url[: limit - 3] + "..."
