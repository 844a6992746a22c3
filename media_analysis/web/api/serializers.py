from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

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
            "total",
            "processed",
            "analysed",
            "reused",
            "unchanged",
            "failed",
            "skipped",
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

    @extend_schema_field(RecentFailureSerializer(many=True))
    def get_recent_failures(self, job: AnalysisJob) -> list[dict]:
        return list(job.recent_failures or [])
