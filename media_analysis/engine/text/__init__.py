"""Text in pictures (OCR).

``read.read_text(picture, TextOptions) -> TextReading`` reads one decoded picture;
``tesseract.availability`` tells whether the engine can run here; ``words.words``
counts the words of a text. This package's root imports only the light modules.
"""

from media_analysis.engine.text.options import TextOptions, TextReading
from media_analysis.engine.text.words import words

INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-fra"

__all__ = ["INSTALL_HINT", "TextOptions", "TextReading", "words"]
