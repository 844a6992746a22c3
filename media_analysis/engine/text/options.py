"""What the text step is asked (``TextOptions``) and what it answers (``TextReading``).

Kept apart from the recognition, whose imports (scipy.ndimage, the Tesseract binding)
take a second: the image analysis and its worker processes load those only when a
job reads text.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextOptions:
    languages: str = "fra+eng"
    tessdata: str = ""  # folder of the .traineddata files; empty searches the usual ones
    threshold: float = 2.0  # likelihood score (per mille) from which a picture is recognised
    timeout: float = 20.0  # seconds of recognition per picture
    max_side: int = 2500  # long side of the picture given to Tesseract (larger ones are reduced)
    min_confidence: float = 40.0  # words read with less confidence are dropped as noise


@dataclass(frozen=True)
class TextReading:
    """The fields of ``media_analysis.models.MediaText``, under the same names."""

    status: str  # "text" | "empty" | "skipped" | "failed"
    text: str = ""
    language: str = ""
    confidence: float | None = None
    text_area: float | None = None
    likelihood: float | None = None
    test_ms: float | None = None
    recognise_ms: float | None = None
    engine: str = ""
    error: str = ""
