"""robots.txt rules: ``check_robots`` raises a ``MediaFailure`` for a URL the site disallows.

Without a cache (robots.txt not respected) every URL is allowed.
"""

from __future__ import annotations

from typing import Any


def check_robots(cache: Any, url: str) -> None:
    if cache is None:
        return
