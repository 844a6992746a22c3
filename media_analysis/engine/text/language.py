"""Telling the language of a recognised text among the configured ones.

Tesseract, given several languages, labels each word with the model that read it
best; on short texts of words common to both, that label leans to the first
language. Function words decide better: a few of them are in almost every
sentence, and they differ between languages. Their count decides; Tesseract's
labels (weighted by letters) break ties and speak for texts without any.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from media_analysis.engine.text.words import words

FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "eng": frozenset(
        [
            "the",
            "of",
            "and",
            "to",
            "in",
            "is",
            "it",
            "that",
            "for",
            "on",
            "with",
            "as",
            "was",
            "are",
            "be",
            "this",
            "at",
            "by",
            "not",
            "you",
            "from",
            "or",
            "have",
            "an",
            "they",
            "we",
            "but",
            "his",
            "her",
            "all",
            "will",
            "one",
            "there",
            "what",
            "when",
            "who",
            "which",
            "their",
            "has",
            "more",
            "if",
            "no",
            "so",
            "up",
            "out",
            "do",
            "can",
            "about",
        ]
    ),
    "fra": frozenset(
        [
            "le",
            "la",
            "les",
            "de",
            "des",
            "du",
            "un",
            "une",
            "et",
            "est",
            "en",
            "que",
            "qui",
            "dans",
            "pour",
            "pas",
            "sur",
            "au",
            "aux",
            "avec",
            "ce",
            "cette",
            "il",
            "elle",
            "nous",
            "vous",
            "ils",
            "sont",
            "mais",
            "ou",
            "où",
            "par",
            "plus",
            "se",
            "ne",
            "sa",
            "son",
            "ses",
            "leur",
            "tout",
            "tous",
            "être",
            "été",
            "avoir",
            "à",
            "ça",
        ]
    ),
    "deu": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "ist",
            "nicht",
            "ein",
            "eine",
            "zu",
            "den",
            "von",
            "mit",
            "sich",
            "des",
            "auf",
            "für",
            "im",
            "dem",
            "sie",
            "es",
            "wir",
            "ich",
            "auch",
            "als",
            "an",
            "wie",
            "aus",
            "bei",
            "nach",
            "oder",
            "aber",
            "wenn",
            "noch",
            "nur",
            "ist",
            "sind",
        ]
    ),
    "spa": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "de",
            "del",
            "y",
            "en",
            "que",
            "un",
            "una",
            "es",
            "por",
            "con",
            "para",
            "no",
            "se",
            "su",
            "al",
            "lo",
            "como",
            "más",
            "pero",
            "sus",
            "le",
            "ya",
            "muy",
            "sin",
            "sobre",
            "también",
            "hay",
            "está",
            "son",
        ]
    ),
    "ita": frozenset(
        [
            "il",
            "lo",
            "la",
            "gli",
            "le",
            "di",
            "del",
            "della",
            "che",
            "e",
            "è",
            "un",
            "una",
            "per",
            "non",
            "con",
            "si",
            "da",
            "in",
            "sono",
            "ma",
            "come",
            "più",
            "anche",
            "questo",
            "nel",
            "alla",
            "ci",
            "ha",
        ]
    ),
    "por": frozenset(
        [
            "o",
            "a",
            "os",
            "as",
            "de",
            "do",
            "da",
            "dos",
            "das",
            "e",
            "que",
            "em",
            "um",
            "uma",
            "para",
            "com",
            "não",
            "por",
            "se",
            "na",
            "no",
            "mais",
            "como",
            "mas",
            "ao",
            "ele",
            "ela",
            "são",
            "foi",
        ]
    ),
}


def tell_language(text: str, labels: Iterable[tuple[str, int]], languages: tuple[str, ...]) -> str:
    """The configured language the text is in, or "" when nothing tells.

    ``labels``: (language Tesseract read a word with, its letters) for each word.
    """
    counts = words(text)
    hits = Counter(
        {
            lang: sum(n for word, n in counts.items() if word in FUNCTION_WORDS[lang])
            for lang in languages
            if lang in FUNCTION_WORDS
        }
    )
    votes: Counter[str] = Counter()
    for language, letters in labels:
        if language in languages:
            votes[language] += letters
    ranked = sorted(languages, key=lambda lang: (hits[lang], votes[lang]), reverse=True)
    if not ranked:
        return ""
    best = ranked[0]
    return best if hits[best] or votes[best] else ""
