"""Safe HTTP fetching of media: bounded, retried, and kept away from internal networks.

Pure package: nothing here imports Django; the settings arrive as a
``DownloadPolicy`` (``DownloadPolicy.from_settings(settings)``).

One ``requests.Session`` (``build_session``) is shared by every download thread.
Its adapter retries connection errors, read errors and 429/500/502/503/504
statuses with exponential backoff, jitter and ``Retry-After``; with
``DownloadPolicy.defer_throttling`` it leaves 429 and 503 to the caller, which
gets ``Throttled`` (and the server's ``Retry-After``) at once. ``download``
fetches a whole body (images), ``probe`` only the first bytes (video/audio).
Given the ``Validators`` (ETag, Last-Modified) of an earlier fetch, either
sends a conditional request and returns ``NotModified`` when the server
answers 304.
Both end within ``DownloadPolicy.deadline``, waits and retries included
(``fetch.deadline``).

Address safety (server-side request forgery). Before every hop the URL's host
is resolved with ``socket.getaddrinfo`` and refused if any of its addresses is
loopback, private, link-local, multicast, reserved, unspecified or otherwise
not globally routable, unless ``DownloadPolicy.allow_private`` allows it.
Redirects are followed here, one hop at a time, so that each hop is checked.
DNS rebinding (a name answering a public address to the check and a private one
to the connection) is handled by the session's connections themselves: they
resolve the host once more, vet every address again and connect to the vetted
address literally, so the socket can only reach an address that passed the
check. Residual risks: a keep-alive connection is reused without resolving
again (it was vetted when opened); proxies are not supported (the session
ignores proxy environment variables, since a proxy would connect on our behalf
to addresses we never see).
"""

from media_analysis.engine.fetch.policy import Downloaded, DownloadPolicy, NotModified, Probed, Validators
from media_analysis.engine.fetch.session import build_session
from media_analysis.engine.fetch.transfer import download, probe

__all__ = [
    "DownloadPolicy",
    "Downloaded",
    "NotModified",
    "Probed",
    "Validators",
    "build_session",
    "download",
    "probe",
]
