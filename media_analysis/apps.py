from django.apps import AppConfig


class MediaAnalysisConfig(AppConfig):
    name = "media_analysis"
    verbose_name = "Media analysis"
