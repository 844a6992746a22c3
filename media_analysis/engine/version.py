"""Which analysis produced a media's stored values.

Each media records the version of the analysis that computed its stored values, so a
job without ``force`` can take the media analysed by an older one. Bump
``ANALYSIS_VERSION`` whenever a stored value would come out different for the same
bytes (a hash computed another way, a new field that every media should have).

History:

* 0: the crawler's own analysis, imported from a MyWebIntelligence database.
* 1: this engine with hand-written perceptual-hash grids.
* 2: perceptual hashes computed by imagehash itself.
* 3: region hashes (regions.py) for framed and cropped copies; the other values are
  those of version 2, and a media of version 2 is still clustered by them.
* 4: region hashes of another layout (one-sided and two-sided cuts) after a frame trim
  that tolerates a picture whose edge has the frame's colour; the region hashes of
  version 3 are left out of clustering (the whole-image hashes still count).
* 5: dominant colours of large JPEGs (decoded at reduced scale) by the consensus
  k-means (colours.py), equivalent to the predecessor's group by group; every
  k-means compiled, whose float64 counts give the predecessor's percentages where
  the numpy float32 iterations were off by a pixel.

The text read in a picture (the OCR step) has a version of its own, ``TEXT_VERSION``,
recorded on each reading: a job with ``ocr`` reads again the pictures read by an older
one. Bump it whenever the step would read different text from the same picture (the
likelihood test, the pre-processing, the recognition's settings).

* 1: the readings made before the version was recorded (every earlier step).
* 2: over a photo, only blocks holding a row of lines as long as a line of text are
  read (the test looks again at half scale before skipping a picture); a block is
  given up after readings that keep nothing, the picture after two such blocks; once
  a picture has read a photo's texture as scraps three times, its blocks over the
  photo are read in their tones only, not in grey levels.
"""

from __future__ import annotations

CRAWLER_VERSION = 0
ANALYSIS_VERSION = 5
TEXT_VERSION = 2
