"""Analysis of one downloaded image: ``analyse_image(bytes) -> ImageAnalysis``."""

from media_analysis.engine.image.decode import (
    DEFAULT_OPTIONS,
    HASH_GRIDS,
    AnalysisOptions,
    ImageAnalysis,
    analyse_image,
    sniff_mime,
)

__all__ = ["DEFAULT_OPTIONS", "HASH_GRIDS", "AnalysisOptions", "ImageAnalysis", "analyse_image", "sniff_mime"]
