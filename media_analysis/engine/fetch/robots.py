"""robots.txt: whether a site lets this user agent fetch a media URL.

``RobotsCache.allowed(url)`` fetches ``/robots.txt`` of the URL's scheme, host and port once (one fetch at a
time per site, however many threads ask), keeps the answer for ``ttl`` seconds and decides with the
standard library's ``urllib.robotparser``, matching the policy's user agent (its product token, before the
first ``/``). ``check_robots`` raises ``RobotsDisallowed`` for a URL the site disallows.

The fetch is an ordinary ``download``: every hop address-checked, at most five redirects, the policy's
deadline, and the first ``max_bytes`` of the file (RFC 9309 asks parsers to read at least 500 KiB; rules
past the cap are ignored, and a line cut by it is dropped rather than read as a shorter path).

What an unusual answer means, following RFC 9309 except for server errors:

* 2xx: the rules of the file; where several rules match a path, the longest wins and ``Allow`` wins a tie
  (RFC 9309's order, which ``urllib.robotparser`` alone would not follow: it takes the first in the file).
  Wildcards (``*`` inside a path, ``$``) are not understood by ``urllib.robotparser``: such rules match
  nothing, which errs towards fetching.
* 4xx other than 429 ("unavailable"), too many redirects, or a redirect to a place the downloader may not
  go (a private address, another scheme, an invalid URL): everything allowed, kept for ``ttl``.
* 5xx, 429, a timeout or a network failure ("unreachable"): RFC 9309 says to assume everything disallowed.
  Here everything is allowed and the answer kept only ``ERROR_TTL`` seconds before asking again. A
  disallowed media fails for good (``robots_disallowed`` is not retried), so the RFC's rule would turn one
  passing outage, or a site whose robots.txt is always broken, into media that can never be analysed.
  These are single files that a crawled page links to, not a crawl; an overloaded site that also refuses
  the media answers 429 or 503 to them, and the host gate then pauses it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import requests

from media_analysis.engine.errors import HttpStatusError, MediaFailure, RobotsDisallowed
from media_analysis.engine.fetch.policy import DownloadPolicy, _short
from media_analysis.engine.fetch.transfer import download

logger = logging.getLogger("medianalyse.robots")

# How long an unreachable robots.txt (5xx, 429, network failure) is taken as allowing everything.
ERROR_TTL = 60.0
# RFC 9309: follow at least five consecutive redirects.
ROBOTS_REDIRECTS = 5


@dataclass(frozen=True)
class _Rules:
    parser: RobotFileParser | None  # None: everything allowed
    expires_at: float
    note: str  # what the fetch found, for logs


def _origin(url: str) -> str | None:
    """``scheme://host:port`` of an http(s) URL, None for anything else."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return None
    if port is None:
        port = 443 if scheme == "https" else 80
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def _agent_token(user_agent: str) -> str:
    return user_agent.split("/", 1)[0].strip() or user_agent


def _longest_rule_first(parser: RobotFileParser) -> None:
    # urllib.robotparser applies the first rule of a group that matches; sorting each group's rules by
    # decreasing path length, Allow before Disallow on a tie, makes that the RFC 9309 winner.
    groups: list[Any] = list(getattr(parser, "entries", []))
    default = getattr(parser, "default_entry", None)
    if default is not None:
        groups.append(default)
    for group in groups:
        group.rulelines.sort(key=lambda line: (-len(line.path), not line.allowance))


def parse_robots(content: bytes, truncated: bool = False) -> RobotFileParser:
    """A parser holding the rules of ``content`` (``truncated``: the file went on past these bytes)."""
    if truncated:
        # The last line may be cut short: "Disallow: /private" read as "Disallow: /p" would refuse too much.
        content = content[: content.rfind(b"\n") + 1]
    text = content.decode("utf-8", errors="replace").removeprefix("\ufeff")
    parser = RobotFileParser()
    parser.parse(text.splitlines())
    _longest_rule_first(parser)
    return parser


