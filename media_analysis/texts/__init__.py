"""What is read from the texts in pictures (OCR): search, a land's frequent words and
phrases, a cluster's captions, the rows of the text exports.

The OCR step of a job writes ``MediaText`` and ``MediaWord`` rows; this package only
reads them. Words are those of ``media_analysis.engine.text.words``.
"""
