"""The failures of one media, with the stable code each is recorded under.

A ``MediaFailure`` carries an ``error_class``: a short, stable, low-cardinality code
stored on the media row, used as a metrics label and as an admin filter. The engine
raises them; the job batch records them on the row and never lets one escape a chunk.
"""

from __future__ import annotations


class MediaFailure(Exception):
    """One media could not be analysed; recorded on its row, never raised past a batch."""

    error_class = "error"
    retryable = False

    def __init__(self, message: str, *, mime_type: str | None = None, size: int | None = None) -> None:
        super().__init__(message)
        self.mime_type = mime_type
        self.size = size


class DownloadError(MediaFailure):
    error_class = "network"
    retryable = True


class DownloadTimeout(DownloadError):
    error_class = "timeout"


class HttpStatusError(DownloadError):
    error_class = "http_status"

    def __init__(self, message: str, *, status: int, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.status = status


class Throttled(HttpStatusError):
    """The server asked us to slow down (429 or 503); raised instead of waiting when throttling is deferred."""

    error_class = "throttled"

    def __init__(self, message: str, *, status: int, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, status=status, **kwargs)
        self.retry_after = retry_after


class TooLarge(DownloadError):
    error_class = "too_large"
    retryable = False


class RefusedAddress(DownloadError):
    """The URL's host (or a redirect's) resolves to an address the downloader may not reach."""

    error_class = "refused_address"
    retryable = False


class UnsupportedScheme(DownloadError):
    error_class = "unsupported_scheme"
    retryable = False


class InvalidUrl(DownloadError):
    """The URL (or a redirect's) cannot be parsed, or has no valid host or port: no request is made."""

    error_class = "invalid_url"
    retryable = False


class TooManyRedirects(DownloadError):
    error_class = "too_many_redirects"
    retryable = False


class NotAnImage(MediaFailure):
    """The server answered, but the content is not an image (HTML, JSON, SVG...)."""

    error_class = "not_an_image"


class UnsupportedFormat(MediaFailure):
    """An image in a format outside the allow-list of decodable formats; never decoded.

    The message names the format detected ("unsupported image format: DDS").
    """

    error_class = "unsupported_format"


class CorruptImage(MediaFailure):
    error_class = "corrupt_image"


class DecompressionBomb(MediaFailure):
    error_class = "decompression_bomb"


class TooComplex(MediaFailure):
    """More JPEG scans or frames than the caps allow: decoding or counting them would hold a worker."""

    error_class = "too_complex"


class AnalysisTimeout(MediaFailure):
    """The analysis ran past its time limit; the process doing it was ended."""

    error_class = "analysis_timeout"


ERROR_CLASSES: tuple[str, ...] = (
    "network",
    "timeout",
    "http_status",
    "throttled",
    "too_large",
    "refused_address",
    "unsupported_scheme",
    "too_many_redirects",
    "not_an_image",
    "unsupported_format",
    "corrupt_image",
    "decompression_bomb",
    "invalid_url",
    "too_complex",
    "analysis_timeout",
    "error",
)
