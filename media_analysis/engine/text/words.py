"""The one word rule of the text in pictures: what a word is, for the stored words and for a search.

A word is a run of Unicode letters and digits, lower-cased, at least ``MIN_LENGTH``
characters long: OCR leaves stray single characters (a bullet read as "o", a
border as "l") that would otherwise top every count. Runs longer than
``MAX_LENGTH`` are noise (a barcode, a line of dots read as letters) and are
dropped, which also keeps every word within the stored column.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator, Sequence

MIN_LENGTH = 2
MAX_LENGTH = 64
# Letters and digits of any script: a word character that is not the underscore.
_WORD_RE = re.compile(r"[^\W_]+")


def tokens(text: str) -> Iterator[str]:
    """The words of ``text`` in reading order, repeats kept."""
    for match in _WORD_RE.finditer(text.lower()):
        word = match.group()
        if MIN_LENGTH <= len(word) <= MAX_LENGTH:
            yield word


def runs(text: str) -> Iterator[str]:
    """Every run of letters or digits of ``text``, lower-cased, whatever its length: the words of a quoted phrase."""
    return (match.group() for match in _WORD_RE.finditer(text.lower()))


def phrase_pattern(phrase: Sequence[str]) -> str:
    """A regular expression finding ``phrase`` (runs, lower-cased) as consecutive runs of one line of a text.

    Written in the common part of Python's ``re`` and PostgreSQL's advanced regular
    expressions, so that one pattern means the same on both, matched case-insensitively:
    each run stands whole (a letter, digit or nothing on either side would make it a
    longer run), and between two runs come only characters that are neither a letter,
    a digit nor a line break. Runs hold only letters and digits, so none needs escaping.
    """
    if not phrase or any(_WORD_RE.fullmatch(run) is None for run in phrase):
        raise ValueError(f"a phrase is one or more runs of letters or digits, got {phrase!r}")
    return "(^|\\W|_)" + "([^\\w\\n]|_)+".join(phrase) + "(\\W|_|$)"


def words(text: str) -> Counter[str]:
    """Each word of ``text`` and how often it occurs."""
    return Counter(tokens(text))


def phrases(text: str) -> Counter[str]:
    """Each two-word sequence of ``text`` (the words joined by a space) and how often it occurs."""
    sequence = list(tokens(text))
    return Counter(f"{first} {second}" for first, second in itertools.pairwise(sequence))


def normalised(text: str) -> str:
    """The text as its words alone, one space apart: two captions differing only in case,
    punctuation or line breaks read the same."""
    return " ".join(tokens(text))
