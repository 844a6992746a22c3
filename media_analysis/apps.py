from typing import Any

from django.apps import AppConfig
from django.db.models.signals import pre_delete


class MediaAnalysisConfig(AppConfig):
    name = "media_analysis"
    verbose_name = "Media analysis"

    def ready(self) -> None:
        from lands.models import Land

        # A land's stored files go with it, unless another land's media reference them.
        pre_delete.connect(_land_deleted, sender=Land, dispatch_uid="media_analysis.forget_land_files")


def _land_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    from media_analysis.jobs.files import forget_land_files

    forget_land_files(instance.pk)
