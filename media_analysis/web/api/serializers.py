from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from media_analysis.jobs.progress import chunks_still_running
from media_analysis.models import AnalysisJob


class RecentFailureSerializer(serializers.Serializer):
    media_id = serializers.IntegerField()
    url = serializers.CharField()
    error_class = serializers.CharField()
    reason = serializers.CharField()


class AnalysisJobSerializer(serializers.ModelSerializer):
    land_name = serializers.CharField(source="land.name", read_only=True)
    requested_by = serializers.CharField(source="requested_by.get_username", read_only=True, default=None)
    processed = serializers.IntegerField(read_only=True)
    progress = serializers.FloatField(read_only=True)
    success_rate = serializers.FloatField(read_only=True, allow_null=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    throughput = serializers.FloatField(read_only=True, allow_null=True, help_text="Media per second")
    eta_seconds = serializers.FloatField(read_only=True, allow_null=True)
    recent_failures = serializers.SerializerMethodField()
    not_processed = serializers.SerializerMethodField(
        help_text="Media an ended job never reached (cancelled before their turn); 0 while it runs"
    )
    running_chunks = serializers.SerializerMethodField(
        help_text="Chunks of an ended job still running: its counts move until they end"
    )
    settled = serializers.SerializerMethodField(
        help_text="The job ended and no chunk of it is still running: the counts are final"
    )
    url = serializers.HyperlinkedIdentityField(view_name="analysisjob-detail")

    class Meta:
        model = AnalysisJob
        fields = [
            "id",
            "url",
            "land",
            "land_name",
            "requested_by",
            "status",
            "depth",
            "minrel",
            "media_types",
            "force",
            "retry_failed",
            "ocr",
            "total",
            "processed",
            "analysed",
            "reused",
            "unchanged",
            "failed",
            "skipped",
            "not_processed",
            "running_chunks",
            "settled",
            "progress",
            "success_rate",
            "chunks_total",
            "chunks_done",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "throughput",
            "eta_seconds",
            "error",
            "recent_failures",
        ]
        read_only_fields = fields

    def _running(self, job: AnalysisJob) -> int:
        # One count per job, whichever of the two fields asks first (a list serializes one job at a time).
        cached = getattr(self, "_running_chunks", None)
        if cached is None or cached[0] != job.pk:
            cached = (job.pk, chunks_still_running(job))
            self._running_chunks = cached
        return cached[1]

    def get_not_processed(self, job: AnalysisJob) -> int:
        return 0 if job.is_active else max(0, job.total - job.processed)

    def get_running_chunks(self, job: AnalysisJob) -> int:
        return self._running(job)

    def get_settled(self, job: AnalysisJob) -> bool:
        return not job.is_active and self._running(job) == 0

    @extend_schema_field(RecentFailureSerializer(many=True))
    def get_recent_failures(self, job: AnalysisJob) -> list[dict]:
        return list(job.recent_failures or [])
