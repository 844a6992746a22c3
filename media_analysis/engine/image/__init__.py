"""Analysis of one downloaded image: ``analyse_image(bytes) -> ImageAnalysis``."""

from media_analysis.engine.image.analyse import DEFAULT_OPTIONS, AnalysisOptions, ImageAnalysis, analyse_image

__all__ = ["DEFAULT_OPTIONS", "AnalysisOptions", "ImageAnalysis", "analyse_image"]
