"""The words of a recognised text, as search, the land page and the exports count them."""

from __future__ import annotations

import re
from collections import Counter

# Runs of letters or digits in any script: ``\w`` without the underscore.
_WORD = re.compile(r"[^\W_]+")
MIN_LENGTH = 2


def words(text: str) -> Counter[str]:
    """Lower-cased runs of unicode letters or digits of at least two characters, with their counts."""
    return Counter(w for w in _WORD.findall(text.lower()) if len(w) >= MIN_LENGTH)