class RobotsCache:
    """The robots.txt answers of every site asked about, each kept ``ttl`` seconds. Thread-safe.

    ``session``: a ``requests.Session`` from ``build_session``, or a callable returning one (called for each
    fetch; it should hand out a shared session rather than build one). One cache serves one process: sites
    are not shared between consumers, each fetches a site's robots.txt once per ``ttl``.
    """

    # Expired answers are forgotten when the table has grown this much since the last sweep.
    _sweep_floor = 1024

    def __init__(
        self,
        session: requests.Session | Callable[[], requests.Session],
        policy: DownloadPolicy,
        ttl: float = 3600.0,
        max_bytes: int = 512 * 1024,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self.policy = policy
        self.ttl = float(ttl)
        self.error_ttl = min(ERROR_TTL, self.ttl)
        self.user_agent = policy.user_agent
        self._fetch_policy = replace(policy, max_bytes=max_bytes, max_redirects=ROBOTS_REDIRECTS)
        self._clock = clock
        self._lock = threading.Lock()
        self._rules: dict[str, _Rules] = {}
        self._fetching: dict[str, threading.Event] = {}
        self._sweep_at = self._sweep_floor
        self.fetches = 0

    def allowed(self, url: str) -> bool:
        """Whether the site of ``url`` lets the policy's user agent fetch it (True for a URL it cannot place)."""
        origin = _origin(url)
        if origin is None:
            # Not an http(s) URL with a host: the download itself refuses it, with the right error.
            return True
        rules = self._rules_of(origin)
        return rules.parser is None or rules.parser.can_fetch(self.user_agent, url)

    def _rules_of(self, origin: str) -> _Rules:
        while True:
            with self._lock:
                rules = self._rules.get(origin)
                if rules is not None and rules.expires_at > self._clock():
                    return rules
                event = self._fetching.get(origin)
                fetching_here = event is None
                if event is None:
                    event = self._fetching[origin] = threading.Event()
                    self.fetches += 1
            if not fetching_here:
                # The fetch ends within the policy's deadline; the margin only guards against a stuck thread.
                event.wait(self._fetch_policy.deadline + 10)
                with self._lock:
                    rules = self._rules.get(origin)
                if rules is not None:
                    # Just fetched for this caller, even if a ttl of 0 has already expired it.
                    return rules
                continue
            try:
                rules = self._fetch(origin)
                with self._lock:
                    self._sweep()
                    self._rules[origin] = rules
            finally:
                with self._lock:
                    del self._fetching[origin]
                event.set()
            return rules

    def _fetch(self, origin: str) -> _Rules:
        url = origin + "/robots.txt"
        session = self._session if isinstance(self._session, requests.Session) else self._session()
        try:
            # Its connection is not kept: robots.txt is fetched within a slot of the site's per-host limit, whose
            # own download must be able to open the one connection the slot allows.
            result = download(session, url, self._fetch_policy, truncate=True, keep_alive=False)
        except HttpStatusError as exc:
            if 400 <= exc.status < 500 and exc.status != 429:
                return self._allow_all(url, self.ttl, f"unavailable: HTTP {exc.status}")
            return self._allow_all(url, self.error_ttl, f"unreachable: HTTP {exc.status}")
        except MediaFailure as exc:
            # Retryable: a timeout or network failure. Not retryable: the redirects lead nowhere allowed.
            ttl = self.error_ttl if exc.retryable else self.ttl
            return self._allow_all(url, ttl, f"{'unreachable' if exc.retryable else 'unavailable'}: {exc}")
        parser = parse_robots(result.content, result.truncated)
        return _Rules(parser, self._clock() + self.ttl, f"{len(result.content)} bytes")

    def _allow_all(self, url: str, ttl: float, note: str) -> _Rules:
        logger.info("%s %s: everything allowed for %g s", url, note, ttl)
        return _Rules(None, self._clock() + ttl, note)

    def _sweep(self) -> None:
        # Called with the lock held: drop expired answers once the table has doubled since the last sweep.
        if len(self._rules) < self._sweep_at:
            return
        now = self._clock()
        for origin in [origin for origin, rules in self._rules.items() if rules.expires_at <= now]:
            del self._rules[origin]
        self._sweep_at = max(self._sweep_floor, 2 * len(self._rules))


def check_robots(cache: RobotsCache | None, url: str) -> None:
    """Raise ``RobotsDisallowed`` when ``cache`` says the site of ``url`` disallows it; None: robots.txt ignored."""
    if cache is not None and not cache.allowed(url):
        origin = _origin(url) or url
        raise RobotsDisallowed(
            f"{origin}/robots.txt disallows {_short(url)} for {_agent_token(cache.user_agent)}",
        )
